"""Reading the config file in a daemon process: one rule at start and at reload, in every process.

Findings are logged (errors as errors, the rest as warnings). A config with errors is refused: at
start the process does not start, at reload the running config stays in place.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from tandem.config import load_config

if TYPE_CHECKING:
    from tandem.config.model import Config
    from tandem.control.protocol import ReloadOutcome

log = logging.getLogger("tandem")


def errors_of(result) -> list[str]:
    """Log a load result's findings; return the errors as ``file:line: error: message``."""
    for finding in result.findings:
        (log.error if finding.severity == "error" else log.warning)("%s", finding)
    return [str(f) for f in result.errors]


def load_at_start(path) -> Config | None:
    """The config at ``path``, or None when it has errors (logged): tandemd does not start."""
    result = load_config(path)
    if errors := errors_of(result):
        log.error("%s: not started, %d error(s) in the configuration", path, len(errors))
        return None
    return result.config


def load_for_reload(path) -> Config | ReloadOutcome:
    """The config at ``path``, or the refusal of the reload when it has errors (logged)."""
    from tandem.control.protocol import ReloadOutcome  # not at start: the supervisor loads before asyncio

    log.info("reloading %s", path)
    result = load_config(path)
    if errors := errors_of(result):
        log.error("reload refused: %d error(s); still running the previous configuration", len(errors))
        return ReloadOutcome(False, tuple(errors))
    return result.config
