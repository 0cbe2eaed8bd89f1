"""One entry per checker kind: ``RUNNERS[kind].run(check)`` performs one check.

A runner finishes within the check's connect_timeout (MISC_CHECK: misc_timeout; HTTP_GET/SSL_GET:
connect_timeout per url), never raises and never blocks the event loop; the result says why a check
failed in words an operator can act on. This is the one place that lists the kinds Tandem checks.
"""

from __future__ import annotations

from typing import Protocol

from tandem.check import dns, file, http, misc, ping, smtp, tcp, udp
from tandem.check.result import CheckResult
from tandem.lb.params import CheckParams

__all__ = ["RUNNERS", "CheckResult", "Runner"]


class Runner(Protocol):
    async def run(self, check: CheckParams) -> CheckResult: ...


RUNNERS: dict[str, Runner] = {
    "TCP_CHECK": tcp,
    "HTTP_GET": http,
    "SSL_GET": http,
    "MISC_CHECK": misc,
    "SMTP_CHECK": smtp,
    "DNS_CHECK": dns,
    "PING_CHECK": ping,
    "UDP_CHECK": udp,
    "FILE_CHECK": file,
}
