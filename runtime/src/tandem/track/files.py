"""FileWatcher: polls one track_file and reports its integer value when it changes."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable

from tandem.config.model import TrackFile

_LEADING_INTEGER = re.compile(r"\s*([-+]?\d+)")


def read_track_file(path: str) -> int:
    """The number at the start of the file, as keepalived reads it; missing, unreadable or no number: 0."""
    try:
        with open(path, encoding="ascii", errors="replace") as handle:
            match = _LEADING_INTEGER.match(handle.read(64))
    except OSError:
        return 0
    return int(match.group(1)) if match else 0


def init_track_file(track_file: TrackFile) -> None:
    """``init_file VALUE [overwrite]``: write VALUE when the file is missing (or always, with overwrite)."""
    if track_file.init_file is None:
        return
    mode = "w" if track_file.init_file_overwrite else "x"
    with contextlib.suppress(FileExistsError), open(track_file.file, mode, encoding="ascii") as handle:
        handle.write(f"{track_file.init_file}\n")


class FileWatcher:
    """``on_value(name, value)`` once at start and then whenever the value read changes."""

    def __init__(
        self, track_file: TrackFile, on_value: Callable[[str, int], None], interval: float = 1.0
    ) -> None:
        self.track_file = track_file
        self.on_value = on_value
        self.interval = interval

    async def run(self) -> None:
        init_track_file(self.track_file)
        last: int | None = None
        while True:
            value = read_track_file(self.track_file.file)
            if value != last:
                last = value
                self.on_value(self.track_file.name, value)
            await asyncio.sleep(self.interval)
