"""static_ipaddress / static_routes in a real tandemd, with keepalived 2.2.7 on the same config as the
reference: held while the VRRP process runs (whatever the instance's state), an address without dev on
default_interface, changed by a reload, removed at stop."""

from __future__ import annotations

import pytest
from daemon_lab import Daemon, instance
from tandemlab.polling import wait_for
from vrrp_lab import start

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def static_config(host, addresses: list[str], routes: list[str]) -> str:
    lines = ["global_defs {", "    vrrp_version 3", "    default_interface side0", "}"]
    lines += ["static_ipaddress {", *(f"    {a}" for a in addresses), "}"]
    lines += ["static_routes {", *(f"    {r}" for r in routes), "}"]
    return "\n".join(lines) + "\n" + instance(host, "VI_1", 51, "198.51.100.100/24", 100)


def held(host) -> tuple[set[str], set[str]]:
    """The statics' addresses ("ADDRESS[ peer PEER] IFNAME") and routes ("[TYPE ]DEST") on ``host``."""
    addresses = set()
    for line in host.run(["ip", "-o", "-4", "addr", "show"]).stdout.splitlines():
        words = line.split()
        if words[3].startswith("198.51.100.2"):
            addresses.add(" ".join([*words[3 : words.index("scope")], words[1]]))
    routes = set()
    for line in host.run(["ip", "-4", "route", "show"]).stdout.splitlines():
        words = line.split()
        kind = words[0] if words[0] in ("blackhole", "unreachable", "prohibit", "throw") else None
        destination = words[1] if kind else words[0]
        if destination.startswith("203.0.113."):
            routes.add(f"{kind} {destination}" if kind else destination)
    return addresses, routes


# the second on default_interface; the third point-to-point
ADDRESSES = [
    "198.51.100.210/24 dev eth0",
    "198.51.100.220/24",
    "198.51.100.240/32 dev eth0 peer 198.51.100.241",
]
ROUTES = [
    "203.0.113.128/25 via 198.51.100.1",
    "203.0.113.64/26 via 198.51.100.1 dev eth0",
    "blackhole 203.0.113.0/27",
]
EXPECTED = (
    {"198.51.100.210/24 eth0", "198.51.100.220/24 side0", "198.51.100.240 peer 198.51.100.241/32 eth0"},
    {"203.0.113.128/25", "203.0.113.64/26", "blackhole 203.0.113.0/27"},
)


@pytest.mark.interop
def test_keepalived_holds_static_entries_as_tandemd_does(make_lab, tmp_path):
    """The reference: keepalived 2.2.7 adds the same addresses and routes, and removes them at stop."""
    (h1,) = make_lab(1).hosts
    h1.ip("link", "add", "side0", "type", "veth", "peer", "name", "side1")
    h1.ip("link", "set", "side0", "up")
    keepalived = start("keepalived", h1, static_config(h1, ADDRESSES, ROUTES), tmp_path)
    assert wait_for(lambda: held(h1) == EXPECTED, 10), held(h1)
    keepalived.stop()
    # all gone but the point-to-point address: keepalived 2.2.7's delete names no peer, so the kernel
    # finds no such address (tandemd's removes it, below)
    left = ({"198.51.100.240 peer 198.51.100.241/32 eth0"}, set())
    assert wait_for(lambda: held(h1) == left, 10), held(h1)


def test_static_entries_held_while_running_changed_by_reload_removed_at_stop(make_lab, tmp_path):
    (h1,) = make_lab(1).hosts
    h1.ip("link", "add", "side0", "type", "veth", "peer", "name", "side1")
    h1.ip("link", "set", "side0", "up")
    daemon = Daemon(h1, tmp_path).start(static_config(h1, ADDRESSES, ROUTES))
    assert wait_for(lambda: held(h1) == EXPECTED, 10), held(h1)
    assert daemon.state() == "BACKUP" or daemon.state() == "MASTER"  # held whatever the state
    # reload: one address and one route go, one of each comes, the unchanged ones stay (lines moved)
    daemon.conf.write_text(
        "# moved down a line\n"
        + static_config(
            h1, ["198.51.100.230/24 dev eth0", ADDRESSES[1]], [ROUTES[0], "203.0.113.32/27 via 198.51.100.1"]
        )
    )
    assert daemon.ctl("reload").returncode == 0
    after = ({"198.51.100.230/24 eth0", "198.51.100.220/24 side0"}, {"203.0.113.128/25", "203.0.113.32/27"})
    assert wait_for(lambda: held(h1) == after, 10), held(h1)
    log = daemon.log_text()
    assert "static address 198.51.100.220/24 removed" not in log  # unchanged: kept through the reload
    assert daemon.stop() == 0
    assert held(h1) == (set(), set())
