"""What the control interface speaks: one JSON object per line each way.

Request:  {"cmd": "status" | "stats" | "reload" | "maintenance" | "watch", ...arguments}; with virtual
          servers also "lb_status", "lb_stats" and "drain" (virtual_server, real_server, mode)
Response: {"ok": true, "result": ...} or {"ok": false, "error": "..."}; ``watch`` answers with
{"ok": true, "event": {...}} lines until the client goes away.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class InstanceStatus:
    name: str
    state: str  # INIT, BACKUP, MASTER, FAULT
    priority: int  # effective
    base_priority: int  # configured
    master: str | None  # address of the current master (ours when MASTER)
    vips: tuple[str, ...]
    since: float  # unix time of the last transition
    reason: str  # of the last transition, e.g. "master down", "fault: script chk_web"
    maintenance: str | None = None  # e.g. "lower_by 50", "force_backup"


UNCLAIMED = "(unclaimed)"  # the stats row of received packets no instance claimed (its drops only)


@dataclass(frozen=True, slots=True)
class InstanceStats:
    name: str
    adverts_sent: int
    adverts_received: int
    priority_zero_sent: int
    priority_zero_received: int
    became_master: int
    transitions: int
    drops: dict[str, int] = field(default_factory=dict)  # by reason


@dataclass(frozen=True, slots=True)
class CheckStatus:
    """One health check of a real server and its last result."""

    id: str
    kind: str  # HTTP_GET, TCP_CHECK, ...
    up: bool
    ok: bool | None  # the last result (None: not run yet)
    reason: str  # of the last result ("" before the first)
    latency: float | None  # seconds the last check took
    runs: int
    failures: int


@dataclass(frozen=True, slots=True)
class RealServerStatus:
    id: str  # "[address]:port"
    state: str  # UP or DOWN (every check up: UP)
    weight: int  # effective weight (a dynamic check may have changed it)
    configured_weight: int
    plane_weight: int | None  # the weight the data plane has now (None: not in it)
    maintenance: str | None  # "drain" or "remove" (tandemctl drain)
    reason: str  # what decided its last change
    checks: tuple[CheckStatus, ...] = ()


@dataclass(frozen=True, slots=True)
class VirtualServerStatus:
    name: str  # "[VIP]:port", "FWM n", "group NAME"
    services: tuple[str, ...]  # "TCP [203.0.113.100]:80", ...
    quorum: str  # UP or DOWN
    live_weight: int
    quorum_weight: int  # the configured quorum (after keepalived's clamping)
    sorry_server: str | None  # "[address]:port" while it answers, else None
    suspended: bool  # ha_suspend: checks paused while no VIP is local
    real_servers: tuple[RealServerStatus, ...] = ()


@dataclass(frozen=True, slots=True)
class LbStatus:
    plane: str  # the active data plane: "nftables" or "ipvs"
    virtual_servers: tuple[VirtualServerStatus, ...] = ()


@dataclass(frozen=True, slots=True)
class RealServerStats:
    virtual_server: str
    real_server: str
    checks_run: int
    checks_failed: int
    connections: int  # the plane's counters, summed over the virtual server's services
    packets: int
    bytes: int


@dataclass(frozen=True, slots=True)
class LbStats:
    plane: str
    checks_run: int
    checks_failed: int
    checks_running: int
    checks_waiting: int  # due, waiting for a free slot (the concurrency bound)
    checks_bound: int  # the bound now (it adapts to the event loop's lag: tandem.lb.service)
    lateness_p50: float  # seconds between when recent checks were due and when they started
    lateness_p99: float
    plane_changes: int  # transactions applied
    plane_errors: int
    real_servers: tuple[RealServerStats, ...] = ()


@dataclass(frozen=True, slots=True)
class ReloadOutcome:
    ok: bool
    errors: tuple[str, ...] = ()  # "file:line: message" when the new config was refused
    summary: dict[str, list[str]] = field(default_factory=dict)  # unchanged/changed/... → names


@dataclass(frozen=True, slots=True)
class TransitionEvent:
    instance: str
    old: str
    new: str
    reason: str
    priority: int
    time: float  # unix time


class Subscription:
    """A watcher's bounded queue of transitions; a watcher that falls behind is cut off, never waited for."""

    LIMIT = 1000

    def __init__(self, broadcaster: Broadcaster) -> None:
        self._broadcaster = broadcaster
        self._queue: asyncio.Queue[TransitionEvent | None] = asyncio.Queue(self.LIMIT)

    def _offer(self, event: TransitionEvent) -> None:
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.end()

    def close(self) -> None:
        self._broadcaster.subscribers.discard(self)

    def end(self) -> None:
        """No more events: the iteration ends (the watcher went away)."""
        self.close()
        if self._queue.full():  # the oldest event makes room for the end
            self._queue.get_nowait()
        self._queue.put_nowait(None)

    async def __aiter__(self) -> AsyncIterator[TransitionEvent]:
        while (event := await self._queue.get()) is not None:
            yield event


class Broadcaster:
    """Fan-out of transitions to every ``watch``: the daemon calls :meth:`publish` on each Transition."""

    def __init__(self) -> None:
        self.subscribers: set[Subscription] = set()

    def publish(self, event: TransitionEvent) -> None:
        for subscription in list(self.subscribers):
            subscription._offer(event)

    def subscribe(self) -> Subscription:
        subscription = Subscription(self)
        self.subscribers.add(subscription)
        return subscription


class Handler(Protocol):
    """What the daemon plugs into the control server (and the metrics endpoint)."""

    def status(self) -> list[InstanceStatus]: ...

    def stats(self) -> list[InstanceStats]: ...

    async def reload(self) -> ReloadOutcome: ...

    async def maintenance(self, instance: str | None, lower_by: int, force_backup: bool) -> list[str]:
        """Apply to ``instance`` (None: all); lower_by 0 and not force_backup clears. Returns names affected;
        raises KeyError for an unknown instance."""
        ...

    def subscribe(self) -> Subscription: ...


class LbHandler(Protocol):
    """The load balancer's side (``tandem.lb.service.LbService``): served as lb_status, lb_stats, drain."""

    def status(self) -> LbStatus: ...

    def stats(self) -> LbStats: ...

    async def reload(self) -> ReloadOutcome: ...

    def drain(self, virtual_server: str, real_server: str, mode: str) -> RealServerStatus:
        """mode: drain (weight 0), remove, restore; KeyError for an unknown virtual or real server."""
        ...
