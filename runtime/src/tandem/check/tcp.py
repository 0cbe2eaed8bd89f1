"""TCP_CHECK: the real server is up when a TCP connection to it completes within connect_timeout."""

from __future__ import annotations

from tandem.check.net import tcp_connect
from tandem.check.result import CheckResult, Outcome, Stage, bounded
from tandem.lb.params import CheckParams


async def run(check: CheckParams) -> CheckResult:
    async def probe(stage: Stage) -> Outcome:
        (await tcp_connect(check)).close()
        return Outcome(reason="connected")

    return await bounded(check.connect_timeout, probe)
