"""A subsystem's process, ``tandemd --child vrrp|check``: loads the config, runs its service (VRRP's
:class:`~tandem.daemon.service.Service` or the load balancer's :class:`~tandem.lb.service.LbService`),
serves its own control socket (the parent relays to it, metrics included), talks to systemd through
the parent, and handles signals:

SIGTERM/SIGINT stop (each Master sends its priority-0 advert before removing its addresses, so a
backup takes over after Skew_Time), SIGHUP reloads, SIGUSR1 / SIGUSR2 / SIGRTMAX-1 / SIGRTMIN+2 write the
state or counters to a file beside the control socket (``tandemd.data|stats|json`` for VRRP,
``tandemd_check.*`` for the checker: :data:`~tandem.daemon.STATE_SIGNALS`).

Start-up order, for the VRRP child's first advert: it listens for adverts before anything else
(:mod:`tandem.vrrp.early`: its Backups count Master_Down_Interval from then); only what the instances
need is imported before they start (the config model, the service; asyncio without ssl); the config
itself comes from the supervisor (:func:`tandem.daemon.spawn.receive_config`); the control socket and the
rest follow.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import signal

from tandem.daemon import STATE_SIGNALS, LogOptions, import_asyncio_without_tls, setup_logging, signal_of
from tandem.daemon.scheduling import Scheduler, scheduling_of
from tandem.daemon.spawn import (
    EXIT_FATAL,
    PARENT_ENV,
    SUBSYSTEM,
    ChildOptions,
    child_options,
    receive_config,
)

log = logging.getLogger("tandem")
STATE_FILE_STEMS = {"vrrp": "tandemd", "check": "tandemd_check"}
# The checker's young objects (each check in flight holds a few: probe, socket, reader, its heap
# entry; each result lives until the next) are freed by reference counting, never by a cycle
# collection; at Python's default of 700 a collection walked them some 7 times a second at 5,000
# real servers (~5 us of CPU per check, and gen1 passes of up to 12 ms). 20,000: a few a minute.
CHECKER_GC_THRESHOLD = 20_000


def write_state(service, function: str, path: str) -> None:
    """A state signal (:data:`~tandem.daemon.STATE_SIGNALS`): the counters (STATS, STATS_CLEAR), or every
    instance's status and counters (DATA, JSON), as JSON (as ``tandemctl status/stats --json``)."""
    import json

    from tandem.control.server import encode

    parts = {"stats": service.stats()}
    if function in ("DATA", "JSON"):
        parts = {"status": service.status(), **parts}
    state = json.loads(encode(parts))
    with open(path, "w", encoding="utf-8") as file:
        file.write(json.dumps(state, indent=2) + "\n")
    log.info("%s written to %s", "state" if "status" in parts else "counters", path)
    if function == "STATS_CLEAR":
        log.warning("counters not cleared: tandemd keeps its counters for the daemon's life (metrics)")


def _service(options: ChildOptions, config, systemd, early, around_reload, outside_realtime):
    """The child's subsystem: VRRP's Service (hearing what ``early`` heard), or the load balancer;
    each runs its reloads inside ``around_reload()``, the load balancer its plane's work inside
    ``outside_realtime()``."""
    if options.child == "vrrp":
        from tandem.daemon.service import Service

        service = Service(options.source, config, systemd, around_reload)
        service.driver.early = early
        return service
    from tandem.lb.service import LbService

    return LbService(options.source, config, around_reload=around_reload, outside_realtime=outside_realtime)


def _start_errors(options: ChildOptions) -> tuple[type[Exception], ...]:
    """What makes a child's service unable to start, as opposed to a bug: only the checker's plane."""
    if options.child == "vrrp":
        return ()
    from tandem.lb.plane import PlaneError

    return (PlaneError, OSError)


def _running(options: ChildOptions, service) -> str:
    """What the child runs, for the log and systemd's STATUS."""
    if options.child == "vrrp":
        return f"{len(service.driver.units)} VRRP instance(s)"
    return f"{len(service.balancer.virtual_servers)} virtual server(s)"


def _watch_parent() -> int:
    """A pidfd of the supervisor, readable once it has ended (the child then stops as on SIGTERM, so the
    VRRP child sends its priority-0 adverts); exits at once if it has ended already. A pidfd rather than
    PR_SET_PDEATHSIG, which needs ctypes (~0.3 MB of the child's RSS, ~1 ms of its start-up)."""
    parent = os.getppid()
    try:
        pidfd = os.pidfd_open(parent)
    except ProcessLookupError:
        os._exit(1)
    if str(parent) != os.environ.get(PARENT_ENV) or os.getppid() != parent:  # not ours, or gone meanwhile
        os._exit(1)
    return pidfd


async def _serve(options: ChildOptions, config, parent: int, early) -> int:
    """A child's life: its subsystem's service, control socket and signals (the parent relays to them);
    it stops when ``parent`` (the supervisor's pidfd) becomes readable. ``early``: the VRRP child's
    :class:`~tandem.vrrp.early.EarlyListener` (or None)."""
    import asyncio

    from tandem.systemd import SystemdNotifier

    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()

    def parent_gone() -> None:
        loop.remove_reader(parent)
        log.warning("the supervisor has ended: stopping")
        stopping.set()

    loop.add_reader(parent, parent_gone)
    systemd = SystemdNotifier.from_environ()
    scheduler = Scheduler()

    def schedule() -> None:  # global_defs' scheduling keys (tandem.daemon.scheduling)
        scheduler.apply(scheduling_of(service.config.global_defs, options.child), SUBSYSTEM[options.child])

    @contextlib.contextmanager
    def rescheduled():  # around every reload (SIGHUP, or relayed by the parent), as keepalived
        # at normal priority: applying a big plan (a plane transaction at 5,000 real servers takes
        # 30+ ms without blocking) may well exceed a realtime CPU limit; the parse is in a worker
        # thread, at normal priority anyway (tandem.daemon.configfile.load_off_loop)
        scheduler.apply(scheduler.applied._replace(rt_priority=None, nice=None), SUBSYSTEM[options.child])
        try:
            yield
        finally:
            schedule()  # the new config's settings

    service = _service(options, config, systemd, early, rescheduled, scheduler.not_realtime)

    def write_dump(function: str, path: str) -> None:  # a state signal: a big dump is long CPU work
        with scheduler.not_realtime():
            write_state(service, function, path)

    reloads: set[asyncio.Task] = set()

    def reload() -> None:
        task = loop.create_task(service.reload())
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    loop.add_signal_handler(signal.SIGHUP, reload)
    for function, suffix in STATE_SIGNALS.items():
        path = os.path.join(
            os.path.dirname(options.control_socket), f"{STATE_FILE_STEMS[options.child]}.{suffix}"
        )
        loop.add_signal_handler(signal_of(function), write_dump, function, path)
    try:
        await service.start()
        if early is not None:  # at once: no timer of the instances just started may fire before
            service.driver.replay_early()
    except _start_errors(options) as error:  # the load balancer's data plane (keepalived: IPVS init)
        log.error("load balancing cannot start: %s", error)
        await service.stop()
        return 1
    # run_child paused the collector for the start-up, whose objects live as long as the daemon:
    # frozen, no later collection walks them again
    gc.freeze()
    gc.enable()
    if options.child == "check":
        gc.set_threshold(CHECKER_GC_THRESHOLD)
    from tandem.control.server import ControlServer  # after the instances started: not on their way

    vrrp = options.child == "vrrp"
    control = ControlServer(
        options.control_socket, *((service, None) if vrrp else (None, service)), scheduler.not_realtime
    )
    exit_code = 0
    try:
        await control.start()
    except OSError as error:
        log.error("cannot serve the control socket: %s", error)
        exit_code = 1
    watchdog = None
    if exit_code == 0:
        watchdog = loop.create_task(_watchdog(systemd)) if systemd.watchdog_interval else None
        schedule()  # last, as keepalived: the rest of the start-up would count against a realtime limit
        log.info("running %s; control socket %s", _running(options, service), options.control_socket)
        systemd.ready(_running(options, service))
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


def run_child(argv: list[str]) -> int:
    """``tandemd --child ...``: one subsystem's process, from its arguments (written by the supervisor)."""
    early = None
    if argv[1:2] == ["vrrp"]:  # listening first (tandem.vrrp.early): the supervisor's, else its own
        from tandem.vrrp.early import EarlyListener

        early = EarlyListener.inherited() or EarlyListener.open()
    options = child_options(argv)
    parent = _watch_parent()
    # start-up allocates much and frees little: no collections until the instances run (see _serve)
    gc.disable()
    setup_logging(LogOptions.of(options))
    if options.child == "vrrp":
        import_asyncio_without_tls()
    import asyncio

    config = receive_config()  # loaded and checked by the supervisor, which logged the findings
    if config is None:
        return EXIT_FATAL
    return EXIT_FATAL if asyncio.run(_serve(options, config, parent, early)) else 0
