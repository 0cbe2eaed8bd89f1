"""PING_CHECK: one ICMP (IPv4) or ICMPv6 echo answered within connect_timeout.

An unprivileged ICMP datagram socket is used where the kernel allows it (net.ipv4.ping_group_range);
else a raw socket (needs CAP_NET_RAW), connected to the target so only its packets arrive, with the
echo matched by identifier, sequence and a random payload.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import socket

from tandem.check.net import make_socket, target
from tandem.check.result import CheckResult, Outcome, Stage, bounded
from tandem.lb.params import CheckParams

ECHO_REQUEST = {4: 8, 6: 128}
ECHO_REPLY = {4: 0, 6: 129}
PROTO = {4: socket.IPPROTO_ICMP, 6: socket.IPPROTO_ICMPV6}
_sequence = itertools.count(1)


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(int.from_bytes(data[i : i + 2]) for i in range(0, len(data), 2))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def echo_request(version: int, ident: int, sequence: int, payload: bytes) -> bytes:
    """An echo request; the kernel fills in ICMPv6 checksums (and those of datagram ICMP sockets)."""
    header = bytes([ECHO_REQUEST[version], 0, 0, 0]) + ident.to_bytes(2) + sequence.to_bytes(2)
    if version == 4:
        header = header[:2] + checksum(header + payload).to_bytes(2) + header[4:]
    return header + payload


def open_socket(check: CheckParams) -> tuple[socket.socket, bool]:
    """(socket, is_raw): a datagram ICMP socket if permitted, else a raw one."""
    version = check.address.version
    try:
        return make_socket(check, socket.SOCK_DGRAM, PROTO[version]), False
    except PermissionError:
        return make_socket(check, socket.SOCK_RAW, PROTO[version]), True


def is_reply(packet: bytes, version: int, raw: bool, ident: int, sequence: int, payload: bytes) -> bool:
    if raw and version == 4:  # a raw IPv4 socket hands over the IP header too
        packet = packet[(packet[0] & 0x0F) * 4 :] if packet else b""
    return (
        len(packet) >= 8
        and packet[0] == ECHO_REPLY[version]
        and (not raw or int.from_bytes(packet[4:6]) == ident)  # datagram sockets own their identifier
        and int.from_bytes(packet[6:8]) == sequence
        and packet[8:] == payload
    )


async def run(check: CheckParams) -> CheckResult:
    async def probe(stage: Stage) -> Outcome:
        loop = asyncio.get_running_loop()
        version = check.address.version
        ident, sequence = os.getpid() & 0xFFFF, next(_sequence) & 0xFFFF
        payload = os.urandom(16)
        sock, raw = open_socket(check)
        with sock:
            sock.connect(target(check, 0))  # no handshake: only sets the peer (and filters what arrives)
            await loop.sock_sendall(sock, echo_request(version, ident, sequence, payload))
            stage.name = "waiting for the echo reply"
            while not is_reply(await loop.sock_recv(sock, 2048), version, raw, ident, sequence, payload):
                pass
        return Outcome(reason="echo reply")

    return await bounded(check.connect_timeout, probe)
