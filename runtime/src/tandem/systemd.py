"""systemd integration: sd_notify(3) over ``$NOTIFY_SOCKET`` and the watchdog interval.

A service with ``Type=notify`` (or ``notify-reload``) is ready when it sends ``READY=1``; with
``WatchdogSec=`` it must send ``WATCHDOG=1`` more often than ``$WATCHDOG_USEC``. Names starting with
``@`` are abstract socket names. Without ``$NOTIFY_SOCKET`` every call does nothing.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping


class SystemdNotifier:
    def __init__(self, address: str | None, watchdog_usec: int | None = None) -> None:
        self.address = "\0" + address[1:] if address and address.startswith("@") else address
        self._watchdog_usec = watchdog_usec

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] = os.environ) -> SystemdNotifier:
        usec = environ.get("WATCHDOG_USEC", "")
        pid = environ.get("WATCHDOG_PID", "")
        for_us = not pid or pid == str(os.getpid())
        watchdog = int(usec) if usec.isdigit() and int(usec) > 0 and for_us else None
        return cls(environ.get("NOTIFY_SOCKET") or None, watchdog)

    @property
    def watchdog_interval(self) -> float | None:
        """How often to send WATCHDOG=1 (half the timeout, as sd_watchdog_enabled(3) advises); None: off."""
        return None if self._watchdog_usec is None else self._watchdog_usec / 2e6

    def notify(self, **fields: str | int) -> bool:
        """Send ``KEY=value`` lines (keys upper-cased); False when there is no socket to send to.

        Never blocks and never raises: a receiver whose queue is full, or that is gone (tandemd's supervisor
        died first), loses the message — the daemon must neither stall nor fail on it.
        """
        if not self.address:
            return False
        message = "".join(f"{key.upper()}={value}\n" for key, value in fields.items())
        kind = socket.SOCK_DGRAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK
        with socket.socket(socket.AF_UNIX, kind) as sock:
            try:
                sock.sendto(message.encode(), self.address)
            except OSError:
                return False
        return True

    def ready(self, status: str | None = None) -> bool:
        return self.notify(ready=1, **({"status": status} if status else {}))

    def reloading(self) -> bool:
        # Type=notify-reload needs the monotonic time with RELOADING=1 (systemd.service(5))
        return self.notify(reloading=1, monotonic_usec=time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000)

    def stopping(self) -> bool:
        return self.notify(stopping=1)

    def status(self, text: str) -> bool:
        return self.notify(status=text)

    def watchdog(self) -> bool:
        return self.notify(watchdog=1)
