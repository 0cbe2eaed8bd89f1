"""The daemon's sd_notify never stalls it: a receiver that stopped reading loses messages instead."""

from __future__ import annotations

import socket
import time

from tandem.systemd import SystemdNotifier


def test_a_full_notify_socket_drops_messages_without_blocking(tmp_path):
    path = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as receiver:
        receiver.bind(path)  # and never read
        notifier = SystemdNotifier.from_environ({"NOTIFY_SOCKET": path})
        started = time.monotonic()
        results = [notifier.watchdog() for _ in range(5000)]
        assert time.monotonic() - started < 30  # a blocking send would hang here forever
        assert results[0] is True and results[-1] is False  # the queue filled up: later ones dropped
        assert receiver.recv(100) == b"WATCHDOG=1\n"
