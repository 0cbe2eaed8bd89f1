"""FILE_CHECK: the number in a track_file decides the real server's state or weight, as keepalived.

With weight 0 (the FILE_CHECK's, else the track_file's): a non-zero value means down (with
``reverse``: zero means down). Otherwise the value times weight (negated with ``reverse``) is added
to the real server's configured weight, clamped to 0..65535, and the server stays up. The file is
read on every check (delay_loop); keepalived watches it with inotify.
"""

from __future__ import annotations

from tandem.check.result import CheckFailed, CheckResult, Outcome, Stage, bounded
from tandem.config.model import FileCheck
from tandem.lb.params import CheckParams
from tandem.track.files import read_track_file

WEIGHT_MAX = 65535


def outcome(value: int, weight: int, reverse: bool, base: int) -> Outcome:
    if weight == 0:
        if (value != 0) != reverse:
            raise CheckFailed(f"track_file value {value}")
        return Outcome(reason=f"track_file value {value}")
    offset = value * weight * (-1 if reverse else 1)
    new = min(max(base + offset, 0), WEIGHT_MAX)
    return Outcome(reason=f"track_file value {value}: weight {new}", weight=new)


async def run(check: CheckParams) -> CheckResult:
    checker: FileCheck = check.checker  # type: ignore[assignment]

    async def probe(stage: Stage) -> Outcome:
        track = check.track_file
        if track is None:
            raise CheckFailed(f"track_file '{checker.track_file}' is not defined")
        stage.name = f"reading {track.file}"
        value = read_track_file(track.file)  # a few bytes of a local file: not worth a thread
        if checker.weight is None:
            return outcome(value, track.weight, track.weight_reverse, check.weight)
        return outcome(value, checker.weight, checker.weight_reverse, check.weight)

    return await bounded(check.connect_timeout, probe)
