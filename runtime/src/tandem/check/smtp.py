"""SMTP_CHECK: a 220 greeting, ``HELO helo_name`` answered 250, then QUIT, within connect_timeout.

helo_name defaults to keepalived's ``smtpchecker.keepalived.org``; the port to 25 when neither the
checker nor the real server has one.
"""

from __future__ import annotations

import asyncio

from tandem.check.net import tcp_connect
from tandem.check.result import CheckFailed, CheckResult, Outcome, Stage, bounded
from tandem.config.model import SmtpCheck
from tandem.lb.params import CheckParams

DEFAULT_HELO = "smtpchecker.keepalived.org"
DEFAULT_PORT = 25
LINE_LIMIT = 4096  # longest reply line accepted


async def reply(reader: asyncio.StreamReader) -> tuple[int, str]:
    """One (possibly multi-line) SMTP reply: its code and last line."""
    while True:
        try:
            line = await reader.readuntil(b"\n")
        except asyncio.IncompleteReadError:
            raise CheckFailed("the server closed the connection") from None
        except asyncio.LimitOverrunError:
            raise CheckFailed(f"reply line longer than {LINE_LIMIT} bytes") from None
        text = line.decode("ascii", "replace").rstrip("\r\n")
        if len(text) < 3 or not text[:3].isdigit():
            raise CheckFailed(f"not an SMTP reply: {text[:60]!r}")
        if text[3:4] != "-":
            return int(text[:3]), text


async def run(check: CheckParams) -> CheckResult:
    checker: SmtpCheck = check.checker  # type: ignore[assignment]

    async def probe(stage: Stage) -> Outcome:
        sock = await tcp_connect(check, check.port or DEFAULT_PORT)
        reader, writer = await asyncio.open_connection(sock=sock, limit=LINE_LIMIT)
        try:
            stage.name = "waiting for the greeting"
            code, text = await reply(reader)
            if code != 220:
                raise CheckFailed(f"greeting {text[:80]!r} (expected 220)")
            stage.name = "HELO"
            writer.write(f"HELO {checker.helo_name or DEFAULT_HELO}\r\n".encode())
            code, text = await reply(reader)
            if code != 250:
                raise CheckFailed(f"HELO answered {text[:80]!r} (expected 250)")
            stage.name = "QUIT"
            writer.write(b"QUIT\r\n")
            await reply(reader)
        finally:
            writer.transport.abort()
        return Outcome(reason="SMTP 220/250")

    return await bounded(check.connect_timeout, probe)
