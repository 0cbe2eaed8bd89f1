"""sd_notify against a real datagram socket, path and abstract."""

from __future__ import annotations

import os
import socket
import time

import pytest
from tandem.systemd import SystemdNotifier


@pytest.fixture(params=["path", "abstract"])
def listener(request, tmp_path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if request.param == "path":
        name = str(tmp_path / "notify")
        sock.bind(name)
    else:
        name = f"@tandem-test-{os.getpid()}-{time.monotonic_ns()}"
        sock.bind("\0" + name[1:])
    sock.settimeout(2)
    yield name, sock
    sock.close()


def test_messages_arrive_as_sd_notify_lines(listener):
    name, sock = listener
    notifier = SystemdNotifier.from_environ({"NOTIFY_SOCKET": name})
    assert notifier.ready(status="2 instances")
    assert sock.recv(4096) == b"READY=1\nSTATUS=2 instances\n"
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    notifier.reloading()
    fields = dict(line.split("=", 1) for line in sock.recv(4096).decode().splitlines())
    assert fields["RELOADING"] == "1" and int(fields["MONOTONIC_USEC"]) >= before
    for send, expected in [
        (notifier.stopping, b"STOPPING=1\n"),
        (notifier.watchdog, b"WATCHDOG=1\n"),
        (lambda: notifier.status("reloaded"), b"STATUS=reloaded\n"),
    ]:
        send()
        assert sock.recv(4096) == expected


def test_a_receiver_that_is_gone_loses_the_message_without_an_error(listener):
    name, sock = listener
    sock.close()
    if not name.startswith("@"):
        os.unlink(name)
    assert SystemdNotifier.from_environ({"NOTIFY_SOCKET": name}).stopping() is False


def test_no_socket_means_nothing_is_sent():
    notifier = SystemdNotifier.from_environ({})
    assert notifier.ready() is False
    assert notifier.watchdog_interval is None


def test_watchdog_interval_is_half_the_timeout_and_only_for_our_pid():
    usec = {"NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "3000000"}
    assert SystemdNotifier.from_environ(usec).watchdog_interval == 1.5
    assert SystemdNotifier.from_environ({**usec, "WATCHDOG_PID": str(os.getpid())}).watchdog_interval == 1.5
    assert SystemdNotifier.from_environ({**usec, "WATCHDOG_PID": "1"}).watchdog_interval is None
