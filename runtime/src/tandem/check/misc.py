"""MISC_CHECK: run misc_path (no shell) and judge its exit status, as keepalived.

Exit 0: up. With misc_dynamic, 2..255: up with weight status - 2 (0..253); 1 and everything else:
down. Past misc_timeout (default: delay_loop) the script's process group gets SIGTERM, then
SIGKILL, and the check fails. The user and script security are vrrp_script's
(``tandem.notify.scripts.ScriptPolicy``): an insecure script under enable_script_security fails
every check, with the reason.
"""

from __future__ import annotations

import logging
import signal

from tandem.check.result import CheckFailed, CheckResult, Outcome, Stage, bounded
from tandem.config.model import MiscCheck
from tandem.lb.params import CheckParams
from tandem.notify.scripts import KILL_GRACE, ScriptError, run_script

log = logging.getLogger(__name__)
_warned: set[str] = set()  # insecure scripts already logged (script security off)


def outcome(returncode: int, dynamic: bool) -> Outcome:
    if returncode == 0:
        return Outcome(reason="exit status 0")
    if dynamic and 2 <= returncode <= 255:
        return Outcome(reason=f"exit status {returncode}: weight {returncode - 2}", weight=returncode - 2)
    if returncode < 0:
        raise CheckFailed(f"misc_path killed by {signal.Signals(-returncode).name}")
    raise CheckFailed(f"misc_path exit status {returncode}")


async def run(check: CheckParams) -> CheckResult:
    checker: MiscCheck = check.checker  # type: ignore[assignment]
    timeout = checker.misc_timeout or check.delay_loop

    async def probe(stage: Stage) -> Outcome:
        if checker.misc_path is None:
            raise CheckFailed("MISC_CHECK has no misc_path")
        stage.name = "preparing misc_path"
        try:
            prepared = check.script_policy.prepare(checker.misc_path)
        except ScriptError as error:
            raise CheckFailed(str(error)) from None
        if prepared.warning and prepared.warning not in _warned:
            _warned.add(prepared.warning)
            log.warning("%s", prepared.warning)
        stage.name = "running misc_path"
        result = await run_script(prepared, timeout)
        if result.timed_out:
            raise CheckFailed(f"misc_path timed out after {timeout:g} s (process group killed)")
        return outcome(result.returncode, checker.misc_dynamic)

    # run_script enforces misc_timeout itself; the outer bound only backs it up (kill grace included)
    return await bounded(timeout + 2 * KILL_GRACE + 1, probe)
