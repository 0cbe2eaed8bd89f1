"""UDP_CHECK: send ``payload`` on a connected UDP socket, as keepalived's check_udp.c.

Without require_reply, silence until connect_timeout is success and an ICMP error (port or host
unreachable, seen by the connected socket) is failure. With require_reply a reply is needed; when
require_reply has data, the reply's length must lie in min_reply_length..max_reply_length (default
0..255) and its first bytes must equal the data (only as many as both have: keepalived's prefix rule).
"""

from __future__ import annotations

import asyncio
import socket

from tandem.check.net import make_socket, target
from tandem.check.result import CheckFailed, CheckResult, Outcome, Stage, bounded
from tandem.config.model import UdpCheck
from tandem.lb.params import CheckParams

DEFAULT_MAX_REPLY = 255


def judge(checker: UdpCheck, reply: bytes) -> Outcome:
    expected = checker.require_reply
    if expected:
        low, high = checker.min_reply_length or 0, checker.max_reply_length
        high = DEFAULT_MAX_REPLY if high is None else high
        if not low <= len(reply) <= high:
            raise CheckFailed(f"reply of {len(reply)} bytes (expected {low}..{high})")
        common = min(len(reply), len(expected))
        if reply[:common] != expected[:common]:
            raise CheckFailed(f"reply {reply[:16].hex()} does not start with {expected[:16].hex()}")
    return Outcome(reason=f"reply of {len(reply)} bytes")


async def run(check: CheckParams) -> CheckResult:
    checker: UdpCheck = check.checker  # type: ignore[assignment]
    limit = max(checker.max_reply_length or 0, DEFAULT_MAX_REPLY) + 1

    async def probe(stage: Stage) -> Outcome:
        loop = asyncio.get_running_loop()
        with make_socket(check, socket.SOCK_DGRAM) as sock:
            await loop.sock_connect(sock, target(check))
            await loop.sock_sendall(sock, checker.payload or b"")
            stage.name = "waiting for a reply"
            try:
                async with asyncio.timeout(check.connect_timeout):
                    reply = await loop.sock_recv(sock, limit)
            except ConnectionRefusedError:
                raise CheckFailed("ICMP port unreachable") from None
            except TimeoutError:
                if checker.require_reply is not None:
                    raise CheckFailed(f"no reply within {check.connect_timeout:g} s") from None
                return Outcome(reason="no ICMP error")
        return judge(checker, reply)

    # the probe times itself out (silence can be success); the outer bound only backs it up
    return await bounded(check.connect_timeout + 1, probe)
