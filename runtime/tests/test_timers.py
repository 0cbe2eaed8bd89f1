"""The one timer queue on a fake clock: every item fires once at its latest deadline, in order."""

from __future__ import annotations

import heapq
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tandem.timers import TimerQueue


class FakeClock:
    """``now``/``call_at`` like an event loop's, advanced by hand; counts the loop timers it holds."""

    def __init__(self) -> None:
        self.time = 0.0
        self._handles: list[tuple[float, int, FakeHandle]] = []
        self._order = itertools.count()
        self.scheduled = 0  # call_at calls

    def now(self) -> float:
        return self.time

    def call_at(self, when: float, callback) -> FakeHandle:
        handle = FakeHandle(when, callback)
        self.scheduled += 1
        heapq.heappush(self._handles, (when, next(self._order), handle))
        return handle

    def pending(self) -> int:
        return sum(not h.cancelled for _, _, h in self._handles)

    def advance(self, to: float) -> None:
        """Run the handles due by ``to`` at their own times (as a loop does), then stop at ``to``."""
        while self._handles and self._handles[0][0] <= to:
            when, _, handle = heapq.heappop(self._handles)
            if handle.cancelled:
                continue
            self.time = max(self.time, when)
            handle.cancelled = True
            handle.callback()
        self.time = max(self.time, to)


class FakeHandle:
    def __init__(self, when: float, callback) -> None:
        self.when, self.callback, self.cancelled = when, callback, False

    def cancel(self) -> None:
        self.cancelled = True


def make(clock: FakeClock, deadlines: dict, fired: list, failing: frozenset = frozenset()) -> TimerQueue:
    def fire(item):
        fired.append((item, clock.now()))
        deadlines[item] = None  # one-shot unless re-armed
        if item in failing:
            raise RuntimeError(item)

    return TimerQueue(now=clock.now, call_at=clock.call_at, deadline=deadlines.get, fire=fire)


times = st.integers(min_value=0, max_value=1000).map(lambda ms: ms / 100)
# a scenario: (item, new deadline or None) changes, each made at a time, then arm(item)
changes = st.lists(
    st.tuples(times, st.integers(min_value=0, max_value=5), st.none() | times),
    min_size=1,
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(changes)
def test_each_item_fires_once_at_its_last_deadline_never_early(scenario):
    clock, deadlines, fired = FakeClock(), {}, []
    queue = make(clock, deadlines, fired)
    expected: dict[int, float] = {}  # items still to fire: their deadline
    seen: list[tuple[int, float]] = []
    for at, item, deadline in sorted(scenario, key=lambda change: change[0]):
        clock.advance(at)
        for name, fired_at in fired[len(seen) :]:  # what fired while time ran to `at`
            assert expected.pop(name) == pytest.approx(fired_at)
        seen = list(fired)
        # a deadline already passed fires at the next wake-up: model it as "now"
        if deadline is not None:
            deadline = max(deadline, clock.now())
        deadlines[item] = deadline
        queue.arm(item)
        if deadline is None:
            expected.pop(item, None)
        else:
            expected[item] = deadline
    clock.advance(10_000)
    rest = fired[len(seen) :]
    assert [at for _, at in fired] == sorted(at for _, at in fired)  # in deadline order
    assert {name: at for name, at in rest} == pytest.approx(expected)
    assert len(rest) == len(expected)  # once each
    assert len(queue) == 0 and clock.pending() == 0  # nothing left armed


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.integers(0, 20), times, min_size=1), st.frozensets(st.integers(0, 20)))
def test_a_failing_callback_does_not_stop_the_others(deadlines, failing):
    clock, fired = FakeClock(), []
    deadlines = dict(deadlines)
    expected = dict(deadlines)
    queue = make(clock, deadlines, fired, failing)
    for item in list(deadlines):
        queue.arm(item)
    errors = 0
    while clock.pending():  # a loop's exception handler logs and carries on
        try:
            clock.advance(10_000)
        except RuntimeError:
            errors += 1
    assert dict(fired) == expected
    assert [at for _, at in fired] == sorted(at for _, at in fired)  # in deadline order
    assert errors == len(failing & expected.keys())


def test_moved_deadlines_cost_no_loop_timers():
    """A thousand deadlines pushed later keep one loop timer; moved entries are requeued lazily."""
    clock, fired = FakeClock(), []
    deadlines = {n: 1.0 for n in range(1000)}
    queue = make(clock, deadlines, fired)
    for item in deadlines:
        queue.arm(item)
    before = clock.scheduled
    for step in range(1, 10):  # every item hears "later" before its timer is due
        clock.advance(step * 0.5)
        for item in deadlines:
            deadlines[item] = step * 0.5 + 1.0
            queue.arm(item)
    # woken at 1.0, 1.5, ..., 4.5: one re-arm per wake-up, not one per item
    assert fired == [] and clock.scheduled - before == 8
    clock.advance(100)
    assert len(fired) == 1000 and {at for _, at in fired} == {5.5}
