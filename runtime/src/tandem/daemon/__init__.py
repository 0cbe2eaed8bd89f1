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


def setup_logging(log_console: bool, log_detail: bool) -> None:
    """tandemd's log: the console (``-l``, or without /dev/log) or syslog."""
    import logging
    import os

    log = logging.getLogger("tandem")
    if log_console or not os.path.exists("/dev/log"):
        handler: logging.Handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s tandemd[%(process)d]: %(message)s"))
    else:
        import logging.handlers  # with pickle, queue, threading: only for syslog

        handler = logging.handlers.SysLogHandler(address="/dev/log")
        handler.setFormatter(logging.Formatter("tandemd[%(process)d]: %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.DEBUG if log_detail else logging.INFO)


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
