"""Real servers and virtual servers, sans-IO: fed check results, VIP events and the time; returns actions.

Theory of operation
-------------------
A :class:`Balancer` holds the state of every virtual server of a config (:mod:`tandem.lb.params`):
its real servers, their checks, its quorum. It never reads a clock, runs a check or touches the
kernel. Every entry point takes ``now`` (monotonic seconds) and returns a list of actions for the
driver (:mod:`tandem.lb.service`) to carry out in order; :meth:`Balancer.services` is the data plane's
desired state at any moment, and :meth:`Balancer.deadline` tells the driver's timer queue when each
check is due. The driver calls :meth:`Balancer.begin` when a check's deadline passes, runs it, and
feeds its result to :meth:`Balancer.result`.

One check (keepalived's check/*.c, every checker the same way):

==================  =========================================  =====================================
state               result                                     action
==================  =========================================  =====================================
up, or not yet run  failure, fewer than ``retry`` retries made  retry after ``delay_before_retry``
up, or not yet run  failure, retries used up                   check down; next after delay_loop
down                failure                                    next after delay_loop
any                 success                                    check up, retries reset; delay_loop
==================  =========================================  =====================================

A check starts *up* with its retries already used, so before its first success one failure is
enough (keepalived: "for non alpha mode, one failure is enough initially"); with ``alpha`` it
starts *down*. Its first run is at a random time within ``warmup`` (keepalived's default: the
delay_loop), so a thousand checks do not all start at once.

A real server is *alive* when every one of its checks is up (one without checks always is). A change
of that is :class:`RealServerChanged`, its notify_up/notify_down script and, when the real server has
smtp_alert, an e-mail. With alpha, the first failure reports notify_down even though nothing changed
(keepalived reports the initial state). A check result may carry a weight (MISC_CHECK misc_dynamic,
FILE_CHECK): it becomes the real server's effective weight at once (:class:`WeightChanged`).

A virtual server's *quorum* is the sum of its live real servers' effective weights, with hysteresis:

=========  ===============================================  ===========================================
quorum     event                                             action → quorum
=========  ===============================================  ===========================================
down       live weight ≥ quorum + hysteresis                 quorum_up script, alert → up
up         live weight < quorum − hysteresis, or 0           quorum_down script, alert → down
start      live weight < quorum + hysteresis, sorry server   quorum_down ("starting with quorum down")
=========  ===============================================  ===========================================

The desired destinations of a virtual server (each of its services gets the same):

- quorum down and a sorry server: the sorry server (weight 1); real servers with inhibit_on_failure
  stay at weight 0, the others are out;
- otherwise: every live real server at its effective weight; a dead one with inhibit_on_failure at
  weight 0 (established connections go on, no new ones), the others are out; with
  sorry_server_inhibit the sorry server stays at weight 0.

An operator's :meth:`Balancer.drain` puts a real server at weight 0 (``drain``), takes it out
(``remove``), or back (``restore``); it does not change health, quorum or notifications.

``ha_suspend``: a virtual server's checks pause while none of its addresses is local (the driver
reports :meth:`Balancer.vip_local` at start and on every change; until then they are paused). While
paused its state stays as it was; when an address comes back every check runs at once.

``omega``: when a virtual server is removed (reload) or the balancer stops, its live real servers'
notify_down and, if quorum was up, its quorum_down run.

Reload (:meth:`Balancer.update`): checks are matched by id (:mod:`tandem.lb.params` makes the id a
digest of the check's resolved values). A kept check keeps its state and schedule and takes the new
parameters; a new one starts like at start-up (warmup, alpha); a removed one is forgotten. A real
server keeps its effective weight unless its configured weight changed.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from tandem.check.result import CheckResult
from tandem.config.model import Script
from tandem.lb.params import CheckParams, RealServerParams, VirtualServerParams
from tandem.lb.plane import Destination, Service

DRAIN_MODES = ("drain", "remove", "restore")


# --- actions --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RunCheck:
    """Check ``check_id`` is due at ``at`` (the driver re-arms its timer for it)."""

    check_id: str
    at: float


@dataclass(frozen=True, slots=True)
class RealServerChanged:
    virtual_server: str
    real_server: str
    up: bool
    reason: str  # the check result that decided it


@dataclass(frozen=True, slots=True)
class WeightChanged:
    virtual_server: str
    real_server: str
    weight: int


@dataclass(frozen=True, slots=True)
class QuorumChanged:
    virtual_server: str
    up: bool
    weight: int  # the live weight that decided it


@dataclass(frozen=True, slots=True)
class RunScript:
    script: Script
    event: str  # what it is for, for logs: "notify_up [198.51.100.1]:80 of [203.0.113.1]:80"


@dataclass(frozen=True, slots=True)
class SmtpAlert:
    kind: str  # REALSERVER or VIRTUALSERVER (tandem.notify.mail.Mailer.alert)
    name: str
    state: str  # UP, DOWN


Action = RunCheck | RealServerChanged | WeightChanged | QuorumChanged | RunScript | SmtpAlert


# --- state ----------------------------------------------------------------------------------------


@dataclass(eq=False, slots=True)
class CheckState:
    params: CheckParams
    up: bool
    retries: int  # retries made since the last success (starts used up)
    has_run: bool = False
    next_at: float | None = None  # None: running, or paused (ha_suspend)
    running: bool = False
    last: CheckResult | None = None
    runs: int = 0
    failures: int = 0


@dataclass(eq=False, slots=True)
class RealServerState:
    params: RealServerParams
    checks: dict[str, CheckState]
    weight: int  # effective weight (a dynamic check result may have changed it)
    alive: bool = True
    maintenance: str | None = None  # "drain" or "remove" (Balancer.drain)
    last_reason: str = ""
    made: Destination | None = None  # the last destination made (desired() makes one per change)
    key: str = ""  # "address port": what desired() keeps one destination per (a str hashes once)

    def __post_init__(self) -> None:
        self.key = _destination_key(self.params.address, self.params.port)

    def count_alive(self) -> bool:
        return all(check.up for check in self.checks.values())

    def destination(self, weight: int) -> Destination:
        """``params.destination(weight)``, the same object while the weight is (so an unchanged
        real server costs desired() and the comparison with the applied state next to nothing)."""
        made = self.made
        if made is None or made.weight != weight:
            made = self.made = self.params.destination(weight)
        return made


@dataclass(eq=False, slots=True)
class VirtualServerState:
    params: VirtualServerParams
    servers: dict[str, RealServerState]
    quorum_up: bool = True
    suspended: bool = False
    live_weight: int = 0  # the live real servers' effective weights, kept as they change (not summed
    # per result: a check result of one of 5,000 real servers must not cost 5,000 steps)

    def recount(self) -> None:
        self.live_weight = sum(rs.weight for rs in self.servers.values() if rs.alive)

    @property
    def sorry_active(self) -> bool:
        return self.params.sorry_server is not None and not self.quorum_up


class Balancer:
    """Every virtual server's real servers and checks; see the module docstring."""

    def __init__(
        self, params: Iterable[VirtualServerParams], rand: Callable[[], float] = random.random
    ) -> None:
        self._rand = rand
        self.virtual_servers: dict[str, VirtualServerState] = {}
        self._checks: dict[str, tuple[VirtualServerState, RealServerState, CheckState]] = {}
        self._params = tuple(params)
        self._local: set = set()  # addresses reported local (ha_suspend)

    # --- entry points -----------------------------------------------------------------------------

    def start(self, now: float) -> list[Action]:
        """Create every virtual server's state and schedule the first checks (within warmup)."""
        actions: list[Action] = []
        for vs_params in self._params:
            actions += self._add_virtual_server(vs_params, now, None)
        return actions

    def deadline(self, check_id: str) -> float | None:
        """When ``check_id`` is due (None: running, paused or unknown)."""
        entry = self._checks.get(check_id)
        return None if entry is None else entry[2].next_at

    def begin(self, check_id: str, now: float) -> CheckParams | None:
        """The check to run now for ``check_id`` (marked running), or None if it is not due."""
        entry = self._checks.get(check_id)
        if entry is None:
            return None
        vs, _, check = entry
        if vs.suspended or check.running or check.next_at is None or check.next_at > now:
            return None
        check.running, check.next_at = True, None
        return check.params

    def result(self, check_id: str, result: CheckResult, now: float) -> list[Action]:
        """Feed the result of a check started by :meth:`begin` (of a removed check: ignored)."""
        entry = self._checks.get(check_id)
        if entry is None:
            return []
        vs, rs, check = entry
        check.running = False
        check.last = result
        check.runs += 1
        params = check.params
        actions: list[Action] = []
        before = (rs.alive, rs.weight)
        if result.weight is not None and result.weight != rs.weight:
            if rs.alive:
                vs.live_weight += result.weight - rs.weight
            rs.weight = result.weight
            actions.append(WeightChanged(vs.params.name, rs.params.id, rs.weight))
        delay = params.delay_loop
        if result.ok:
            check.retries = 0
            check.has_run = True
            if not check.up:
                check.up = True
                actions += self._update_alive(vs, rs, result.reason)
        else:
            check.failures += 1
            if check.up or not check.has_run:
                if check.retries < params.retry:
                    check.retries += 1
                    check.has_run = True
                    delay = params.delay_before_retry
                else:
                    first, check.has_run = not check.has_run, True
                    if check.up:
                        check.up = False
                        actions += self._update_alive(vs, rs, result.reason)
                    elif first:  # alpha: report the initial down state
                        actions += self._notify(vs, rs, up=False)
        if (rs.alive, rs.weight) != before:  # the live weight is a sum over every real server: only
            actions += self._update_quorum(vs, init=False)  # when it can have changed
        if not vs.suspended:
            check.next_at = now + delay
            actions.append(RunCheck(check_id, check.next_at))
        return actions

    def vip_local(self, address, local: bool, now: float) -> list[Action]:
        """An address became local or stopped being local (ha_suspend)."""
        (self._local.add if local else self._local.discard)(address)
        actions: list[Action] = []
        for vs in self.virtual_servers.values():
            if vs.params.ha_suspend and address in vs.params.addresses:
                actions += self._set_suspended(vs, now)
        return actions

    def drain(self, virtual_server: str, real_server: str, mode: str) -> list[Action]:
        """Operator maintenance: ``drain`` (weight 0), ``remove`` (out), ``restore`` (back)."""
        if mode not in DRAIN_MODES:
            raise ValueError(f"mode must be one of {', '.join(DRAIN_MODES)}")
        vs = self.virtual_servers.get(virtual_server)
        if vs is None:
            raise KeyError(f"no virtual server {virtual_server}")
        rs = vs.servers.get(real_server)
        if rs is None:
            raise KeyError(f"{virtual_server} has no real server {real_server}")
        rs.maintenance = None if mode == "restore" else mode
        return []

    def update(self, params: Iterable[VirtualServerParams], now: float) -> list[Action]:
        """Reload: keep the state of unchanged checks (by id), start new ones, forget removed ones."""
        old = self.virtual_servers
        self.virtual_servers, self._checks = {}, {}
        self._params = tuple(params)
        actions: list[Action] = []
        for vs_params in self._params:
            actions += self._add_virtual_server(vs_params, now, old.pop(vs_params.name, None))
        for vs in old.values():  # removed virtual servers
            actions += self._omega(vs)
        return actions

    def stop(self) -> list[Action]:
        """Stop everything: omega's notifications; nothing is scheduled any more."""
        actions: list[Action] = []
        for vs in self.virtual_servers.values():
            actions += self._omega(vs)
        self.virtual_servers, self._checks = {}, {}
        return actions

    def services(self) -> tuple[Service, ...]:
        """The data plane's desired state: every virtual server's services and destinations."""
        return tuple(s for vs in self.virtual_servers.values() for s in vs.params.services(desired(vs)))

    def check_ids(self) -> tuple[str, ...]:
        return tuple(self._checks)

    # --- internals --------------------------------------------------------------------------------

    def _add_virtual_server(
        self, params: VirtualServerParams, now: float, old: VirtualServerState | None
    ) -> list[Action]:
        vs = VirtualServerState(params, {})
        actions: list[Action] = []
        old_servers = old.servers if old is not None else {}
        old_checks = {cid: c for rs in old_servers.values() for cid, c in rs.checks.items()}
        vs.suspended = params.ha_suspend and not (self._local & set(params.addresses))
        for rs_params in params.real_servers:
            previous = old_servers.pop(rs_params.id, None)
            weight = rs_params.weight
            if previous is not None and previous.params.weight == rs_params.weight:
                weight = previous.weight  # keep a dynamic weight
            rs = RealServerState(rs_params, {}, weight)
            if previous is not None:
                rs.maintenance, rs.last_reason = previous.maintenance, previous.last_reason
            for check_params in rs_params.checks:
                check = old_checks.get(check_params.id)
                if check is None:
                    check = CheckState(check_params, up=not check_params.alpha, retries=check_params.retry)
                    check.next_at = now + self._rand() * check_params.warmup
                else:
                    check.params = check_params
                    if check.next_at is None and not check.running:  # was paused
                        check.next_at = now
                rs.checks[check_params.id] = check
                self._checks[check_params.id] = (vs, rs, check)
                if vs.suspended:
                    check.next_at = None
                elif check.next_at is not None:
                    actions.append(RunCheck(check_params.id, check.next_at))
            rs.alive = rs.count_alive()
            if previous is not None and previous.alive != rs.alive:
                actions += self._changed(vs, rs, "reloaded")
            vs.servers[rs_params.id] = rs
        vs.recount()
        if old is None:
            vs.quorum_up = vs.live_weight >= params.quorum + params.hysteresis
            actions += self._update_quorum(vs, init=True)
        else:
            vs.quorum_up = old.quorum_up
            actions += self._update_quorum(vs, init=False)
            for gone in old_servers.values():  # real servers removed from a kept virtual server
                if params.omega and gone.alive:
                    actions += self._notify(vs, gone, up=False)
        self.virtual_servers[params.name] = vs
        return actions

    def _set_suspended(self, vs: VirtualServerState, now: float) -> list[Action]:
        suspended = not (self._local & set(vs.params.addresses))
        if suspended == vs.suspended:
            return []
        vs.suspended = suspended
        actions: list[Action] = []
        for rs in vs.servers.values():
            for check_id, check in rs.checks.items():
                if suspended:
                    check.next_at = None
                elif not check.running:
                    check.next_at = now
                    actions.append(RunCheck(check_id, now))
        return actions

    def _update_alive(self, vs: VirtualServerState, rs: RealServerState, reason: str) -> list[Action]:
        alive = rs.count_alive()
        if alive == rs.alive:
            return []
        rs.alive = alive
        vs.live_weight += rs.weight if alive else -rs.weight
        return self._changed(vs, rs, reason)

    def _changed(self, vs: VirtualServerState, rs: RealServerState, reason: str) -> list[Action]:
        rs.last_reason = reason
        actions: list[Action] = [RealServerChanged(vs.params.name, rs.params.id, rs.alive, reason)]
        actions += self._notify(vs, rs, up=rs.alive)
        if rs.params.smtp_alert:
            actions.append(SmtpAlert("REALSERVER", f"{rs.params.id} of {vs.params.name}", _word(rs.alive)))
        return actions

    def _notify(self, vs: VirtualServerState, rs: RealServerState, up: bool) -> list[Action]:
        script = rs.params.notify_up if up else rs.params.notify_down
        if script is None:
            return []
        what = "notify_up" if up else "notify_down"
        return [RunScript(script, f"{what} {rs.params.id} of {vs.params.name}")]

    def _update_quorum(self, vs: VirtualServerState, init: bool) -> list[Action]:
        params, weight = vs.params, vs.live_weight
        if not vs.quorum_up and weight >= params.quorum + params.hysteresis:
            vs.quorum_up = True
            return self._quorum_actions(vs, weight)
        lost = vs.quorum_up and (weight == 0 or weight < params.quorum - params.hysteresis)
        if lost or (init and not vs.quorum_up and params.sorry_server is not None):
            vs.quorum_up = False
            return self._quorum_actions(vs, weight)
        return []

    def _quorum_actions(self, vs: VirtualServerState, weight: int) -> list[Action]:
        up, name = vs.quorum_up, vs.params.name
        actions: list[Action] = [QuorumChanged(name, up, weight)]
        script = vs.params.quorum_up if up else vs.params.quorum_down
        if script is not None:
            actions.append(RunScript(script, f"{'quorum_up' if up else 'quorum_down'} {name}"))
        if vs.params.smtp_alert:
            actions.append(SmtpAlert("VIRTUALSERVER", name, _word(up)))
        return actions

    def _omega(self, vs: VirtualServerState) -> list[Action]:
        if not vs.params.omega:
            return []
        actions: list[Action] = []
        for rs in vs.servers.values():
            if rs.alive:
                actions += self._notify(vs, rs, up=False)
        if vs.quorum_up and vs.params.quorum_down is not None:
            actions.append(RunScript(vs.params.quorum_down, f"quorum_down {vs.params.name}"))
        return actions


def desired(vs: VirtualServerState) -> tuple[Destination, ...]:
    """The destinations ``vs`` should have now (see the module docstring)."""
    params, sorry = vs.params, vs.params.sorry_server
    sorry_active = vs.sorry_active
    chosen: dict[str, Destination] = {}
    for rs in vs.servers.values():
        maintenance = rs.maintenance
        if maintenance == "remove":
            continue
        if sorry_active or not rs.alive:
            if rs.params.inhibit_on_failure:
                chosen[rs.key] = rs.destination(0)
            continue
        chosen[rs.key] = rs.destination(0 if maintenance == "drain" else rs.weight)
    if sorry is not None:
        key = _destination_key(sorry.address, sorry.port)
        if sorry_active:
            chosen[key] = sorry
        elif params.sorry_server_inhibit and key not in chosen:
            chosen[key] = Destination(sorry.address, sorry.port, 0, sorry.method)
    return tuple(chosen.values())


def _destination_key(address, port: int | None) -> str:
    return f"{address} {port}"


def _word(up: bool) -> str:
    return "UP" if up else "DOWN"
