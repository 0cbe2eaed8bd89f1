"""notify_fifo / vrrp_notify_fifo: one line per event, keepalived's format, never blocking the writer."""

from __future__ import annotations

import contextlib
import logging
import os
import stat

log = logging.getLogger(__name__)


class NotifyFifo:
    """Writes lines like ``INSTANCE "VI_1" MASTER 100`` to a FIFO (created 0600 when missing).

    Opened read-write like keepalived does, so a missing reader neither fails nor blocks; a full
    pipe (a reader that stopped reading) drops the line and counts it in ``dropped``.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.dropped = 0
        with contextlib.suppress(FileExistsError):
            os.mkfifo(path, 0o600)
        if not stat.S_ISFIFO(os.stat(path).st_mode):
            raise ValueError(f"notify fifo {path} exists and is not a FIFO")
        self._fd = os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)

    def write(self, line: str) -> None:
        try:
            os.write(self._fd, line.encode())
        except BlockingIOError:
            self.dropped += 1
            log.warning("notify fifo %s is full: dropped %r", self.path, line.rstrip())

    def close(self) -> None:
        os.close(self._fd)
