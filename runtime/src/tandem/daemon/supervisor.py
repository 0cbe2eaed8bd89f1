"""tandemd's process model, as keepalived's (core/main.c): a small parent supervising one child per subsystem.

* ``vrrp``: the VRRP :class:`~tandem.daemon.service.Service` (unless ``-C``);
* ``check``: the load balancer, :class:`~tandem.lb.service.LbService` — only when the config has
  virtual_server blocks (or ``-C``), started and stopped by reloads as they come and go.

Each child is ``tandemd --child ROLE`` (a fresh interpreter, its own event loop), so checker load can
never delay an advert. A child stops when its parent ends (it watches the parent through a pidfd:
the VRRP child then sends its priority-0 adverts, as keepalived's does). A child that exits on its own
is restarted — at once the first time, then after 1, 2, 4 … 30 s while it keeps dying within
``STABLE`` seconds of its start — logged and counted (``tandemctl processes``). Before a crashed VRRP
child is restarted, the parent removes the virtual addresses it may have left (no VIP stays owned
without adverts during the back-off).

The parent owns what the outside sees: the control socket (each request is relayed to the child that
serves it over the child's own socket beside it), the pid files (``-p`` its own, ``-r``/``-c`` the
children's), systemd (each child's sd_notify goes to a socket of the parent's; READY=1 when every child
is ready; WATCHDOG=1 only while every child keeps pinging), and the signals: SIGTERM/SIGINT stop the
children and then the parent, SIGHUP reloads (the config is validated here first: a bad one reaches no
child, all keep running), SIGUSR1, SIGUSR2, SIGRTMAX-1 and SIGRTMIN+2 are passed on (each child writes its
own state files: :data:`tandem.daemon.STATE_SIGNALS`). With ``-R`` a child that ends is not restarted:
tandemd stops; with ``--all`` the checker child runs even without virtual servers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tandem.control.protocol import ReloadOutcome
from tandem.control.server import CLIENT_TIMEOUT, NO_LB, ControlServer, until_gone
from tandem.daemon import STATE_SIGNALS, signal_of
from tandem.daemon.spawn import EXIT_FATAL, SUBSYSTEM, Spawned, child_socket, first_role, spawn
from tandem.systemd import SystemdNotifier

log = logging.getLogger("tandem")

STABLE = 30.0  # a child that ran this long before dying is restarted at once
MAX_BACKOFF = 30.0
STOP_TIMEOUT = 10.0  # SIGKILL for a child still running this long after SIGTERM
RELAY_TIMEOUT = 30.0
MAX_ANSWER = 64 << 20  # a child's answer line (lb_status of thousands of real servers is large)
CHILD_COMMANDS = {"lb_status": "check", "lb_stats": "check", "drain": "check"}  # others: vrrp


def supervise(args, first: Spawned, config, held: list[int]) -> int:
    """tandemd's main process, once its first child (``first``) has started with ``config`` (None: the
    file has errors, that child exits); ``held``: signals received meanwhile (hold_signals)."""
    pidfile = Path(args.pidfile) if args.pidfile else None
    if pidfile is not None:
        write_pid_file(pidfile, os.getpid())
    try:
        return asyncio.run(Supervisor(args, first, config).run(held))
    finally:
        if pidfile is not None:
            pidfile.unlink(missing_ok=True)


def write_pid_file(path: Path, pid: int) -> None:
    """Atomically: a reader never sees an empty or half-written pid file (it is replaced on restarts)."""
    part = path.with_name(f".{path.name}.{os.getpid()}")
    part.write_text(f"{pid}\n")
    part.replace(path)


def backoff(restarts_in_a_row: int) -> float:
    """Seconds before restarting a child that died for the ``restarts_in_a_row``-th time without settling."""
    return 0.0 if restarts_in_a_row <= 1 else min(2.0 ** (restarts_in_a_row - 2), MAX_BACKOFF)


@dataclass
class Child:
    role: str
    pidfile: Path | None
    process: subprocess.Popen | None = None
    started: float = 0.0
    ready: bool = False
    status: str = ""
    restarts: int = 0  # over the daemon's life
    in_a_row: int = 0  # deaths without settling, for the back-off
    last_exit: str | None = None
    last_ping: float = 0.0
    notify: socket.socket | None = None
    restart: asyncio.TimerHandle | None = None
    exited: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None and not self.exited.is_set() else None

    def describe(self) -> dict:
        return {
            "role": self.role,
            "pid": self.pid,
            "state": "running" if self.pid else ("restarting" if self.restart else "stopped"),
            "ready": self.ready,
            "since": self.started,
            "restarts": self.restarts,
            "last_exit": self.last_exit,
        }


class Supervisor:
    def __init__(self, args, first: Spawned, config) -> None:
        self.args = args
        self.first = first  # the first child, started before this process imported asyncio
        self.config = config  # the config the children run (sent to each as it starts); None: errors
        self.systemd = SystemdNotifier.from_environ()
        self.only = "vrrp" if args.vrrp_only else "check" if args.check_only else None
        pidfiles = {"vrrp": args.vrrp_pidfile, "check": args.checkers_pidfile}
        self.children = {role: Child(role, Path(p) if p else None) for role, p in pidfiles.items()}
        self.stopping = False
        self.exit_code = 0
        self.announced = False  # READY=1 sent to systemd
        self._done = asyncio.Event()
        self._reload_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task] = set()

    # --- which children ---------------------------------------------------------------------------

    def wanted(self, config) -> set[str]:
        if self.only:
            return {self.only}
        return {"vrrp", "check"} if config.virtual_servers or self.args.all_children else {"vrrp"}

    # --- life cycle -------------------------------------------------------------------------------

    async def run(self, held: list[int]) -> int:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self._done.set)
        loop.add_signal_handler(signal.SIGHUP, self._spawn_task, self.reload)
        for function in STATE_SIGNALS:  # each child writes its own file
            loop.add_signal_handler(signal_of(function), self._pass_on, signal_of(function))
        # the first child started before this loop: its start-up (the VRRP child's first advert) did not
        # wait for ours. A config with errors (logged) made it exit with EXIT_FATAL; then tandemd stops.
        first = first_role(self.args)
        self._adopt(self.children[first], self.first)
        if self.config is not None:
            for role in self.wanted(self.config) - {first}:
                await self._start(self.children[role])
        for signum in held:  # received before this loop handled them
            self._spawn_task(self.reload) if signum == signal.SIGHUP else self._pass_on(signum)
        control = RelayServer(self.args.control_socket, self)
        metrics = None
        try:
            await control.start()
            if self.config is not None and (listen := self.config.global_defs.metrics_listen) is not None:
                # prometheus-client is an optional dependency (extra "metrics"): imported only when asked for
                from tandem.control.metrics import MetricsServer

                metrics = MetricsServer(self.metrics_text, *listen)
                await metrics.start()
                log.info("metrics on http://%s:%d/metrics", metrics.host, metrics.port)
        except (OSError, ImportError) as error:
            log.error("cannot serve the control socket or metrics: %s", error)
            self.exit_code = 1
        watchdog = None
        if self.exit_code == 0:
            if self.systemd.watchdog_interval:
                watchdog = loop.create_task(self._watchdog())
            await self._done.wait()
        log.info("stopping")
        self.systemd.stopping()
        self.stopping = True
        if watchdog is not None:
            watchdog.cancel()
        await control.close()
        if metrics is not None:
            await metrics.close()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.gather(*(self._stop(child) for child in self.children.values()))
        return self.exit_code

    def _spawn_task(self, coroutine_function) -> None:
        task = asyncio.get_running_loop().create_task(coroutine_function())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _start(self, child: Child) -> None:
        self._adopt(child, spawn(self.args, child.role, self.config))

    def _adopt(self, child: Child, spawned: Spawned) -> None:
        """Watch a started child: its sd_notify messages, its end (a pidfd), its pid file."""
        loop = asyncio.get_running_loop()
        child.process, child.notify, child.started = spawned
        child.restart = None
        child.ready = False
        child.exited = asyncio.Event()
        loop.add_reader(child.notify, self._on_notify, child, child.notify)
        pidfd = os.pidfd_open(child.process.pid)
        loop.add_reader(pidfd, self._on_exit, child, pidfd)
        if child.pidfile is not None:
            write_pid_file(child.pidfile, child.process.pid)
        log.info("%s process started, pid %d", SUBSYSTEM[child.role], child.process.pid)

    def _on_exit(self, child: Child, pidfd: int) -> None:
        asyncio.get_running_loop().remove_reader(pidfd)
        os.close(pidfd)
        child.process.wait()  # reaped now: it has ended
        self._close_notify(child)
        child.ready = False
        child.exited.set()
        self._spawn_task(lambda: self._after_exit(child, child.process))

    def _on_notify(self, child: Child, sock: socket.socket) -> None:
        with contextlib.suppress(BlockingIOError):
            while True:
                fields = dict(
                    line.split("=", 1)
                    for line in sock.recv(4096).decode(errors="replace").splitlines()
                    if "=" in line
                )
                child.last_ping = time.monotonic()
                child.status = fields.get("STATUS", child.status)
                if fields.get("READY") == "1" and not child.ready:
                    child.ready = True
                    self._maybe_ready()

    def _maybe_ready(self) -> None:
        running = [c for c in self.children.values() if c.process is not None and c.pid]
        if running and all(c.ready for c in running):
            self.announced = True
            self.systemd.ready("; ".join(f"{c.role}: {c.status}" if c.status else c.role for c in running))

    async def _after_exit(self, child: Child, process: subprocess.Popen) -> None:
        code = process.returncode
        if child.pidfile is not None:
            child.pidfile.unlink(missing_ok=True)
        child.last_exit = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
        if code in (0, -signal.SIGTERM, -signal.SIGINT):
            await asyncio.sleep(0.2)  # told to stop: by a Ctrl-C or stop that reaches us too in a moment?
        if self.stopping or child.process is not process:
            return
        if self.config is not None and child.role not in self.wanted(self.config):
            return
        if code == EXIT_FATAL or self.args.dont_respawn:
            why = "cannot run" if code == EXIT_FATAL else f"ended ({child.last_exit}), not restarted (-R)"
            log.error("%s process %s: tandemd stops", SUBSYSTEM[child.role], why)
            self.exit_code = 1
            self._done.set()
            return
        child.restarts += 1
        settled = time.monotonic() - child.started >= STABLE
        child.in_a_row = 1 if settled else child.in_a_row + 1
        delay = backoff(child.in_a_row)
        log.error(
            "%s process %d ended (%s); restarting it in %.0f s",
            SUBSYSTEM[child.role],
            process.pid,
            child.last_exit,
            delay,
        )
        if child.role == "vrrp" and self.config is not None:
            await release_addresses(self.config)
        loop = asyncio.get_running_loop()
        child.restart = loop.call_later(delay, self._spawn_task, lambda: self._start(child))

    def _close_notify(self, child: Child) -> None:
        if child.notify is not None:
            asyncio.get_running_loop().remove_reader(child.notify)
            child.notify.close()
            child.notify = None

    async def _stop(self, child: Child) -> None:
        if child.restart is not None:
            child.restart.cancel()
            child.restart = None
        if child.pid is None:
            return
        child.process.terminate()
        try:
            await asyncio.wait_for(child.exited.wait(), STOP_TIMEOUT)
        except TimeoutError:
            log.error("%s process %d did not stop: killed", SUBSYSTEM[child.role], child.pid)
            child.process.kill()
            await child.exited.wait()

    def _pass_on(self, signum: int) -> None:
        for child in self.children.values():
            if child.pid and child.ready:
                os.kill(child.pid, signum)
            elif child.pid:  # its handlers may not be there yet: the signal's default would end it
                log.warning(
                    "signal %d (%s) not passed to the starting %s process",
                    signum,
                    signal.strsignal(signum),
                    SUBSYSTEM[child.role],
                )

    async def _watchdog(self) -> None:
        interval = self.systemd.watchdog_interval
        while True:
            # from READY on (pings before it would crowd READY out of systemd's small queue), and only while
            # every ready child keeps pinging: a hung child makes systemd restart the unit (a restarting one
            # does not)
            now = time.monotonic()
            ready = [c for c in self.children.values() if c.pid and c.ready]
            if self.announced and all(now - c.last_ping < 2 * interval for c in ready):
                self.systemd.watchdog()
            await asyncio.sleep(interval)

    # --- reload -----------------------------------------------------------------------------------

    async def reload(self) -> ReloadOutcome:
        """Validate here; only a config without errors reaches the children (each reloads it itself)."""
        from tandem.daemon.configfile import load_for_reload

        async with self._reload_lock:
            config = load_for_reload(self.args.source)
            if isinstance(config, ReloadOutcome):
                return config
            self.systemd.reloading()
            self.config = config
            wanted = self.wanted(self.config)
            outcomes = []
            for role, child in self.children.items():
                if role not in wanted:
                    await self._stop(child)
                elif child.pid is None and child.restart is None:
                    await self._start(child)
                elif child.pid is not None:
                    try:
                        outcomes.append(await self.relay(role, {"cmd": "reload"}))
                    except RelayError as error:  # it died meanwhile: its restart reads the new file
                        outcomes.append({"ok": False, "errors": [str(error)]})
            self.systemd.ready()
            return merged(outcomes)

    # --- relaying ---------------------------------------------------------------------------------

    async def relay(self, role: str, request: dict) -> object:
        """Send one request to the child ``role`` and return its result (raises RelayError)."""
        reader, writer = await self._connect(role)
        try:
            writer.write(json.dumps(request).encode() + b"\n")
            await writer.drain()
            line = await asyncio.wait_for(reader.readline(), RELAY_TIMEOUT)
        except (OSError, TimeoutError, ValueError) as error:  # ValueError: an answer over MAX_ANSWER
            raise RelayError(f"the {SUBSYSTEM[role]} process did not answer: {error}") from error
        finally:
            writer.close()
        response = json.loads(line) if line else {"ok": False, "error": "no answer"}
        if not response.get("ok"):
            raise RelayError(response.get("error", "unknown error"))
        return response["result"]

    async def metrics_text(self) -> str:
        """One scrape: every running child's metrics (their families differ: tandem_vrrp_*, tandem_lb_*)."""
        texts = []
        for role, child in self.children.items():
            if child.pid is not None:
                try:
                    texts.append(await self.relay(role, {"cmd": "metrics"}))
                except RelayError as error:
                    log.warning("metrics of the %s process missing: %s", SUBSYSTEM[role], error)
        return "".join(texts)

    async def _connect(self, role: str):
        child = self.children[role]
        if (
            child.pid is None
            and role == "check"
            and self.config is not None
            and not self.wanted(self.config) & {"check"}
        ):
            raise RelayError(NO_LB)
        if child.pid is None:
            reason = "restarting" if child.restart else "not running"
            raise RelayError(f"the {SUBSYSTEM[role]} process is {reason}")
        try:
            path = child_socket(self.args.control_socket, role)
            return await asyncio.open_unix_connection(path, limit=MAX_ANSWER)
        except OSError as error:
            raise RelayError(f"the {SUBSYSTEM[role]} process is starting ({error.strerror})") from error


class RelayError(Exception):
    """A request could not be relayed to the child that serves it."""


def merged(outcomes: list) -> ReloadOutcome:
    """The children's reload outcomes (JSON dicts) as one."""
    summary: dict[str, list[str]] = {}
    for outcome in outcomes:
        for key, names in outcome.get("summary", {}).items():
            summary.setdefault(key, []).extend(names)
    errors = tuple(e for outcome in outcomes for e in outcome.get("errors", ()))
    return ReloadOutcome(all(o.get("ok") for o in outcomes), errors, summary)


class RelayServer(ControlServer):
    """The public control socket: ``processes`` and ``reload`` answered here, the rest relayed."""

    def __init__(self, path: str, supervisor: Supervisor) -> None:
        super().__init__(path, handler=None)
        self.supervisor = supervisor

    async def _answer(self, command: str, args: dict) -> dict:
        supervisor = self.supervisor
        try:
            if command == "processes":
                return {"ok": True, "result": [c.describe() for c in supervisor.children.values()]}
            if command == "reload":
                return {"ok": True, "result": await supervisor.reload()}
            return {
                "ok": True,
                "result": await supervisor.relay(
                    CHILD_COMMANDS.get(command, "vrrp"), {"cmd": command, **args}
                ),
            }
        except RelayError as error:
            return {"ok": False, "error": str(error)}

    async def _watch(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            child_reader, child_writer = await self.supervisor._connect("vrrp")
        except RelayError as error:
            await self._send(writer, {"ok": False, "error": str(error)})
            return
        gone = asyncio.ensure_future(until_gone(reader, child_writer.close))
        try:
            child_writer.write(b'{"cmd": "watch"}\n')
            await child_writer.drain()
            while line := await child_reader.readline():
                writer.write(line)
                await asyncio.wait_for(writer.drain(), CLIENT_TIMEOUT)
        finally:
            gone.cancel()
            child_writer.close()


async def release_addresses(config) -> None:
    """Remove every virtual address the config's instances may hold (not an address owner's: those are the
    interface's own). What is not there is no error; a missing interface is skipped."""
    from tandem.vrrp.netlink import Netlink
    from tandem.vrrp.params import params_from_config

    netlink = Netlink()
    removed = 0
    try:
        for instance in config.vrrp_instances:
            params = params_from_config(config, instance)
            if params.priority == 255:
                continue
            for vip in (*params.vips, *params.excluded_vips):
                try:
                    index = (await netlink.interface(vip.dev or params.vip_interface)).index
                    netlink.remove_address(vip, index)
                    removed += 1
                except (LookupError, OSError) as error:
                    log.debug("(%s) %s not removed: %s", instance.name, vip.address, error)
    finally:
        netlink.close()
    log.warning("virtual addresses of the ended VRRP process released (%d)", removed)
