"""One entry per checker kind: ``RUNNERS[kind].run(check)`` performs one check.

A runner finishes within the check's connect_timeout (MISC_CHECK: misc_timeout), never raises and
never blocks the event loop; the result says why a check failed in words an operator can act on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from tandem.lb.params import CheckParams


@dataclass(frozen=True, slots=True)
class CheckResult:
    ok: bool
    reason: str  # e.g. "HTTP 503 (expected 200)", "connect timeout after 3.0 s", "ok"
    latency: float  # seconds the check took
    weight: int | None = None  # MISC_CHECK misc_dynamic / FILE_CHECK: the new weight of the real server


class Runner(Protocol):
    async def run(self, check: CheckParams) -> CheckResult: ...


RUNNERS: dict[str, Runner] = {}
