"""The one timer queue: many items' deadlines behind a single event-loop timer.

Theory of operation
-------------------
Every item (a VRRP instance, a health check) has at most one deadline, which the owner reports
through ``deadline(item)`` whenever asked; :meth:`TimerQueue.arm` is called after anything that may
have changed it. The queue is a heap of (wake time, tie-break, item) and one ``call_at`` handle for
the earliest wake time, so a thousand items cost one loop timer, not a thousand.

Deadlines that move *later* (a VRRP backup hears its master; a check is rescheduled) are not
touched when they move: the item's heap entry is left where it is and only moved when it reaches
the front, together with every other moved entry before the first one still valid. Deadlines that
move *earlier* get a new entry at once; the older one is recognised as stale (it is not the item's
live wake time) and dropped when it surfaces. An item whose deadline is ``None`` is forgotten.

When the handle fires, every due item's ``fire(item)`` runs in deadline order; ``fire`` is expected
to call :meth:`arm` again if the item has a new deadline. A ``fire`` that raises does not stop the
queue: the handle is re-armed in a ``finally`` and the exception propagates to the event loop's
exception handler (which logs it); the next wake runs the remaining due items.

Time is injected: ``now()`` and ``call_at(when, callback) -> handle`` (the handle has ``cancel()``),
``loop.time``/``loop.call_at`` in production and a fake clock in tests, so the queue is tested
without sleeping.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Hashable
from typing import Generic, Protocol, TypeVar

T = TypeVar("T", bound=Hashable)


class Handle(Protocol):
    def cancel(self) -> None: ...


class TimerQueue(Generic[T]):
    """Wakes each item at ``deadline(item)`` by calling ``fire(item)``; see the module docstring."""

    def __init__(
        self,
        *,
        now: Callable[[], float],
        call_at: Callable[[float, Callable[[], None]], Handle],
        deadline: Callable[[T], float | None],
        fire: Callable[[T], None],
    ) -> None:
        self._now, self._call_at, self._deadline, self._fire = now, call_at, deadline, fire
        self._heap: list[tuple[float, int, T]] = []
        self._wake: dict[T, float] = {}  # each item's live heap entry
        self._tie_break = itertools.count()
        self._handle: Handle | None = None
        self._handle_at: float | None = None

    def __len__(self) -> int:
        return len(self._wake)

    def wake_time(self, item: T) -> float | None:
        """When the queue will next look at ``item`` (at or before its deadline), or None."""
        return self._wake.get(item)

    def arm(self, item: T) -> None:
        """Make sure the queue wakes ``item`` by its deadline (a live entry that wakes earlier will do)."""
        wanted = self._deadline(item)
        if wanted is None:
            self._wake.pop(item, None)
            return
        current = self._wake.get(item)
        if current is not None and current <= wanted:
            return
        self._wake[item] = wanted
        heapq.heappush(self._heap, (wanted, next(self._tie_break), item))
        if self._handle_at is None or wanted < self._handle_at:
            self._schedule(wanted)

    def discard(self, item: T) -> None:
        """Forget ``item`` (its heap entry is dropped lazily)."""
        self._wake.pop(item, None)

    def wake(self) -> None:
        """Run what is due now (what the loop handle does when it fires)."""
        if self._handle is not None:
            self._handle.cancel()
        self._handle = self._handle_at = None
        try:
            self._run_due()
        finally:  # a callback that failed must not stop the others
            heap = self._heap
            if heap and self._handle_at != heap[0][0]:
                self._schedule(heap[0][0])

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._handle = self._handle_at = None
        self._heap.clear()
        self._wake.clear()

    def _run_due(self) -> None:
        heap, live = self._heap, self._wake
        while heap:
            when, _, item = heap[0]
            if live.get(item) != when:  # superseded by an earlier entry, or disarmed
                heapq.heappop(heap)
                continue
            wanted = self._deadline(item)
            if wanted is None:
                heapq.heappop(heap)
                del live[item]
            elif wanted > when:  # the deadline moved on
                heapq.heapreplace(heap, (wanted, next(self._tie_break), item))
                live[item] = wanted
            elif when <= self._now():
                heapq.heappop(heap)
                del live[item]
                self._fire(item)
            else:
                break

    def _schedule(self, when: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._handle_at = when
        self._handle = self._call_at(when, self.wake)
