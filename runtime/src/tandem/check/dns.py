"""DNS_CHECK: a UDP query (``type``, ``name``; default SOA for ``.``) answered with rcode NOERROR.

keepalived's rule: any response with our query id, the QR bit and rcode 0 is success (an empty
answer section too); other datagrams are ignored until connect_timeout. The query is built with
dnspython (an optional dependency: ``pip install tandem[dns]``); the socket is ours, so bindto,
bind_port and bind_if apply. The port defaults to 53.
"""

from __future__ import annotations

import asyncio
import socket

from tandem.check.net import make_socket, target
from tandem.check.result import CheckFailed, CheckResult, Outcome, Stage, bounded
from tandem.config.model import DnsCheck
from tandem.lb.params import CheckParams

DEFAULT_PORT = 53
QR = 0x8000


async def run(check: CheckParams) -> CheckResult:
    checker: DnsCheck = check.checker  # type: ignore[assignment]
    try:
        import dns.message
        import dns.rcode
    except ImportError:
        return CheckResult(False, "DNS_CHECK needs the Python package dnspython (tandem[dns])", 0.0)

    async def probe(stage: Stage) -> Outcome:
        loop = asyncio.get_running_loop()
        query = dns.message.make_query(checker.name, checker.type)  # recursion desired, as keepalived
        with make_socket(check, socket.SOCK_DGRAM) as sock:
            await loop.sock_connect(sock, target(check, check.port or DEFAULT_PORT))
            await loop.sock_sendall(sock, query.to_wire())
            stage.name = "waiting for the answer"
            while True:
                data = await loop.sock_recv(sock, 65535)
                if len(data) < 12 or int.from_bytes(data[:2]) != query.id:
                    continue
                flags = int.from_bytes(data[2:4])
                if not flags & QR:
                    continue
                if flags & 0xF:
                    raise CheckFailed(
                        f"DNS answer {dns.rcode.to_text(flags & 0xF)} for {checker.name} {checker.type}"
                    )
                answers = int.from_bytes(data[6:8])
                return Outcome(reason=f"NOERROR, {answers} answer record(s)")

    return await bounded(check.connect_timeout, probe)
