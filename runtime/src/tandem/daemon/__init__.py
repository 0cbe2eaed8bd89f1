"""``tandemd`` process wiring. The main process is the :mod:`~tandem.daemon.supervisor`; each subsystem runs
in a child (``tandemd --child vrrp|check``) that loads the config, runs its service, serves its own control
socket (the parent relays to it, metrics included), talks to systemd through the parent, and handles signals:

SIGTERM/SIGINT stop (each Master sends its priority-0 advert before removing its addresses, so a
backup takes over after Skew_Time), SIGHUP reloads, SIGUSR1 writes the state to a data file beside the
control socket (``tandemd.data`` for VRRP, ``tandemd_check.data`` for the checker; keepalived writes
/tmp/keepalived.data; under systemd /tmp is private to the unit, so /run/tandem is where an operator can
read it).
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import logging.handlers
import os
import signal
import sys
from pathlib import Path

log = logging.getLogger("tandem")
DATA_FILE_NAMES = {"vrrp": "tandemd.data", "check": "tandemd_check.data"}


def _setup_logging(args: argparse.Namespace) -> None:
    if args.log_console or not Path("/dev/log").exists():
        handler: logging.Handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s tandemd[%(process)d]: %(message)s"))
    else:
        handler = logging.handlers.SysLogHandler(address="/dev/log")
        handler.setFormatter(logging.Formatter("tandemd[%(process)d]: %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.DEBUG if args.log_detail else logging.INFO)


def write_state(service, path: Path) -> None:
    """SIGUSR1: every instance's status and counters as JSON (as ``tandemctl status/stats --json``)."""
    from tandem.control.server import encode

    state = json.loads(encode({"status": service.status(), "stats": service.stats()}))
    path.write_text(json.dumps(state, indent=2) + "\n")
    log.info("state written to %s", path)


def _service(args: argparse.Namespace, config, systemd):
    """The child's subsystem: VRRP's Service, or the load balancer (tandem.lb.service)."""
    if args.child == "vrrp":
        from tandem.daemon.service import Service

        return Service(args.config, config, systemd)
    from tandem.lb.service import LbService

    return LbService(args.config, config)


def _start_errors(args: argparse.Namespace) -> tuple[type[Exception], ...]:
    """What makes a child's service unable to start, as opposed to a bug: only the checker's plane."""
    if args.child == "vrrp":
        return ()
    from tandem.lb.plane import PlaneError

    return (PlaneError, OSError)


def _running(args: argparse.Namespace, service) -> str:
    """What the child runs, for the log and systemd's STATUS."""
    if args.child == "vrrp":
        return f"{len(service.driver.units)} VRRP instance(s)"
    return f"{len(service.balancer.virtual_servers)} virtual server(s)"


async def _serve(args: argparse.Namespace, config) -> int:
    """A child's life: its subsystem's service, control socket and signals (the parent relays to them)."""
    import asyncio

    from tandem.control.server import ControlServer
    from tandem.systemd import SystemdNotifier

    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    systemd = SystemdNotifier.from_environ()
    service = _service(args, config, systemd)
    reloads: set[asyncio.Task] = set()

    def reload() -> None:
        task = loop.create_task(service.reload())
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    loop.add_signal_handler(signal.SIGHUP, reload)
    data_file = Path(args.control_socket).parent / DATA_FILE_NAMES[args.child]
    loop.add_signal_handler(signal.SIGUSR1, write_state, service, data_file)
    try:
        await service.start()
    except _start_errors(args) as error:  # the load balancer's data plane (keepalived: IPVS init)
        log.error("load balancing cannot start: %s", error)
        await service.stop()
        return 1
    # tandemd.main paused the collector for the start-up, whose objects live as long as the daemon:
    # frozen, no later collection walks them again
    gc.freeze()
    gc.enable()
    vrrp = args.child == "vrrp"
    control = ControlServer(args.control_socket, *((service, None) if vrrp else (None, service)))
    exit_code = 0
    try:
        await control.start()
    except OSError as error:
        log.error("cannot serve the control socket: %s", error)
        exit_code = 1
    watchdog = None
    if exit_code == 0:
        watchdog = loop.create_task(_watchdog(systemd)) if systemd.watchdog_interval else None
        log.info("running %s; control socket %s", _running(args, service), args.control_socket)
        systemd.ready(_running(args, service))
        await stopping.wait()
    log.info("stopping")
    systemd.stopping()
    if watchdog is not None:
        watchdog.cancel()
    await control.close()
    await asyncio.gather(*reloads, return_exceptions=True)
    await service.stop()
    return exit_code


async def _watchdog(systemd) -> None:
    import asyncio

    while True:
        systemd.watchdog()
        await asyncio.sleep(systemd.watchdog_interval)


def run_daemon(args: argparse.Namespace, first=None) -> int:
    """tandemd's life after its arguments: the supervisor (``first``: its first child, already started),
    or, with ``--child``, one subsystem's process."""
    # asyncio is imported here, not at the top: the package's import must stay light for
    # tandem.daemon.spawn, which starts the first child before anything heavy is imported
    import asyncio

    _setup_logging(args)
    if not args.child:
        return _supervise(args, first)
    from tandem.daemon.supervisor import EXIT_FATAL, die_with_parent

    die_with_parent()
    from tandem.config import load_config
    from tandem.daemon.configfile import errors_of

    result = load_config(args.config)
    if errors := errors_of(result):
        log.error("%s: not started, %d error(s) in the configuration", args.config, len(errors))
        return EXIT_FATAL
    return EXIT_FATAL if asyncio.run(_serve(args, result.config)) else 0


def _supervise(args: argparse.Namespace, first) -> int:
    import asyncio

    from tandem.daemon.spawn import write_pid_file
    from tandem.daemon.supervisor import Supervisor

    pidfile = Path(args.pidfile) if args.pidfile else None
    if pidfile is not None:
        write_pid_file(pidfile, os.getpid())
    gc.enable()  # the supervisor allocates little; the collector pause is for a child's start-up
    try:
        return asyncio.run(Supervisor(args, first).run())
    finally:
        if pidfile is not None:
            pidfile.unlink(missing_ok=True)
