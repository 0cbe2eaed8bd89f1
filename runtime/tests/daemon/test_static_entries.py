"""static_ipaddress / static_routes in a real tandemd, with keepalived 2.2.7 on the same config as the
reference: held while the VRRP process runs (whatever the instance's state), an address without dev on
default_interface, changed by a reload, removed at stop."""

from __future__ import annotations

import pytest
from daemon_lab import GLOBAL, Daemon, instance
from tandemlab.polling import wait_for
from vrrp_lab import start

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def static_config(host, addresses: list[str], routes: list[str], rules: tuple[str, ...] = ()) -> str:
    lines = ["global_defs {", "    vrrp_version 3", "    default_interface side0", "}"]
    lines += ["static_ipaddress {", *(f"    {a}" for a in addresses), "}"]
    lines += ["static_routes {", *(f"    {r}" for r in routes), "}"]
    lines += ["static_rules {", *(f"    {r}" for r in rules), "}"] if rules else []
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


def rules(host) -> set[str]:
    """``ip rule`` lines of priorities 100..199 (the tests'), IPv4 and IPv6."""
    found = set()
    for family in ("-4", "-6"):
        for line in host.run(["ip", family, "rule", "show"]).stdout.splitlines():
            priority, _, rest = line.partition(":")
            if 100 <= int(priority) < 200:  # IPv6 rules: the 100s only
                words = rest.split()
                if "proto" in words:  # keepalived marks its rules proto keepalived
                    del words[words.index("proto") : words.index("proto") + 2]
                found.add(f"{priority}: {' '.join(words)}")
    return found


RULES = (
    "from 198.51.100.210/32 table 100 priority 100",
    "from all fwmark 7 table 7 priority 101",
    "from 2001:db8::/64 table 9 priority 102",
    "to 203.0.113.0/24 prohibit priority 103",
)
RULES_SEEN = {
    "100: from 198.51.100.210 lookup 100",
    "101: from all fwmark 0x7 lookup 7",
    "102: from 2001:db8::/64 lookup 9",
    "103: from all to 203.0.113.0/24 prohibit",
}


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
    keepalived = start("keepalived", h1, static_config(h1, ADDRESSES, ROUTES, RULES), tmp_path)
    assert wait_for(lambda: held(h1) == EXPECTED, 10), held(h1)
    assert rules(h1) == RULES_SEEN
    keepalived.stop()
    # all gone but the point-to-point address: keepalived 2.2.7's delete names no peer, so the kernel
    # finds no such address (tandemd's removes it, below)
    left = ({"198.51.100.240 peer 198.51.100.241/32 eth0"}, set())
    assert wait_for(lambda: held(h1) == left, 10), held(h1)
    assert rules(h1) == set()


def test_static_entries_held_while_running_changed_by_reload_removed_at_stop(make_lab, tmp_path):
    (h1,) = make_lab(1).hosts
    h1.ip("link", "add", "side0", "type", "veth", "peer", "name", "side1")
    h1.ip("link", "set", "side0", "up")
    daemon = Daemon(h1, tmp_path).start(static_config(h1, ADDRESSES, ROUTES, RULES))
    assert wait_for(lambda: held(h1) == EXPECTED, 10), held(h1)
    assert rules(h1) == RULES_SEEN
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
    assert rules(h1) == set()  # the reload's config has none
    assert daemon.stop() == 0
    assert held(h1) == (set(), set())


@pytest.mark.interop
def test_virtual_rules_follow_the_master(make_lab, tmp_path):
    """virtual_rules are the Master's, as its VIPs: tandemd's while it is Master, keepalived's once it
    takes over (the same config on both), tandemd's again when it preempts back."""
    lab = make_lab(2)
    h1, h2 = lab.hosts
    body = "virtual_rules {\n    from 198.51.100.100/32 table 100 priority 150\n}"
    config = {
        h: GLOBAL + instance(h, "VI_1", 51, "198.51.100.100/24", p, body) for h, p in ((h1, 150), (h2, 100))
    }
    daemon = Daemon(h1, tmp_path).start(config[h1])
    start("keepalived", h2, config[h2], tmp_path)
    rule = {"150: from 198.51.100.100 lookup 100"}
    assert wait_for(lambda: (rules(h1), rules(h2)) == (rule, set()), 10)
    daemon.stop()
    assert wait_for(lambda: (rules(h1), rules(h2)) == (set(), rule), 10)
    Daemon(h1, tmp_path).start(config[h1])
    assert wait_for(lambda: (rules(h1), rules(h2)) == (rule, set()), 10)
