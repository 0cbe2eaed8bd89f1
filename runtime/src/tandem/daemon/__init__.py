"""``tandemd`` process wiring. The main process is the :mod:`~tandem.daemon.supervisor`; each subsystem runs
in a child (:mod:`~tandem.daemon.child`, ``tandemd --child vrrp|check``) that loads the config, runs its
service, serves its own control socket (the parent relays to it, metrics included), talks to systemd
through the parent, and handles signals.

This package's import stays light (nothing at module level here): :mod:`tandem.daemon.spawn` starts the
first child before anything heavy is imported, and a child imports only what its start needs before its
instances run.
"""

from __future__ import annotations

import sys
from typing import NamedTuple

# keepalived's signal functions (``--signum``): the signal each is sent as, an offset from it
SIGNAL_FUNCTIONS = {
    "STOP": ("SIGTERM", 0),
    "RELOAD": ("SIGHUP", 0),
    "DATA": ("SIGUSR1", 0),  # state written to a data file
    "STATS": ("SIGUSR2", 0),  # counters written to a stats file
    "STATS_CLEAR": ("SIGRTMAX", -1),  # as STATS, then the counters are cleared
    "JSON": ("SIGRTMIN", 2),  # state written to a JSON file
}


# the signal functions a child answers by writing a state file beside its control socket, named
# tandemd[_check].SUFFIX (keepalived writes /tmp/keepalived.SUFFIX; under systemd /tmp is private to the
# unit, so /run/tandem is where an operator can read them)
STATE_SIGNALS = {"DATA": "data", "STATS": "stats", "STATS_CLEAR": "stats", "JSON": "json"}


def signal_of(function: str) -> int:
    import signal

    name, offset = SIGNAL_FUNCTIONS[function]
    return getattr(signal, name) + offset


def hold_signals() -> list[int]:
    """From now until the supervisor's event loop takes them over, SIGHUP and the state signals (whose
    default action would end the process: a reload sent right after start) are recorded in the list
    returned, to be handled once the loop runs, in order."""
    import signal

    held: list[int] = []
    for signum in (signal.SIGHUP, *map(signal_of, STATE_SIGNALS)):
        signal.signal(signum, lambda number, _frame: held.append(number))
    return held


class LogOptions(NamedTuple):
    """Where tandemd logs (``-l``, ``-D``, ``-S``, ``-G``): the same in the supervisor and its children."""

    console: bool = False
    detail: bool = False
    facility: str = "daemon"
    syslog: bool = True

    @classmethod
    def of(cls, args) -> LogOptions:
        return cls(args.log_console, args.log_detail, args.log_facility, not args.no_syslog)


def setup_logging(options: LogOptions) -> None:
    """tandemd's log: syslog (unless ``-G``) at ``options.facility``, and the console with ``-l`` (or when
    there is no /dev/log to log to); with neither, nothing."""
    import logging
    import os

    log = logging.getLogger("tandem")
    to_syslog = options.syslog and os.path.exists("/dev/log")
    if options.console or (options.syslog and not to_syslog):
        handler: logging.Handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s tandemd[%(process)d]: %(message)s"))
        log.addHandler(handler)
    if to_syslog:
        import logging.handlers  # with pickle, queue, threading: only for syslog

        handler = logging.handlers.SysLogHandler(address="/dev/log", facility=options.facility)
        handler.setFormatter(logging.Formatter("tandemd[%(process)d]: %(message)s"))
        log.addHandler(handler)
    if not log.handlers:
        log.addHandler(logging.NullHandler())
    log.setLevel(logging.DEBUG if options.detail else logging.INFO)


def import_asyncio_without_tls() -> None:
    """Import asyncio without ssl, for the supervisor and the VRRP child, neither of which speaks TLS.

    asyncio imports ssl only for its TLS transports; ssl brings libssl and libcrypto: about 4.5 MB of
    RSS and 8 ms of start-up. With ssl hidden while asyncio loads, asyncio's TLS is off in this process
    (asking for it raises RuntimeError), and ssl itself stays importable for what uses it directly
    (smtp_alert's STARTTLS, in its own thread). The checker child, whose SSL_GET uses asyncio's TLS,
    imports asyncio as usual.
    """
    if "asyncio" in sys.modules or "ssl" in sys.modules:
        return
    sys.modules["ssl"] = None  # type: ignore[assignment]  # `import ssl` raises ImportError
    try:
        import asyncio  # noqa: F401
    finally:
        del sys.modules["ssl"]
