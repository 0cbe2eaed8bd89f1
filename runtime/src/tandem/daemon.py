"""``tandemd`` process wiring: load the config, run the VRRP instances, stop cleanly on SIGTERM/SIGINT.

A clean stop sends each Master's priority-0 advert before removing its addresses, so a backup
takes over after Skew_Time instead of Master_Down_Interval.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import logging.handlers
import os
import signal
import sys
from pathlib import Path

log = logging.getLogger("tandem")


def _setup_logging(args: argparse.Namespace) -> None:
    if args.log_console or not Path("/dev/log").exists():
        handler: logging.Handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s tandemd[%(process)d]: %(message)s"))
    else:
        handler = logging.handlers.SysLogHandler(address="/dev/log")
        handler.setFormatter(logging.Formatter("tandemd[%(process)d]: %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.DEBUG if args.log_detail else logging.INFO)


def _load(path: str):
    """The config's VRRP instances as :class:`InstanceParams`, or None after logging why not."""
    from tandem.config import load_config
    from tandem.vrrp.params import params_from_config

    result = load_config(path)
    errors = 0
    for finding in result.findings:
        (log.error if finding.severity == "error" else log.warning)("%s", finding)
        errors += finding.severity == "error"
    if errors or result.config is None:
        log.error("%s: not started, %d error(s) in the configuration", path, errors)
        return None
    return [params_from_config(result.config, instance) for instance in result.config.vrrp_instances]


async def _serve(params) -> int:
    from tandem.vrrp.driver import Driver, DriverError

    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    loop.add_signal_handler(signal.SIGHUP, lambda: log.warning("reload not supported yet: SIGHUP ignored"))
    driver = Driver(params)
    try:
        await driver.start()
    except (DriverError, OSError) as error:
        log.error("cannot start: %s", error)
        return 1
    log.info("running %d VRRP instance(s)", len(params))
    await stopping.wait()
    log.info("stopping")
    await driver.stop()
    return 0


def run_daemon(args: argparse.Namespace) -> int:
    _setup_logging(args)
    params = _load(args.config)
    if params is None:
        return 1
    pidfile = Path(args.pidfile) if args.pidfile else None
    if pidfile is not None:
        pidfile.write_text(f"{os.getpid()}\n")
    try:
        return asyncio.run(_serve(params))
    finally:
        if pidfile is not None:
            pidfile.unlink(missing_ok=True)
