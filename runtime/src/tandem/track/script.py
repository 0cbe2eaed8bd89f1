"""ScriptRunner: runs one vrrp_script every ``interval`` and reports each exit status."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from tandem.config.model import VrrpScript
from tandem.notify.scripts import PreparedScript, run_script


class ScriptRunner:
    """``on_result(name, success)`` after every run; a run past ``timeout`` is killed and is a failure.

    Runs start ``interval`` apart (keepalived's cadence); a run longer than that delays the next one,
    never overlaps it.
    """

    def __init__(
        self, script: VrrpScript, prepared: PreparedScript, on_result: Callable[[str, bool], None]
    ) -> None:
        self.script = script
        self.prepared = prepared
        self.on_result = on_result
        self.timeout = script.timeout if script.timeout is not None else script.interval

    async def run(self) -> None:
        """Until cancelled (cancelling also kills a script that is running)."""
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            result = await run_script(self.prepared, self.timeout)
            self.on_result(self.script.name, result.success)
            await asyncio.sleep(max(0.0, started + self.script.interval - loop.time()))
