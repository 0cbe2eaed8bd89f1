"""TCP_CHECK: the real server is up when a TCP connection to it completes within connect_timeout.

A :class:`~tandem.check.engine.Probe` (no task per check); ``run`` is the same as a coroutine."""

from __future__ import annotations

from tandem.check.engine import Done, Probe, run_probe
from tandem.check.result import CheckResult
from tandem.lb.params import CheckParams


class TcpProbe(Probe):
    __slots__ = ()

    def connected(self) -> None:
        self.close()
        self.finished(True, "connected")


def start(check: CheckParams, done: Done) -> TcpProbe:
    probe = TcpProbe(check, done)
    probe.connect("connecting")
    return probe.started()


async def run(check: CheckParams) -> CheckResult:
    return await run_probe(start, check)
