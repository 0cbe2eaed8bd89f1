"""Reading the config file in a daemon process: one rule at start and at reload, in every process.

Findings are logged (errors as errors, the rest as warnings). A config with errors is refused: at
start the process does not start, at reload the running config stays in place.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from tandem.config import ConfigSource
    from tandem.config.model import Config
    from tandem.control.protocol import ReloadOutcome

log = logging.getLogger("tandem")
Prepared = TypeVar("Prepared")


def errors_of(result) -> list[str]:
    """Log a load result's findings; return the errors as ``file:line: error: message``."""
    for finding in result.findings:
        (log.error if finding.severity == "error" else log.warning)("%s", finding)
    return [str(f) for f in result.errors]


def load_at_start(source: ConfigSource, dump: bool = False) -> Config | None:
    """The config of ``source``, or None when it has errors (logged): tandemd does not start. ``dump``
    (``-d``): the config is logged too, line by line, secrets masked."""
    result = source.load()
    if errors := errors_of(result):
        log.error("%s: not started, %d error(s) in the configuration", source, len(errors))
        return None
    if dump:
        from tandem.config.dump import dump_config, mask_secret_lines
        from tandem.inventory.report import MASK  # secrets look the same in plans, diffs and the log

        for line in mask_secret_lines(dump_config(result.config), MASK).splitlines():
            log.info("config: %s", line)
    return result.config


def load_for_reload(source: ConfigSource) -> Config | ReloadOutcome:
    """The config of ``source``, or the refusal of the reload when it has errors (logged)."""
    from tandem.control.protocol import ReloadOutcome  # not at start: the supervisor loads before asyncio

    log.info("reloading %s", source)
    result = source.load()
    if errors := errors_of(result):
        log.error("reload refused: %d error(s); still running the previous configuration", len(errors))
        return ReloadOutcome(False, tuple(errors))
    return result.config


async def load_off_loop(
    source: ConfigSource, prepare: Callable[[Config], Prepared]
) -> tuple[Config, Prepared] | tuple[ReloadOutcome, None]:
    """A reload's new config and ``prepare(config)`` (the VRRP plan, the load balancer's resolved
    virtual servers), or the refusal and None; read, checked and prepared in a worker thread, not on
    the event loop, which keeps sending adverts and running checks meanwhile (the GIL changes hands
    every 5 ms). At the first reload the imports alone took 200 ms of the VRRP loop at load 12 (a
    backup 361 ms of Master_Down_Interval away took over during the fault matrix's 100 reloads); a
    checker config of 5,000 real servers takes ~1 s to parse. The thread runs at normal priority even
    in a realtime child (SCHED_RESET_ON_FORK, tandem.daemon.scheduling: threads are reset too), so a
    long parse cannot meet the RLIMIT_RTTIME kill."""
    import asyncio

    from tandem.control.protocol import ReloadOutcome

    def work():
        new = load_for_reload(source)
        return (new, None) if isinstance(new, ReloadOutcome) else (new, prepare(new))

    return await asyncio.to_thread(work)
