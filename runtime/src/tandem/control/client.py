"""Blocking client of the control socket (what tandemctl and Ansible modules use)."""

from __future__ import annotations

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
        for line in stream:
            response = json.loads(line)
            if not response.get("ok"):
                raise ControlError(response.get("error", "unknown error"))
            yield response


def request(path: str, cmd: str, timeout: float = 30.0, **args):
    """Send one request and return its ``result``."""
    with _connect(path, timeout) as sock:
        sock.sendall(json.dumps({"cmd": cmd, **args}).encode() + b"\n")
        for response in _lines(sock):
            return response["result"]
    raise ControlError("tandemd closed the connection without answering")


def watch(path: str) -> Iterator[dict]:
    """Transitions as they happen, until the daemon goes away."""
    with _connect(path, None) as sock:
        sock.sendall(b'{"cmd": "watch"}\n')
        for response in _lines(sock):
            if "event" in response:
                yield response["event"]
