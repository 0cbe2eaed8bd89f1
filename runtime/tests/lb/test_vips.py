"""AddressMonitor in a lab namespace: the state of each watched address at start, then every change."""

from __future__ import annotations

import sys

import pytest
from tandemlab.polling import wait_for

pytestmark = [pytest.mark.lab]

MONITOR = r"""
import asyncio, ipaddress, sys
from tandem.lb.vips import AddressMonitor
out = open(sys.argv[1], "a", buffering=1)
watched = [ipaddress.ip_address(a) for a in sys.argv[2:]]
asyncio.run(AddressMonitor(watched, lambda a, local: out.write(f"{a} {local}\n")).run())
"""


def test_addresses_local_or_not_as_they_come_and_go(make_lab, tmp_path):
    (host,) = make_lab(1).hosts
    host.ip("addr", "add", "203.0.113.100/32", "dev", "eth0")
    log = tmp_path / "events"
    log.touch()
    host.spawn([sys.executable, "-c", MONITOR, str(log), "203.0.113.100", "2001:db8:5::1", "203.0.113.101"])

    def lines() -> list[str]:
        return log.read_text().splitlines()

    initial = ["203.0.113.100 True", "203.0.113.101 False", "2001:db8:5::1 False"]
    assert wait_for(lambda: len(lines()) >= 3), lines()
    assert lines() == initial
    host.ip("addr", "add", "2001:db8:5::1/128", "dev", "eth0", "nodad")
    host.ip("addr", "add", "203.0.113.102/32", "dev", "eth0")  # not watched
    host.ip("addr", "del", "203.0.113.100/32", "dev", "eth0")
    host.ip("addr", "add", "203.0.113.101/32", "dev", "lo")
    expected = [*initial, "2001:db8:5::1 True", "203.0.113.100 False", "203.0.113.101 True"]
    assert wait_for(lambda: len(lines()) >= len(expected)), lines()
    assert lines() == expected
