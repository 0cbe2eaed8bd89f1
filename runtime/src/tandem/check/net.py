"""Sockets for checkers: bound to bindto/bind_port/bind_if as configured, connected without blocking."""

from __future__ import annotations

import asyncio
import functools
import socket
from ipaddress import IPv6Address

from tandem.config.model import IPAddress
from tandem.lb.params import CheckParams


def target(check: CheckParams, port: int | None = None) -> tuple:
    """The socket address of the check's target (an IPv6 link-local address gets bind_if's scope)."""
    address, port = check.address, check.port if port is None else port
    if port is None:
        raise OSError(0, "no port to check (set connect_port, or a port on the real or virtual server)")
    if isinstance(address, IPv6Address):
        scope = socket.if_nametoindex(check.bind_if) if check.bind_if and address.is_link_local else 0
        return (address_text(address), port, 0, scope)
    return (address_text(address), port)


@functools.lru_cache(maxsize=65536)
def address_text(address: IPAddress) -> str:
    """``str(address)``, remembered (formatting an address costs more than a check's other steps)."""
    return str(address)


def make_socket(check: CheckParams, kind: int, proto: int = 0) -> socket.socket:
    """A non-blocking socket of the target's family, bound as the check says."""
    family = socket.AF_INET6 if check.address.version == 6 else socket.AF_INET
    sock = socket.socket(family, kind | socket.SOCK_NONBLOCK, proto)  # non-blocking without an ioctl
    try:
        if check.bind_if:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, check.bind_if.encode())
        if check.bindto is not None or check.bind_port:
            if check.bind_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            local = (
                str(check.bindto) if check.bindto is not None else ("::" if family == socket.AF_INET6 else "")
            )
            sock.bind((local, check.bind_port or 0))
    except BaseException:
        sock.close()
        raise
    return sock


async def tcp_connect(check: CheckParams, port: int | None = None) -> socket.socket:
    """A connected TCP socket to the check's target; the caller closes it."""
    sock = make_socket(check, socket.SOCK_STREAM)
    try:
        await asyncio.get_running_loop().sock_connect(sock, target(check, port))
    except BaseException:
        sock.close()
        raise
    return sock
