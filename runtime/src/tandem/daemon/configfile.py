"""Reading the config file in a daemon process: one rule at start and at reload, in every process.

Findings are logged (errors as errors, the rest as warnings). A config with errors is refused: at
start the process does not start, at reload the running config stays in place.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tandem.config import ConfigSource
    from tandem.config.model import Config
    from tandem.control.protocol import ReloadOutcome

log = logging.getLogger("tandem")


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
