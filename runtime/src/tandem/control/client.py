"""Blocking client of the control socket (what tandemctl and Ansible modules use)."""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Iterator


class ControlError(Exception):
    """The daemon answered with an error, or could not be reached."""


def _connect(path: str, timeout: float | None) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(path)
    except OSError as error:
        sock.close()
        raise ControlError(f"cannot reach tandemd at {path}: {error.strerror}") from error
    return sock


def _lines(sock: socket.socket) -> Iterator[dict]:
    with sock.makefile("rb") as stream:
        try:
            for line in stream:
                response = json.loads(line)
                if not response.get("ok"):
                    raise ControlError(response.get("error", "unknown error"))
                yield response
        except OSError as error:  # reset by the daemon (e.g. it closed us for being slow)
            raise ControlError(f"tandemd closed the connection: {error.strerror or error}") from error


def _send(sock: socket.socket, line: bytes) -> None:
    """Send a request; a daemon that refused the connection ("too many control connections") may have
    closed it already: its answer is still there to read, so the broken pipe is not the error."""
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        sock.sendall(line)


def request(path: str, cmd: str, timeout: float = 30.0, **args):
    """Send one request and return its ``result``."""
    with _connect(path, timeout) as sock:
        _send(sock, json.dumps({"cmd": cmd, **args}).encode() + b"\n")
        for response in _lines(sock):
            return response["result"]
    raise ControlError("tandemd closed the connection without answering")


def watch(path: str) -> Iterator[dict]:
    """Transitions as they happen, until the daemon goes away."""
    with _connect(path, None) as sock:
        _send(sock, b'{"cmd": "watch"}\n')
        for response in _lines(sock):
            if "event" in response:
                yield response["event"]
