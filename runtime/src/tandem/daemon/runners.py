"""Tracking and notification plumbing of one config generation: runner tasks and notify channels.

Both are rebuilt on every reload; what they observed carries over in :class:`Tracking` itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from tandem.config.model import Config
from tandem.notify.fifo import NotifyFifo
from tandem.notify.mail import Mailer, mailer_from_global_defs
from tandem.notify.notifier import Notifier, NotifyEvent
from tandem.notify.scripts import PreparedScript, ScriptError, ScriptPolicy, start_script, stop_script
from tandem.track.tracker import FILE, INTERFACE, PROCESS, SCRIPT, Decision, Tracking

log = logging.getLogger("tandem")
DRAIN_TIMEOUT = 15.0  # notify scripts still queued at exit or reload get this long to finish


def start_trackers(
    config: Config, tracking: Tracking, apply: Callable[[list[Decision]], None]
) -> list[asyncio.Task]:
    """One task per tracked script and file, one link monitor, one process watcher: each reports into
    ``tracking``."""
    policy = ScriptPolicy.from_global_defs(config.global_defs)
    runners = []
    for script in (s for s in config.vrrp_scripts if s.name in tracking.watched(SCRIPT)):
        # imported once a config tracks a script, as each watcher below: off every other start-up
        from tandem.config.checks import unrunnable_program
        from tandem.track.script import ScriptRunner

        if program := unrunnable_program(script):
            log.warning("Disabling track script %s since not found/accessible (%s)", script.name, program)
            apply(tracking.script_disabled(script.name))
            continue
        try:
            prepared = policy.prepare(script.script)
        except ScriptError as error:
            log.error("vrrp_script %s not run: %s", script.name, error)
            continue
        if prepared.warning:
            log.warning("%s", prepared.warning)
        runner = ScriptRunner(script, prepared, lambda n, ok: apply(tracking.script_result(n, ok)))
        runners.append(runner.run())
    for track_file in (f for f in config.track_files if f.name in tracking.watched(FILE)):
        from tandem.track.files import FileWatcher

        runners.append(FileWatcher(track_file, lambda n, v: apply(tracking.file_value(n, v))).run())
    if processes := [p for p in config.vrrp_track_processes if p.name in tracking.watched(PROCESS)]:
        from tandem.track.processes import ProcessWatcher

        runners.append(ProcessWatcher(processes, lambda n, up: apply(tracking.process_quorum(n, up))).run())
    if interfaces := tracking.watched(INTERFACE):
        from tandem.track.links import LinkMonitor, polled_links

        delays = {name: (down, up) for name, down, up in config.interface_up_down_delays}
        polled = polled_links(config, interfaces)
        monitor = LinkMonitor(interfaces, lambda i, up: apply(tracking.link_state(i, up)), delays, polled)
        runners.append(monitor.run())
    return [watched(asyncio.create_task(runner)) for runner in runners]


def watched(task: asyncio.Task) -> asyncio.Task:
    """``task``, whose crash (a bug) is logged at once instead of silently ending what it runs."""

    def report(done: asyncio.Task) -> None:
        if not done.cancelled() and done.exception() is not None:
            log.error("%s crashed", done.get_coro().__qualname__, exc_info=done.exception())

    task.add_done_callback(report)
    return task


async def cancel(tasks: list[asyncio.Task]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


class Notifications:
    """The notify channels of one config: notify scripts, FIFO lines, smtp_alert e-mails.

    ``after`` (the previous generation closing, on reload) runs first, so scripts keep event order.
    """

    def __init__(self, config: Config, after: asyncio.Task | None = None) -> None:
        defs = config.global_defs
        paths = dict.fromkeys(p for p in (defs.notify_fifo, defs.vrrp_notify_fifo) if p)
        self.fifos = tuple(NotifyFifo(path) for path in paths)
        self.fifo_scripts = fifo_scripts(config)
        self._fifo_processes: list[asyncio.subprocess.Process] = []
        self.mailer: Mailer | None = mailer_from_global_defs(defs)
        self.notifier = Notifier(config, ScriptPolicy.from_global_defs(defs), self.fifos, self.mailer)
        self._task = watched(asyncio.create_task(self._run(after)))

    async def _run(self, after: asyncio.Task | None) -> None:
        if after is not None:
            await after
        for prepared, path in self.fifo_scripts:
            try:
                self._fifo_processes.append(await start_script(prepared, (path,)))
            except OSError as error:
                log.error("notify FIFO script %s not started: %s", prepared.argv[0], error)
        await asyncio.gather(self.notifier.run(), *([self.mailer.run()] if self.mailer else []))

    def notify(self, event: NotifyEvent) -> None:
        self.notifier.notify(event)

    def priority_changed(self, name: str, state: str, priority: int) -> None:
        self.notifier.priority_changed(name, state, priority)

    def write_states(self, events: list[NotifyEvent]) -> None:
        self.notifier.write_states(events)

    def master_rx_lower_pri(self, name: str, priority: int) -> None:
        self.notifier.master_rx_lower_pri(name, priority)

    async def close(self) -> None:
        """Let queued notify scripts and mails finish (bounded), then stop."""
        drains = [self.notifier.drain(), *([self.mailer.drain()] if self.mailer else [])]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*drains), DRAIN_TIMEOUT)
        await cancel([self._task])
        await asyncio.gather(*(stop_script(p) for p in self._fifo_processes))
        for fifo in self.fifos:
            fifo.close()


def fifo_scripts(config: Config) -> list[tuple[PreparedScript, str]]:
    """notify_fifo_script / vrrp_notify_fifo_script with the FIFO each reads (passed as its last
    argument, as keepalived does); one without its FIFO, or refused by script security, is logged."""
    defs = config.global_defs
    policy = ScriptPolicy.from_global_defs(defs)
    found = []
    for script, path, fifo_keyword in (
        (defs.notify_fifo_script, defs.notify_fifo, "notify_fifo"),
        (defs.vrrp_notify_fifo_script, defs.vrrp_notify_fifo, "vrrp_notify_fifo"),
    ):
        if script is None:
            continue
        if path is None:
            log.error("%s: %s_script without %s: not run", script.pos, fifo_keyword, fifo_keyword)
            continue
        try:
            prepared = policy.prepare(script)
        except ScriptError as error:
            log.error("%s", error)
            continue
        if prepared.warning:
            log.warning("%s", prepared.warning)
        found.append((prepared, path))
    return found
