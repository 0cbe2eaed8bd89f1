"""Notifier: turns state transitions into notify scripts, FIFO lines and e-mails, in event order.

``notify(event)`` is synchronous and returns at once: FIFO lines are written immediately (non-blocking),
scripts are queued for :meth:`Notifier.run`, which runs them one after the other — the state script
(``notify_master`` …) then the generic ``notify`` with keepalived's four arguments — so a slow script
delays later scripts, never VRRP. E-mails go through the Mailer's own queue.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from tandem.config.model import Config, Notify, Script
from tandem.notify.fifo import NotifyFifo
from tandem.notify.mail import Mailer
from tandem.notify.scripts import PreparedScript, ScriptError, ScriptPolicy, run_script

log = logging.getLogger(__name__)
NOTIFY_TIMEOUT = 10.0  # keepalived gives its startup/shutdown scripts 10 s; notify scripts get the same


@dataclass(frozen=True, slots=True)
class NotifyEvent:
    kind: str  # "INSTANCE" or "GROUP"
    name: str
    state: str  # MASTER, BACKUP, FAULT, STOP, DELETED
    priority: int  # 0 for groups

    @property
    def arguments(self) -> tuple[str, ...]:
        """What the generic ``notify`` script gets after its own arguments: type, name, state, priority."""
        return (self.kind, self.name, self.state, str(self.priority))

    @property
    def fifo_line(self) -> str:
        return f'{self.kind} "{self.name}" {self.state} {self.priority}\n'


def _state_script(notify: Notify, state: str) -> Script | None:
    return {
        "MASTER": notify.master,
        "BACKUP": notify.backup,
        "FAULT": notify.fault,
        "STOP": notify.stop,
        "DELETED": notify.deleted,
    }.get(state)


class Notifier:
    def __init__(
        self,
        config: Config,
        policy: ScriptPolicy,
        fifos: tuple[NotifyFifo, ...] = (),
        mailer: Mailer | None = None,
        timeout: float = NOTIFY_TIMEOUT,
    ) -> None:
        self.fifos = fifos
        self.mailer = mailer
        self.timeout = timeout
        self.scripts = ScriptQueue(policy, timeout)
        self._notify: dict[tuple[str, str], Notify] = {}
        self._mail: set[tuple[str, str]] = set()
        defs = config.global_defs
        self.priority_changes = priority_changes(config)
        self.no_email_faults = defs.no_email_faults
        mail_default = next((v for v in (defs.smtp_alert_vrrp, defs.smtp_alert) if v is not None), False)
        for kind, objects in (("INSTANCE", config.vrrp_instances), ("GROUP", config.vrrp_sync_groups)):
            for obj in objects:
                self._notify[(kind, obj.name)] = obj.notify
                if (obj.smtp_alert if obj.smtp_alert is not None else mail_default) and mailer is not None:
                    self._mail.add((kind, obj.name))
                for state in ("MASTER", "BACKUP", "FAULT", "STOP", "DELETED"):
                    self.scripts.prepare(_state_script(obj.notify, state))
                self.scripts.prepare(obj.notify.any)
                self.scripts.prepare(obj.notify.master_rx_lower_pri)

    @property
    def errors(self) -> list[str]:
        """Scripts refused at load (insecure, missing): for the log and control API."""
        return self.scripts.errors

    def notify(self, event: NotifyEvent) -> None:
        for fifo in self.fifos:
            fifo.write(event.fifo_line)
        notify = self._notify.get((event.kind, event.name))
        if notify is not None:
            for script, extra in ((_state_script(notify, event.state), ()), (notify.any, event.arguments)):
                self.scripts.put(script, extra, prepare=False)
        if (event.kind, event.name) in self._mail and not (self.no_email_faults and event.state == "FAULT"):
            self.mailer.alert(event.kind, event.name, event.state)

    def write_states(self, events: list[NotifyEvent]) -> None:
        """fifo_write_vrrp_states_on_reload: the current states, on the FIFOs only (no script, no mail)."""
        for event in events:
            for fifo in self.fifos:
                fifo.write(event.fifo_line)

    def priority_changed(self, name: str, state: str, priority: int) -> None:
        """notify_priority_changes: ``INSTANCE "NAME" MASTER_PRIORITY 80`` (or BACKUP_PRIORITY) on the
        FIFOs, as keepalived writes it; nothing for an instance without the option, or not running."""
        if name in self.priority_changes and state in ("MASTER", "BACKUP"):
            line = NotifyEvent("INSTANCE", name, f"{state}_PRIORITY", priority).fifo_line
            for fifo in self.fifos:
                fifo.write(line)

    def master_rx_lower_pri(self, name: str, priority: int) -> None:
        """A Master heard a lower-priority advert: ``INSTANCE "NAME" MASTER_RX_LOWER_PRI 100`` (our
        effective priority) on the FIFOs and notify_master_rx_lower_pri run with no arguments, as
        keepalived does (whatever notify_priority_changes says)."""
        line = NotifyEvent("INSTANCE", name, "MASTER_RX_LOWER_PRI", priority).fifo_line
        for fifo in self.fifos:
            fifo.write(line)
        notify = self._notify.get(("INSTANCE", name))
        if notify is not None:
            self.scripts.put(notify.master_rx_lower_pri, prepare=False)

    async def run(self) -> None:
        await self.scripts.run()

    async def drain(self) -> None:
        """Wait until every queued script has run (at shutdown, after the STOP events)."""
        await self.scripts.drain()


def priority_changes(config: Config) -> frozenset[str]:
    """The instances whose priority changes go to the notify FIFOs: notify_priority_changes of the
    instance, else of its sync group, else global_defs vrrp_notify_priority_changes (keepalived's order)."""
    group_of = {member: group for group in config.vrrp_sync_groups for member in group.group}
    names = []
    for instance in config.vrrp_instances:
        group = group_of.get(instance.name)
        wanted = next(
            (
                value
                for value in (instance.notify_priority_changes, group and group.notify_priority_changes)
                if value is not None
            ),
            config.global_defs.vrrp_notify_priority_changes,
        )
        if wanted:
            names.append(instance.name)
    return frozenset(names)


class ScriptQueue:
    """Scripts run one after the other (no shell; user, timeout and script security of ``policy``).

    :meth:`prepare` resolves a script once (a refused one is logged and kept in ``errors``);
    :meth:`put` queues a prepared script with extra arguments; :meth:`run` runs the queue, so a slow
    script delays later scripts, never the caller. Notify scripts of VRRP (:class:`Notifier`) and of
    the load balancer (notify_up/down, quorum_up/down: ``tandem.lb.service``) run through it.
    """

    def __init__(self, policy: ScriptPolicy, timeout: float = NOTIFY_TIMEOUT) -> None:
        self.policy = policy
        self.timeout = timeout
        self.errors: list[str] = []
        self._prepared: dict[Script, PreparedScript | None] = {}
        self._queue: asyncio.Queue[tuple[PreparedScript, tuple[str, ...]]] = asyncio.Queue()

    def prepare(self, script: Script | None) -> PreparedScript | None:
        if script is None:
            return None
        if script in self._prepared:
            return self._prepared[script]
        try:
            prepared = self.policy.prepare(script)
        except ScriptError as error:
            self.errors.append(str(error))
            log.error("%s", error)
            prepared = None
        else:
            if prepared.warning:
                log.warning("%s", prepared.warning)
        self._prepared[script] = prepared
        return prepared

    def put(self, script: Script | None, extra: tuple[str, ...] = (), prepare: bool = True) -> bool:
        """Queue ``script`` (prepared now unless ``prepare`` is False and it was not prepared before)."""
        prepared = self.prepare(script) if prepare else self._prepared.get(script)
        if prepared is None:
            return False
        self._queue.put_nowait((prepared, extra))
        return True

    def __len__(self) -> int:
        return self._queue.qsize()

    async def run(self) -> None:
        while True:
            prepared, extra = await self._queue.get()
            try:
                result = await run_script(prepared, self.timeout, extra)
            finally:
                self._queue.task_done()
            if not result.success:
                outcome = "timed out" if result.timed_out else f"exited {result.returncode}"
                log.warning("notify script %s %s", " ".join((*prepared.argv, *extra)), outcome)

    async def drain(self) -> None:
        """Wait until every queued script has run."""
        await self._queue.join()
