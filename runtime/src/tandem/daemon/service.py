"""The running daemon: one config generation of instances, tracking and notifications; reloads.

:class:`Service` is also the control :class:`~tandem.control.protocol.Handler`. Decisions stay in the
pure cores (``Instance``, ``Tracking``, ``plan_reload``); this module only routes events between them:

* whether an instance runs is decided in one place, :meth:`Service._reconcile`: it is in FAULT while
  tracking says so or while its interface/source address is missing (keepalived's behaviour), else
  it runs (started from INITIALIZE, recovered from FAULT);
* every Transition goes to the log, ``watch`` subscribers, notify scripts/FIFO/mail and group notifies.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from tandem.config import ConfigSource
from tandem.config.model import Config
from tandem.control.protocol import (
    UNCLAIMED,
    Broadcaster,
    InstanceStats,
    InstanceStatus,
    ReloadOutcome,
    Subscription,
    TransitionEvent,
)
from tandem.daemon.configfile import load_off_loop
from tandem.daemon.runners import Notifications, cancel, start_trackers, watched
from tandem.notify.notifier import NotifyEvent
from tandem.systemd import SystemdNotifier
from tandem.track.tracker import Decision, Maintenance, SetPriority, SyncGroups, Tracking
from tandem.vrrp.driver import Driver
from tandem.vrrp.instance import Instance, LowerPriorityHeard, State, Transition, WantMaster
from tandem.vrrp.params import params_from_config

log = logging.getLogger("tandem")
PREPARE_RETRY = 1.0  # seconds between checks of FAULT instances' interfaces (missing, re-created)
IN_PLACE = {"priority", "vips", "timers"}  # reload aspects carried by InstanceParams


def plan_against(current: Config, new: Config):
    """The reload plan from ``current`` to ``new`` (run off the loop, by load_off_loop)."""
    from tandem.reload import plan_reload  # not before the first reload: off the start-up

    return plan_reload(current, new)


@dataclass
class History:
    """What status reports about an instance's last transition."""

    since: float
    reason: str
    transitions: int = 0


class Service:
    def __init__(
        self,
        source: ConfigSource,
        config: Config,
        systemd: SystemdNotifier,
        around_reload: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
    ) -> None:
        self.source = source  # where reloads read the config
        self.around_reload = around_reload  # each reload runs inside it (the child's scheduling)
        self.config = config
        self.systemd = systemd
        self.driver = Driver(
            on_report=self._on_report, log_unknown_vrids=config.global_defs.log_unknown_vrids
        )
        self.broadcaster = Broadcaster()
        self.history: dict[str, History] = {}
        self._group_states: dict[str, str | None] = {}
        self._leaving: dict[str, str] = {}  # instance → notify state of its coming INITIALIZE
        self._faulted: set[str] = set()  # instances in FAULT: their interfaces are looked at again
        self._delayed = False  # vrrp_startup_delay: instances stay in INIT (or FAULT) until it ends
        self._promoting = None  # promote_secondaries (tandem.vrrp.secondaries), made on first use
        self._reload_lock = asyncio.Lock()

    # --- life cycle -------------------------------------------------------------------------

    async def start(self) -> None:
        self.driver.open()
        self.static = None  # static_ipaddress / static_routes, held while this process runs
        await self._hold_static(self.config)
        self.tracking = Tracking(self.config)
        self.notifications = Notifications(self.config)
        for instance in self.config.vrrp_instances:
            await self._add(instance.name)
        self._apply(self.tracking.start())
        if delay := self.config.global_defs.vrrp_startup_delay:
            log.info("Delaying startup for %g seconds", delay)
            self._delayed = True
            asyncio.get_running_loop().call_later(delay, self._startup_delay_over)
        for name in self.driver.units:
            self._reconcile(name)
        self._trackers = start_trackers(self.config, self.tracking, self._apply)
        self._retry = watched(asyncio.create_task(self._retry_unprepared()))
        self.driver.on_addresses_removed = self._addresses_removed

    def _addresses_removed(self, gone: set) -> None:
        """Addresses removed by someone else: the static ones (tandem.vrrp.static) are put back."""
        if self.static is not None:
            watched(asyncio.create_task(self.static.reinstate(gone)))

    async def stop(self) -> None:
        self._retry.cancel()
        await cancel(self._trackers)
        self._leaving = dict.fromkeys(self.driver.units, "STOP")
        self.driver.close()
        if self._promoting is not None:
            self._promoting.close()
        if self.static is not None:  # after the instances, as keepalived's vrrp_terminate_phase1
            await self.static.clear()
        await self.notifications.close()

    async def _hold_static(self, config: Config) -> None:
        if self.static is None and (config.static_ipaddresses or config.static_routes or config.static_rules):
            from tandem.vrrp.static import StaticEntries  # only for configs that have some

            self.static = StaticEntries()
        if self.static is not None:
            await self.static.apply(config)

    async def _add(self, name: str) -> None:
        if (config := self.config.instance(name)).promote_secondaries:
            if self._promoting is None:
                from tandem.vrrp.secondaries import PromoteSecondaries

                self._promoting = PromoteSecondaries()
            self._promoting.acquire(config.interface, name)
        params = params_from_config(self.config, self.config.instance(name))
        instance = await self.driver.add(params)
        instance.sync_group = name in self.tracking.groups.group_of
        self.history[name] = History(time.time(), "created")

    async def _retry_unprepared(self) -> None:
        while True:
            await asyncio.sleep(PREPARE_RETRY)
            async with self._reload_lock:  # a reload adds and removes instances
                for name in list(self._faulted):
                    await self.driver.revalidate(name)
                for name in list(self.driver.unprepared):
                    if await self.driver.prepare(name):
                        log.info("(%s) interface and address available again", name)
                    self._reconcile(name)  # into FAULT while it cannot run (revalidate released it)

    # --- tracking ---------------------------------------------------------------------------

    def _apply(self, decisions: list[Decision]) -> None:
        for decision in decisions:
            name = decision.instance
            if isinstance(decision, SetPriority):
                instance = self._instance(name)
                if instance.priority != decision.priority:
                    before = instance.priority
                    log.info("(%s) priority %d by tracking", name, decision.priority)
                    self.driver.act(name, lambda i, now, p=decision.priority: i.set_priority(p, now))
                    if instance.priority != before:
                        self.notifications.priority_changed(name, instance.state.value, instance.priority)
            else:
                self._reconcile(name)

    def _fault_cause(self, name: str) -> str | None:
        config = self.config.instance(name)
        if config is not None and config.unicast_fault_no_peer and not config.unicast_peers:
            return "no unicast peers (unicast_fault_no_peer)"  # keepalived: FAULT rather than multicast
        return self.driver.unprepared.get(name) or self.tracking.fault_of(name)

    def _startup_delay_over(self) -> None:
        self._delayed = False
        for name in list(self.driver.units):
            self._reconcile(name)

    def _reconcile(self, name: str) -> None:
        instance = self._instance(name)
        if (cause := self._fault_cause(name)) is not None:
            if instance.state is not State.FAULT:
                self.history[name].reason = f"fault: {cause}"
                self.driver.act(name, lambda i, now: i.fault(now))
        elif self._delayed:
            return  # vrrp_startup_delay: _startup_delay_over starts it
        elif instance.state is State.INITIALIZE:
            self.driver.start(name)
        elif instance.state is State.FAULT:
            self.driver.act(name, lambda i, now: i.recover(now))

    def _instance(self, name: str) -> Instance:
        return self.driver.units[name].instance

    # --- transitions out --------------------------------------------------------------------

    def _on_report(self, instance: Instance, report: Transition | WantMaster | LowerPriorityHeard) -> None:
        groups, name = self.tracking.groups, instance.params.name
        if isinstance(report, LowerPriorityHeard):
            ours = instance.priority
            log.info(
                "(%s) Received advert from %s with lower priority %d, ours %d",
                name,
                report.src,
                report.priority,
                ours,
            )
            self.notifications.master_rx_lower_pri(name, instance.priority)
            return
        if isinstance(report, WantMaster):
            members = {m: (u.instance.state.value, u.instance.ready) for m, u in self.driver.units.items()}
            for member in groups.moving_master(name, members):
                self.driver.act(member, lambda i, now: i.sync_master(now))
            return
        self._on_transition(instance, report)
        if report.old is State.MASTER and report.new is State.BACKUP:
            for member in groups.following(name):
                self.driver.act(member, lambda i, now: i.sync_backup(now))

    def _on_transition(self, instance: Instance, transition: Transition) -> None:
        name, now = instance.params.name, time.time()
        history = self.history[name]
        reason = history.reason if transition.new is State.FAULT else transition.reason
        if transition.new is State.FAULT:
            self._faulted.add(name)
        else:
            self._faulted.discard(name)
        history.since, history.reason, history.transitions = now, reason, history.transitions + 1
        old, new = transition.old.value, transition.new.value
        self.broadcaster.publish(TransitionEvent(name, old, new, reason, instance.priority, now))
        if transition.new is State.INITIALIZE:
            new = self._leaving.pop(name, "STOP")
        self.notifications.notify(NotifyEvent("INSTANCE", name, new, instance.priority))
        self._group_notify(name)

    def _group_notify(self, name: str) -> None:
        groups: SyncGroups = self.tracking.groups
        group = groups.group_of.get(name)
        if group is None:
            return
        states = [self._member_state(m) for m in groups.members[group]]
        state = "STOP" if all(s == "INIT" for s in states) else groups.group_state(states)
        if state is not None and state != self._group_states.get(group):
            self._group_states[group] = state
            self.notifications.notify(NotifyEvent("GROUP", group, state, 0))

    def _states(self) -> list[NotifyEvent]:
        """Every running instance's state, then every sync group's, as notify FIFO events."""
        events = [
            NotifyEvent("INSTANCE", name, unit.instance.state.value, unit.instance.priority)
            for name, unit in self.driver.units.items()
            if unit.instance.state is not State.INITIALIZE
        ]
        groups = self.tracking.groups
        for group, members in groups.members.items():
            state = groups.group_state([self._member_state(m) for m in members])
            if state is not None:
                events.append(NotifyEvent("GROUP", group, state, 0))
        return events

    def _member_state(self, name: str) -> str:
        unit = self.driver.units.get(name)
        return unit.instance.state.value if unit is not None else "INIT"

    # --- reload -----------------------------------------------------------------------------

    async def reload(self) -> ReloadOutcome:
        async with self._reload_lock:
            self.systemd.reloading()
            try:
                with self.around_reload():
                    return await self._reload()
            finally:
                self.systemd.ready()

    async def _reload(self) -> ReloadOutcome:
        new, plan = await load_off_loop(self.source, functools.partial(plan_against, self.config))
        if isinstance(new, ReloadOutcome):
            return new
        await cancel(self._trackers)  # first: none of them may report on an instance being removed
        self.driver.forget_interfaces()
        for name in (*plan.removed, *plan.restarted):
            self._leaving[name] = "DELETED" if name in plan.removed else "STOP"
            self.driver.remove(name)
            if self._promoting is not None:
                self._promoting.release(name)
            del self.history[name]
        closing = asyncio.create_task(self.notifications.close())
        self.notifications = Notifications(new, after=closing)
        old_tracking, self.config = self.tracking, new
        self.driver.log_unknown_vrids = new.global_defs.log_unknown_vrids
        await self._hold_static(new)
        self.tracking = Tracking(new)
        self.tracking.carry_over(old_tracking)
        for change in plan.changed:
            if IN_PLACE.intersection(change.aspects):
                await self.driver.update(params_from_config(new, new.instance(change.name)))
        for name in (*plan.restarted, *plan.added):
            await self._add(name)
        for name, unit in self.driver.units.items():
            unit.instance.sync_group = name in self.tracking.groups.group_of
            if unit.instance.ready and not unit.instance.sync_group:  # left its group while waiting
                self.driver.act(name, lambda i, now: i.sync_master(now))
        self._apply(self.tracking.start())
        for name in self.driver.units:
            self._reconcile(name)
        self._trackers = start_trackers(new, self.tracking, self._apply)
        if new.global_defs.fifo_write_vrrp_states_on_reload:
            self.notifications.write_states(self._states())
        summary = {
            "unchanged": list(plan.unchanged),
            "changed": [f"{c.name} ({', '.join(c.aspects)})" for c in plan.changed],
            "restarted": list(plan.restarted),
            "removed": list(plan.removed),
            "added": list(plan.added),
        }
        log.info("reloaded: %s", "; ".join(f"{k}: {', '.join(v)}" for k, v in summary.items() if v) or "-")
        return ReloadOutcome(True, summary=summary)

    # --- control Handler --------------------------------------------------------------------

    def status(self) -> list[InstanceStatus]:
        return [self._status(unit.instance) for unit in self.driver.units.values()]

    def _status(self, instance: Instance) -> InstanceStatus:
        params, name = instance.params, instance.params.name
        maintenance = self.tracking.maintenance_of(name)
        reason = self.history[name].reason
        if instance.state is State.FAULT and (cause := self._fault_cause(name)):
            reason = f"fault: {cause}"  # what keeps it there now, which may differ from what put it there
        return InstanceStatus(
            name=name,
            state=instance.state.value,
            priority=instance.priority,
            base_priority=params.priority,
            master=str(instance.master_address) if instance.master_address else None,
            vips=tuple(str(v.address) for v in (*params.vips, *params.excluded_vips)),
            since=self.history[name].since,
            reason=reason,
            maintenance=describe(maintenance),
        )

    def stats(self) -> list[InstanceStats]:
        """Per instance; packets no instance claimed (unknown VRID, CARP, bad IP header) in UNCLAIMED."""
        unclaimed = InstanceStats(
            UNCLAIMED, 0, 0, 0, 0, 0, 0, {drop.value: count for drop, count in self.driver.unclaimed.items()}
        )
        rows = [
            InstanceStats(
                name=name,
                adverts_sent=(c := unit.instance.counters).adverts_sent,
                adverts_received=c.adverts_received,
                priority_zero_sent=c.priority_zero_sent,
                priority_zero_received=c.priority_zero_received,
                became_master=c.became_master,
                transitions=self.history[name].transitions,
                drops={drop.value: count for drop, count in c.drops.items()},
            )
            for name, unit in self.driver.units.items()
        ]
        return [unclaimed, *rows] if unclaimed.drops else rows

    async def maintenance(self, instance: str | None, lower_by: int, force_backup: bool) -> list[str]:
        names = list(self.driver.units) if instance is None else [instance]
        for name in names:
            if name not in self.driver.units:
                raise KeyError(name)
        for name in names:
            log.info("(%s) maintenance: %s", name, describe(Maintenance(lower_by, force_backup)) or "cleared")
            self._apply(self.tracking.set_maintenance(name, Maintenance(lower_by, force_backup)))
        return names

    def subscribe(self) -> Subscription:
        return self.broadcaster.subscribe()


def describe(maintenance: Maintenance) -> str | None:
    if maintenance.force_backup:
        return "force_backup"
    return f"lower_by {maintenance.lower_by}" if maintenance.lower_by else None
