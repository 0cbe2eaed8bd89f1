"""The deterministic simulation (``simulation.py``) in short form, and proof that it catches real bugs:
each injected bug below makes it fail, reproducibly, with a trace shrunk to a few lines."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
import simulation
from tandem.vrrp.instance import Instance, RemoveVips

SHORT = 500  # sequences in the suite (the long form, --long, runs 10,000)


def test_random_fault_sequences_keep_every_invariant():
    totals = simulation.explore(range(SHORT))
    assert totals["failure"] is None, simulation._report_failure(totals["failure"])
    assert totals["sequences"] == SHORT
    assert totals["transitions"] > SHORT  # the faults do move mastership around


def test_groups_reach_64_routers_and_every_fault_kind_is_drawn():
    scenarios = [simulation.scenario(seed) for seed in range(SHORT)]
    assert max(len(s.routers) for s in scenarios) == simulation.MAX_ROUTERS
    assert {f.kind for s in scenarios for f in s.faults} == set(simulation.KINDS)
    assert {s.version for s in scenarios} == {2, 3}


def test_a_seed_reproduces_its_run_exactly():
    s = simulation.scenario(7)
    first, second = simulation.run(s, keep_trace=True)[0], simulation.run(s, keep_trace=True)[0]
    assert first.trace == second.trace and first.events == second.events


def master_ignores_higher_priority(original):
    """After a partition heals, the second master never yields."""

    def buggy(self, src, advert, now):
        return [] if advert.priority > self.priority else original(self, src, advert, now)

    return buggy


def removes_vips_before_priority_zero(original):
    def buggy(self, new, now, reason):
        return sorted(original(self, new, now, reason), key=lambda action: not isinstance(action, RemoveVips))

    return buggy


def backup_never_preempts(original):
    def buggy(self, src, advert, now):
        params = self.params
        self.params = replace(params, preempt=False)
        try:
            return original(self, src, advert, now)
        finally:
            self.params = params

    return buggy


@pytest.mark.parametrize(
    ("method", "bug", "message"),
    [
        ("_master_hears", master_ignores_higher_priority, "masters .* once stable"),
        ("_leave", removes_vips_before_priority_zero, "advertised priority 0 without its VIPs"),
        ("_backup_hears", backup_never_preempts, "has priority .*, the highest reachable"),
    ],
)
def test_an_injected_bug_fails_reproducibly_and_shrinks(monkeypatch, method, bug, message):
    monkeypatch.setattr(Instance, method, bug(getattr(Instance, method)))
    failure = simulation.explore(range(SHORT))["failure"]
    assert failure is not None
    seed, violation, small, (_, small_violation) = failure
    assert violation.args == simulation.run(simulation.scenario(seed))[1].args  # the seed reproduces it
    assert small_violation is not None
    assert len(small.routers) <= 3 and len(small.faults) <= 2
    assert re.search(message, str(small_violation))
