"""Shared pieces of the checker tests: CheckParams for a target, a raw asyncio HTTP server for odd
answers, a self-signed certificate made with the openssl CLI, and running a coroutine inside a lab
namespace (the event loop's thread enters the namespace, so its sockets live there)."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import socket
import subprocess
import threading
from collections.abc import Awaitable, Callable
from ipaddress import ip_address
from pathlib import Path

from tandem.config.model import Checker
from tandem.lb.params import CheckParams

CLONE_NEWNET = 0x40000000


def params(checker: Checker, port: int | None, address: str = "127.0.0.1", **values) -> CheckParams:
    values.setdefault("connect_timeout", 2.0)
    return CheckParams(id="test", checker=checker, address=ip_address(address), port=port, **values)


def closed_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on (bound, then closed)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def serve(handler: Handler, host: str = "127.0.0.1", ssl=None):
    """A TCP server on an ephemeral port running ``handler`` per connection; yields the port."""
    server = await asyncio.start_server(handler, host, 0, ssl=ssl)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1):
                await server.wait_closed()


def http_answer(status: int, body: bytes, extra: str = "", length: bool = True) -> Handler:
    """A handler answering every request with ``status`` and ``body``; records request heads."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            handle.requests.append(head)
            fields = f"Content-Length: {len(body)}\r\n" if length else ""
            writer.write(f"HTTP/1.0 {status} Whatever\r\n{fields}{extra}\r\n".encode() + body)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    handle.requests = []
    return handle


def self_signed(directory: Path, name: str = "web.test", password: str | None = None) -> tuple[Path, Path]:
    """A certificate for ``name`` and its key (encrypted with ``password`` if given), by the openssl CLI."""
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    protect = ["-passout", f"pass:{password}"] if password else ["-nodes"]
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", *protect,
         "-days", "1", "-subj", f"/CN={name}", "-addext", f"subjectAltName=DNS:{name}",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def in_netns(netns: str, coroutine_factory: Callable[[], Awaitable]):
    """Run ``asyncio.run(coroutine_factory())`` on a thread that entered network namespace ``netns``."""
    outcome: dict = {}

    def body() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open(f"/run/netns/{netns}", os.O_RDONLY)
        try:
            if libc.setns(fd, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns failed")
        finally:
            os.close(fd)
        try:
            outcome["value"] = asyncio.run(coroutine_factory())
        except BaseException as error:  # re-raised in the caller
            outcome["error"] = error

    thread = threading.Thread(target=body)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
