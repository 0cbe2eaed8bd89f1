"""LbService: the load balancer running, a thin asyncio shell around the sans-IO :class:`Balancer`.

Theory of operation
-------------------
Decisions are the Balancer's (:mod:`tandem.lb.realserver`); this module only carries them out:

- **checks**: every check's deadline (``Balancer.deadline``) sits in one :class:`~tandem.timers.TimerQueue`.
  When one is due, ``Balancer.begin`` hands over its parameters and the check runs through
  ``RUNNERS[kind]`` (:mod:`tandem.check.registry`): TCP_CHECK and HTTP_GET as probes stepped by
  callbacks, the other kinds as a task each (:func:`tandem.check.engine.start_check`). At most
  ``bound`` run at once; a due check beyond that waits in a FIFO for a free slot (counted in
  ``stats().checks_waiting``). A runner is bounded by its own timeout, so a black-holed real
  server holds one slot for connect_timeout and delays no other check. Its result goes to
  ``Balancer.result``. The bound adapts (:func:`next_bound`): when the event loop lags and never
  idles (the checker is CPU-bound: more checks are due than its core can run) it is halved, so
  the checks in flight finish within their timeouts and the others wait (lateness) instead of many
  timing out together and taking healthy servers out; otherwise it grows back to ``max_running``
  (a black hole costs no CPU, so it never shrinks the bound; a loop late because the machine ran
  something else still idles, and keeps its bound).
- **actions**: ``RunCheck`` re-arms the timer queue; ``RunScript`` queues the script on a
  :class:`~tandem.notify.notifier.ScriptQueue` (no shell, script user and security as for VRRP's
  notify scripts); ``SmtpAlert`` goes to the :class:`~tandem.notify.mail.Mailer` of global_defs;
  ``RealServerChanged``/``WeightChanged``/``QuorumChanged`` are logged and mark the plane dirty;
  real-server and quorum changes are also lines on notify_fifo / lvs_notify_fifo (keepalived's format).
- **plane**: after any change (results, drain, reload, VIP events) ``Balancer.services()`` is applied to
  the data plane once, at the end of the current loop iteration, so changes arriving together are
  one transaction; after a costly transaction the next waits a little (``APPLY_SHARE``), so a big table
  under churn cannot take the loop from the checks, and the heap's freed pages go back to the
  system (:func:`release_freed_memory`). A refused change (PlaneError) is logged and retried every
  ``PLANE_RETRY`` s.
- **ha_suspend**: where a virtual server has it, an :class:`~tandem.lb.vips.AddressMonitor` reports
  whether its addresses are local (``Balancer.vip_local``).
- **reload**: a config that does not load is refused and the running one kept (as the VRRP Service
  does); otherwise ``Balancer.update`` keeps every unchanged check's state and schedule.

Time and the check runners are injected (``now``/``call_at``, ``runners``), so the logic is tested on
a fake clock; the plane is injected too (default: ``global_defs { tandem_lb_plane }``).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import logging
import random
import resource
from collections.abc import Callable

from tandem.check.engine import cancel_checks, start_check
from tandem.check.result import CheckResult
from tandem.config import ConfigSource
from tandem.config.model import Config
from tandem.control.protocol import (
    CheckStatus,
    LbStats,
    LbStatus,
    RealServerStats,
    RealServerStatus,
    ReloadOutcome,
    VirtualServerStatus,
)
from tandem.daemon.configfile import load_off_loop
from tandem.daemon.runners import cancel, watched
from tandem.lb.params import CheckParams, lb_params, lb_timeouts
from tandem.lb.plane import DataPlane, PlaneError
from tandem.lb.realserver import (
    Action,
    Balancer,
    QuorumChanged,
    RealServerChanged,
    RealServerState,
    RunCheck,
    RunScript,
    SmtpAlert,
    VirtualServerState,
    WeightChanged,
)
from tandem.notify.fifo import NotifyFifo
from tandem.notify.mail import Mailer, mailer_from_global_defs
from tandem.notify.notifier import ScriptQueue
from tandem.notify.scripts import ScriptPolicy

log = logging.getLogger("tandem.lb")

MAX_RUNNING = 2000  # checks in flight at once (each holds a socket or a process)
MIN_RUNNING = 64  # the bound never goes below this (see next_bound)
LAG_PERIOD = 0.1  # seconds between samples of the event loop's lag
LAG_LIMIT = 0.05  # a lag beyond this, while the loop is busy, means the checker is CPU-bound
BUSY_LIMIT = 0.9  # ... busy: the loop ran or waited to run this share of the time (never idle)
PLANE_RETRY = 1.0  # seconds between attempts to apply a state the plane refused
APPLY_SHARE = 2.0  # after a transaction of d seconds, the next one waits until d × this after its end
LATENESS_SAMPLES = 4096  # recent check start latenesses kept for stats' percentiles
DRAIN_TIMEOUT = 15.0  # notify scripts and mails still queued at stop get this long
TRIM_AFTER = 0.02  # seconds: a plane transaction at least this costly is followed by malloc_trim


class LbService:
    """The running load balancer of one config file (see the module docstring)."""

    def __init__(
        self,
        source: ConfigSource,
        config: Config,
        *,
        plane: DataPlane | None = None,
        runners: dict | None = None,
        now: Callable[[], float] | None = None,
        call_at: Callable | None = None,
        watch_addresses: bool = True,
        max_running: int = MAX_RUNNING,
        rand: Callable[[], float] = random.random,
        plane_switch: Callable[[DataPlane, str], DataPlane | None] | None = None,
        around_reload: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
        outside_realtime: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
    ) -> None:
        self.source, self.config = source, config  # source: where reloads read the config
        self.around_reload = around_reload  # each reload runs inside it (the child's scheduling)
        # the plane's transactions run inside it: with checker_rt_priority, normal scheduling for
        # them (they can take longer than checker_rlimit_rttime without blocking)
        self.outside_realtime = outside_realtime
        self._plane_switch = plane_switch  # None: tandem.lb.planes.switch_plane
        self.plane = plane
        self._runners = runners
        self._now, self._call_at = now, call_at
        self._watch_addresses = watch_addresses
        self.max_running = max_running
        self.bound = max_running
        self._sampler: asyncio.Task | None = None
        self._rand = rand
        self.balancer: Balancer | None = None
        self._tasks: dict[str, object] = {}  # running checks by id (what start_check returned)
        self._waiting: collections.deque[tuple[str, CheckParams, float]] = collections.deque()
        self._lateness: collections.deque[float] = collections.deque(maxlen=LATENESS_SAMPLES)
        self._applied: tuple | None = None  # what the plane holds (None: nothing applied yet)
        self._apply_handle: asyncio.Handle | asyncio.TimerHandle | None = None
        self._apply_cost = self._applied_at = 0.0  # the last transaction's duration and end (loop time)
        self._background: list[asyncio.Task] = []
        self._reload_lock = asyncio.Lock()
        self.checks_run = self.checks_failed = 0
        self.plane_changes = self.plane_errors = 0
        self.started = False

    # --- life cycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        from tandem.timers import TimerQueue

        loop = asyncio.get_running_loop()
        if self._runners is None:
            from tandem.check.registry import RUNNERS

            self._runners = RUNNERS
        self._now = self._now or loop.time
        self._call_at = self._call_at or loop.call_at
        _raise_file_limit(self.max_running)
        if self.plane is None:
            from tandem.lb.planes import choose_plane

            self.plane = choose_plane(self.config.global_defs.tandem_lb_plane)
        log.info("load balancing on the %s plane", self.plane.name)
        self._set_timeouts(self.config)
        self.queue = TimerQueue(
            now=self._now, call_at=self._call_at, deadline=self._deadline, fire=self._fire
        )
        self._open_notifications(self.config)
        self.balancer = Balancer(lb_params(self.config), rand=self._rand)
        self._handle(self.balancer.start(self._now()))
        self._apply_now()  # the table exists before the first check runs
        self._watch(self.config)
        self._sampler = watched(asyncio.ensure_future(self._sample_lag()))
        self.started = True
        log.info(
            "load balancing %d virtual server(s), %d check(s)",
            len(self.balancer.virtual_servers),
            len(self.balancer.check_ids()),
        )

    async def stop(self) -> None:
        """Stop checking; omega's scripts run; the plane removes what it made (its table)."""
        if not self.started:
            return
        self.started = False
        await cancel([*self._background, *([self._sampler] if self._sampler else [])])
        self._background = []
        await cancel_checks(list(self._tasks.values()))
        self._tasks.clear()
        self._waiting.clear()
        self.queue.close()
        if self._apply_handle is not None:
            self._apply_handle.cancel()
            self._apply_handle = None
        self._handle(self.balancer.stop())
        try:
            self.plane.close()
        except PlaneError as error:
            log.error("cannot remove the load-balancing table: %s", error)
        await self._close_notifications()

    async def reload(self) -> ReloadOutcome:
        """Re-read the config file (off the loop: the checks stay on time); a config with errors is
        refused and the running one kept."""
        async with self._reload_lock:
            with self.around_reload():
                config, params = await load_off_loop(self.source, lb_params)
                return config if isinstance(config, ReloadOutcome) else await self.update(config, params)

    async def update(self, config: Config, params: tuple | None = None) -> ReloadOutcome:
        """Take ``config`` (already checked; ``params``: its lb_params, if resolved already): unchanged
        checks keep their state (Balancer.update)."""
        old_names = set(self.balancer.virtual_servers)
        old_checks = set(self.balancer.check_ids())
        old_plane, new_plane = self.config.global_defs.tandem_lb_plane, config.global_defs.tandem_lb_plane
        if new_plane != old_plane:
            self._switch_plane(old_plane, new_plane)
        await cancel(self._background)
        closing = asyncio.ensure_future(self._close_notifications())
        self.config = config
        self._open_notifications(config, after=closing)
        self._handle(self.balancer.update(lb_params(config) if params is None else params, self._now()))
        self._set_timeouts(config)
        self._changed()
        self._watch(config)
        names, checks = set(self.balancer.virtual_servers), set(self.balancer.check_ids())
        summary = {
            "virtual servers unchanged": sorted(names & old_names),
            "virtual servers added": sorted(names - old_names),
            "virtual servers removed": sorted(old_names - names),
            "checks kept": [str(len(checks & old_checks))],
            "checks started": [str(len(checks - old_checks))],
        }
        log.info(
            "load balancer reloaded: %s", "; ".join(f"{k}: {', '.join(v)}" for k, v in summary.items() if v)
        )
        return ReloadOutcome(True, summary=summary)

    def drain(self, virtual_server: str, real_server: str, mode: str = "drain") -> RealServerStatus:
        """Operator maintenance of one real server: drain (weight 0), remove, restore. KeyError/ValueError."""
        self.balancer.drain(virtual_server, real_server, mode)
        log.info("%s of %s: %s by the operator", real_server, virtual_server, mode)
        self._apply_now()
        vs = self.balancer.virtual_servers[virtual_server]
        return self._real_server_status(vs, vs.servers[real_server], self._plane_weights())

    # --- checks -----------------------------------------------------------------------------------

    def _deadline(self, check_id: str) -> float | None:
        return self.balancer.deadline(check_id) if self.balancer is not None else None

    def _fire(self, check_id: str) -> None:
        due = self._deadline(check_id)
        params = self.balancer.begin(check_id, self._now())
        if params is None:
            self.queue.arm(check_id)  # not due after all (moved, paused): keep its timer
            return
        self._waiting.append((check_id, params, due if due is not None else self._now()))
        self._start_waiting()

    def _start_waiting(self) -> None:
        loop_time, tasks, runners = self._now, self._tasks, self._runners
        while self._waiting and len(tasks) < self.bound:
            check_id, params, due = self._waiting.popleft()
            self._lateness.append(loop_time() - due)
            done = functools.partial(self._checked, check_id)
            tasks[check_id] = start_check(runners.get(params.kind), params, done)

    def _checked(self, check_id: str, result: CheckResult) -> None:
        self._tasks.pop(check_id, None)
        self.checks_run += 1
        if not result.ok:
            self.checks_failed += 1
        if self.started:
            self._handle(self.balancer.result(check_id, result, self._now()))
            self._start_waiting()

    async def _sample_lag(self) -> None:
        loop = asyncio.get_running_loop()
        low = min(MIN_RUNNING, self.max_running)
        while True:
            start, wanted = loop.time(), cpu_wanted()
            await asyncio.sleep(LAG_PERIOD)
            wall = loop.time() - start
            busy = 1.0 if wanted is None else ((cpu_wanted() or 0.0) - wanted) / wall
            lag = wall - LAG_PERIOD
            bound = next_bound(self.bound, lag, low, self.max_running, busy)
            if bound != self.bound:
                log.debug(
                    "checks in flight at most %d (event loop lag %.0f ms, busy %.0f%%)",
                    bound,
                    lag * 1000,
                    busy * 100,
                )
            self.bound = bound
            self._start_waiting()

    # --- actions ----------------------------------------------------------------------------------

    def _handle(self, actions: list[Action]) -> None:
        changed = False
        for action in actions:
            if isinstance(action, RunCheck):
                self.queue.arm(action.check_id)
            elif isinstance(action, RealServerChanged):
                changed = True
                self._fifo(f"RS {action.real_server} {action.virtual_server} {'UP' if action.up else 'DOWN'}")
                log.info(
                    "%s real server %s of %s (%s)",
                    "enabling" if action.up else "removing",
                    action.real_server,
                    action.virtual_server,
                    action.reason,
                )
            elif isinstance(action, WeightChanged):
                changed = True
                log.info("%s of %s: weight %d", action.real_server, action.virtual_server, action.weight)
            elif isinstance(action, QuorumChanged):
                changed = True
                self._fifo(f"VS {action.virtual_server} {'UP' if action.up else 'DOWN'}")
                log.info(
                    "%s: quorum %s (live weight %d)",
                    action.virtual_server,
                    "gained" if action.up else "lost",
                    action.weight,
                )
            elif isinstance(action, RunScript):
                log.info("running %s", action.event)
                self.scripts.put(action.script)
            elif isinstance(action, SmtpAlert) and self.mailer is not None:
                self.mailer.alert(action.kind, action.name, action.state)
        if changed:
            self._changed()

    # --- the plane --------------------------------------------------------------------------------

    def _changed(self) -> None:
        """Apply the desired state at the end of this loop iteration (changes together: one transaction),
        but no sooner than APPLY_SHARE times the last transaction's cost after it ended: a big table
        under churn (each commit ~0.1 s at 5,000 destinations) takes at most a third of the loop, the
        checks keep the rest (a small table's ~2 ms commit delays the next change by ~4 ms at most)."""
        if self._apply_handle is None and self.started:
            loop = asyncio.get_running_loop()
            wait = self._apply_cost * APPLY_SHARE - (loop.time() - self._applied_at)
            if wait > 0:
                self._apply_handle = loop.call_later(wait, self._apply_now)
            else:
                self._apply_handle = loop.call_soon(self._apply_now)

    def _switch_plane(self, old: str, new: str) -> None:
        """A reloaded tandem_lb_plane: the old plane removes what it made (its table, its services),
        the new one is given everything at the end of this reload (the new connections between the two
        are not balanced; conntrack keeps established ones on their real servers). A plane that cannot
        run here is refused and the old one runs on."""
        if self._plane_switch is None:
            from tandem.lb.planes import switch_plane

            self._plane_switch = switch_plane
        try:
            plane = self._plane_switch(self.plane, new)
        except PlaneError as error:
            log.error("tandem_lb_plane %s → %s: %s; the %s plane runs on", old, new, error, self.plane.name)
            return
        if plane is None:
            log.info("tandem_lb_plane %s → %s: the %s plane carries on", old, new, self.plane.name)
            return
        try:
            self.plane.close()
        except PlaneError as error:
            log.error(
                "tandem_lb_plane %s → %s: cannot remove the %s plane's state: %s",
                old,
                new,
                self.plane.name,
                error,
            )
        log.warning(
            "tandem_lb_plane %s → %s: load balancing moves from the %s plane to the %s plane",
            old,
            new,
            self.plane.name,
            plane.name,
        )
        self.plane, self._applied = plane, None

    def _set_timeouts(self, config: Config) -> None:
        """lvs_timeouts onto the plane, at start and at each reload as keepalived (which logs a
        refusal and runs on)."""
        try:
            self.plane.set_timeouts(lb_timeouts(config))
        except PlaneError as error:
            log.error("%s", error)

    def _apply_now(self) -> None:
        if self._apply_handle is not None:
            self._apply_handle.cancel()
        self._apply_handle = None
        services = self.balancer.services()
        if services == self._applied:
            return
        loop = asyncio.get_running_loop()
        began = loop.time()
        try:
            with self.outside_realtime():
                self.plane.apply(services)
        except PlaneError as error:
            self.plane_errors += 1
            log.error(
                "%s plane refused the change (retrying in %g s): %s", self.plane.name, PLANE_RETRY, error
            )
            self._apply_handle = loop.call_later(PLANE_RETRY, self._apply_now)
            return
        self._applied_at = loop.time()
        self._apply_cost = self._applied_at - began
        self._applied = services
        self.plane_changes += 1
        if self._apply_cost >= TRIM_AFTER:
            release_freed_memory()

    def _plane_weights(self) -> dict[tuple, int]:
        """(virtual server name, real server address, port) → the weight the plane holds."""
        names = {key: vs.params.name for vs in self._virtual_servers() for key in vs.params.keys}
        weights: dict[tuple, int] = {}
        for service in self._applied or ():
            for d in service.destinations:
                weights[(names.get(service.key), d.address, d.port)] = d.weight
        return weights

    # --- notifications, VIPs ----------------------------------------------------------------------

    def _open_notifications(self, config: Config, after: asyncio.Future | None = None) -> None:
        defs = config.global_defs
        self.scripts = ScriptQueue(ScriptPolicy.from_global_defs(defs))
        self.mailer: Mailer | None = mailer_from_global_defs(defs)
        self.fifos: list[NotifyFifo] = []
        for path in dict.fromkeys(p for p in (defs.notify_fifo, defs.lvs_notify_fifo) if p):
            try:
                self.fifos.append(NotifyFifo(path))
            except (OSError, ValueError) as error:
                log.error("notify fifo %s not written: %s", path, error)
        scripts, mailer = self.scripts, self.mailer

        async def run() -> None:
            if after is not None:
                await after  # the previous generation's scripts first: they keep event order
            await asyncio.gather(scripts.run(), *([mailer.run()] if mailer else []))

        self._notifying = asyncio.ensure_future(run())

    def _close_notifications(self):
        """A coroutine that lets the current scripts and mails finish (bounded), then stops them."""
        return self._drain(self.scripts, self.mailer, self._notifying, self.fifos)

    @staticmethod
    async def _drain(scripts: ScriptQueue, mailer: Mailer | None, task: asyncio.Future, fifos: list) -> None:
        drains = [scripts.drain(), *([mailer.drain()] if mailer else [])]
        try:
            await asyncio.wait_for(asyncio.gather(*drains), DRAIN_TIMEOUT)
        except TimeoutError:
            log.warning("notify scripts or mails of the load balancer still queued at stop: given up")
        await cancel([task])
        for fifo in fifos:
            fifo.close()

    def _fifo(self, line: str) -> None:
        """notify_fifo, lvs_notify_fifo: ``RS [rs]:port [vs]:port UP``, ``VS [vs]:port DOWN`` (keepalived)."""
        for fifo in self.fifos:
            fifo.write(line + "\n")

    def _watch(self, config: Config) -> None:
        addresses = {a for vs in self._virtual_servers() if vs.params.ha_suspend for a in vs.params.addresses}
        if not addresses or not self._watch_addresses:
            return
        from tandem.lb.vips import AddressMonitor

        monitor = AddressMonitor(addresses, self.vip_local)
        self._background.append(watched(asyncio.ensure_future(monitor.run())))

    def vip_local(self, address, local: bool) -> None:
        """An address of a virtual server became local or stopped being local (ha_suspend)."""
        log.info("virtual address %s %s", address, "is local: checks run" if local else "is not local")
        self._handle(self.balancer.vip_local(address, local, self._now()))
        self._changed()

    # --- status -----------------------------------------------------------------------------------

    def status(self) -> LbStatus:
        weights = self._plane_weights()
        return LbStatus(
            plane=self.plane.name if self.plane is not None else "none",
            virtual_servers=tuple(self._vs_status(vs, weights) for vs in self._virtual_servers()),
        )

    def _vs_status(self, vs: VirtualServerState, weights: dict) -> VirtualServerStatus:
        params, sorry = vs.params, vs.params.sorry_server
        return VirtualServerStatus(
            name=params.name,
            services=tuple(str(key) for key in params.keys),
            quorum="UP" if vs.quorum_up else "DOWN",
            live_weight=vs.live_weight,
            quorum_weight=params.quorum,
            sorry_server=f"[{sorry.address}]:{sorry.port or 0}"
            if sorry is not None and vs.sorry_active
            else None,
            suspended=vs.suspended,
            real_servers=tuple(self._real_server_status(vs, rs, weights) for rs in vs.servers.values()),
        )

    @staticmethod
    def _real_server_status(vs: VirtualServerState, rs: RealServerState, weights: dict) -> RealServerStatus:
        checks = tuple(
            CheckStatus(
                id=check_id,
                kind=check.params.kind,
                up=check.up,
                ok=None if check.last is None else check.last.ok,
                reason="" if check.last is None else check.last.reason,
                latency=None if check.last is None else round(check.last.latency, 6),
                runs=check.runs,
                failures=check.failures,
            )
            for check_id, check in rs.checks.items()
        )
        return RealServerStatus(
            id=rs.params.id,
            state="UP" if rs.alive else "DOWN",
            weight=rs.weight,
            configured_weight=rs.params.weight,
            plane_weight=weights.get((vs.params.name, rs.params.address, rs.params.port)),
            maintenance=rs.maintenance,
            reason=rs.last_reason,
            checks=checks,
        )

    def _virtual_servers(self) -> list[VirtualServerState]:
        return list(self.balancer.virtual_servers.values()) if self.balancer is not None else []

    def stats(self) -> LbStats:
        counters = {}
        if self._applied:
            try:
                counters = self.plane.counters()
            except PlaneError as error:
                log.warning("cannot read the plane's counters: %s", error)
        rows = []
        for vs in self._virtual_servers():
            for rs in vs.servers.values():
                found = [
                    counters[k]
                    for key in vs.params.keys
                    if (k := (key, rs.params.address, rs.params.port)) in counters
                ]
                rows.append(
                    RealServerStats(
                        virtual_server=vs.params.name,
                        real_server=rs.params.id,
                        checks_run=sum(c.runs for c in rs.checks.values()),
                        checks_failed=sum(c.failures for c in rs.checks.values()),
                        connections=sum(c.connections for c in found),
                        packets=sum(c.packets for c in found),
                        bytes=sum(c.bytes for c in found),
                    )
                )
        lateness = sorted(self._lateness)
        return LbStats(
            plane=self.plane.name if self.plane is not None else "none",
            checks_run=self.checks_run,
            checks_failed=self.checks_failed,
            checks_running=len(self._tasks),
            checks_waiting=len(self._waiting),
            checks_bound=self.bound,
            lateness_p50=round(lateness[len(lateness) // 2], 6) if lateness else 0.0,
            lateness_p99=round(lateness[int(len(lateness) * 0.99)], 6) if lateness else 0.0,
            plane_changes=self.plane_changes,
            plane_errors=self.plane_errors,
            real_servers=tuple(rows),
        )


def next_bound(bound: int, lag: float, low: int, high: int, busy: float = 1.0) -> int:
    """The next bound on checks in flight: halved while the loop lags more than LAG_LIMIT and is busy
    (ran or waited to run, ``busy`` of the time: BUSY_LIMIT or more), else grown by a sixteenth of the
    range (additive increase, multiplicative decrease). A loop that lags but idles part of the time is
    late because the machine ran something else, not because of its own checks: fewer in flight would
    only make the checks wait longer."""
    if lag > LAG_LIMIT and busy >= BUSY_LIMIT:
        return max(low, bound // 2)
    return min(high, bound + max(1, (high - low) // 16))


def cpu_wanted() -> float | None:
    """Seconds this thread ran or waited to run (its schedstat: on the CPU + on the run queue), or
    None where the kernel does not say; what is left of the wall time, it slept (an idle loop)."""
    try:
        with open("/proc/thread-self/schedstat", "rb") as file:
            on_cpu, waiting, _ = file.read().split()
    except (OSError, ValueError):
        return None
    return (int(on_cpu) + int(waiting)) / 1e9


@functools.cache
def _malloc_trim():
    """glibc's malloc_trim, or None (another C library)."""
    import ctypes

    try:
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None


def release_freed_memory() -> None:
    """Give the heap's free pages back to the system. A big plane transaction (libnftables parsing
    the JSON of 5,000 destinations) frees ~100 MB that glibc would otherwise keep: measured at
    5,000 real servers, the checker's RSS 221 MB after the first transaction, 121 MB trimmed."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def _raise_file_limit(max_running: int) -> None:
    """Enough descriptors for ``max_running`` checks in flight (keepalived raises its limit too)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = max_running + 512
    if soft != resource.RLIM_INFINITY and soft < wanted:
        new = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        if new > soft:
            resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
