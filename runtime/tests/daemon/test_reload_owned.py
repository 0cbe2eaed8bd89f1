"""A reload reconciles everything a Master instance holds in the kernel, as keepalived 2.2.7 does: the
routes, rules and addresses (virtual_ipaddress and _excluded) the new config drops are removed, those
it changes (label, device, route metric, rule table) are replaced, the rest stay; the instance stays
Master throughout. Real tandemd, real netlink, one lab host."""

from __future__ import annotations

import json
import re

import pytest
from daemon_lab import GLOBAL, Daemon, instance
from tandemlab.polling import wait_for
from vrrp_lab import start

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def owned(host) -> dict[str, set[str]]:
    """What the test's instance can hold on ``host``: addresses of 198.51.100.1xx (with device and
    label), routes to 203.0.113.0/24 (with metric) and rules of priorities 200..299."""
    addresses = set()
    for link in json.loads(host.run(["ip", "-j", "-4", "addr", "show"]).stdout):
        for a in link["addr_info"]:
            if re.fullmatch(r"198\.51\.100\.1\d\d", a["local"]):
                label = a.get("label", link["ifname"])
                shown = [
                    f"{a['local']}/{a['prefixlen']}",
                    link["ifname"],
                    *([label] if label != link["ifname"] else []),
                ]
                addresses.add(" ".join(shown))
    routes = set()
    for line in host.run(["ip", "-4", "route", "show", "table", "all"]).stdout.splitlines():
        words = line.split()
        if words[0].startswith("203.0.113."):
            extra = [f"{k} {words[words.index(k) + 1]}" for k in ("table", "metric") if k in words]
            routes.add(" ".join([words[0], *extra]))
    rules = set()
    for line in host.run(["ip", "-4", "rule", "show"]).stdout.splitlines():
        priority, _, rest = line.partition(":")
        if 200 <= int(priority) < 300:
            rules.add(f"{priority}: {' '.join(rest.split())}")
    return {"addresses": addresses, "routes": routes, "rules": rules}


def config(host, vips: list[str], excluded: list[str], routes: list[str], rules: list[str]) -> str:
    body = ["virtual_ipaddress_excluded {", *(f"    {e}" for e in excluded), "}"]
    body += ["virtual_routes {", *(f"    {r}" for r in routes), "}"]
    body += ["virtual_rules {", *(f"    {r}" for r in rules), "}"]
    text = instance(host, "VI_1", 51, vips[0], 150, "\n".join(body))
    return GLOBAL + text.replace(f"        {vips[0]}\n", "".join(f"        {v}\n" for v in vips))


def test_a_reload_removes_and_replaces_what_a_master_no_longer_holds(make_lab, tmp_path):
    (h1,) = make_lab(1).hosts
    h1.ip("link", "add", "side0", "type", "veth", "peer", "name", "side1")
    h1.ip("link", "set", "side0", "up")
    h1.ip("link", "set", "side1", "up")
    before = config(
        h1,
        ["198.51.100.100/24", "198.51.100.101/24 label eth0:one"],
        ["198.51.100.110/24", "198.51.100.111/24"],
        [
            "203.0.113.0/26 via 198.51.100.1",
            "203.0.113.64/26 via 198.51.100.1 metric 10",
            "203.0.113.128/26 via 198.51.100.1 table 100",
        ],
        [
            "from 198.51.100.100/32 table 100 priority 200",
            "from 198.51.100.101/32 table 100 priority 201",
        ],
    ).replace("eth0", h1.ifname)
    daemon = Daemon(h1, tmp_path).start(before)
    ifname = h1.ifname
    held = {
        "addresses": {
            f"198.51.100.100/24 {ifname}",
            f"198.51.100.101/24 {ifname} {ifname}:one",
            f"198.51.100.110/24 {ifname}",
            f"198.51.100.111/24 {ifname}",
        },
        "routes": {"203.0.113.0/26", "203.0.113.64/26 metric 10", "203.0.113.128/26 table 100"},
        "rules": {"200: from 198.51.100.100 lookup 100", "201: from 198.51.100.101 lookup 100"},
    }
    assert wait_for(lambda: owned(h1) == held, 10), owned(h1)
    transitions = daemon.request("stats")[0]["transitions"]

    # dropped: a route, a rule, an excluded VIP; changed: a label, an excluded VIP's device, a metric,
    # a rule's table; kept: the rest (a route in table 100 among them)
    after = config(
        h1,
        ["198.51.100.100/24", "198.51.100.101/24 label eth0:two"],
        ["198.51.100.110/24 dev side0"],
        ["203.0.113.64/26 via 198.51.100.1 metric 20", "203.0.113.128/26 via 198.51.100.1 table 100"],
        ["from 198.51.100.100/32 table 101 priority 200"],
    ).replace("eth0", ifname)
    daemon.conf.write_text(after)
    result = daemon.ctl("reload")
    assert result.stdout.strip() == "reloaded; changed: VI_1 (vips)", result.stdout + result.stderr
    expected = {
        "addresses": {
            f"198.51.100.100/24 {ifname}",
            f"198.51.100.101/24 {ifname} {ifname}:two",
            "198.51.100.110/24 side0",
        },
        "routes": {"203.0.113.64/26 metric 20", "203.0.113.128/26 table 100"},
        "rules": {"200: from 198.51.100.100 lookup 101"},
    }
    assert wait_for(lambda: owned(h1) == expected, 10), owned(h1)
    assert daemon.state() == "MASTER"
    assert daemon.request("stats")[0]["transitions"] == transitions  # never left MASTER

    assert daemon.stop() == 0
    assert owned(h1) == {"addresses": set(), "routes": set(), "rules": set()}


def static_config(host, addresses: list[str], routes: list[str]) -> str:
    lines = ["static_ipaddress {", *(f"    {a}" for a in addresses), "}"]
    lines += ["static_routes {", *(f"    {r}" for r in routes), "}"]
    return GLOBAL + "\n".join(lines) + "\n" + instance(host, "VI_1", 51, "198.51.100.100/24", 150)


def test_static_entries_are_told_apart_by_all_they_say(make_lab, tmp_path):
    """Two static routes to one destination in two tables are both held (they were one entry, the
    last); a static address whose label a reload changes is replaced."""
    (h1,) = make_lab(1).hosts
    ifname = h1.ifname
    routes = ["203.0.113.0/26 via 198.51.100.1 table 100", "203.0.113.0/26 via 198.51.100.1 table 101"]
    address = f"198.51.100.120/24 dev {ifname} label {ifname}:one"
    daemon = Daemon(h1, tmp_path).start(static_config(h1, [address], routes))
    vip = f"198.51.100.100/24 {ifname}"
    held = {
        "addresses": {vip, f"198.51.100.120/24 {ifname} {ifname}:one"},
        "routes": {"203.0.113.0/26 table 100", "203.0.113.0/26 table 101"},
        "rules": set(),
    }
    assert wait_for(lambda: owned(h1) == held, 10), owned(h1)
    daemon.conf.write_text(static_config(h1, [address.replace(":one", ":two")], routes[1:]))
    assert daemon.ctl("reload").returncode == 0
    after = {
        "addresses": {vip, f"198.51.100.120/24 {ifname} {ifname}:two"},
        "routes": {"203.0.113.0/26 table 101"},
        "rules": set(),
    }
    assert wait_for(lambda: owned(h1) == after, 10), owned(h1)
    assert daemon.stop() == 0
    assert owned(h1) == {"addresses": set(), "routes": set(), "rules": set()}


@pytest.mark.parametrize("daemon", ["tandemd", "keepalived"])
def test_a_static_address_removed_by_someone_else_is_put_back_unless_no_track(make_lab, tmp_path, daemon):
    """keepalived 2.2.7 (the reference) and tandemd on the same config: a static address deleted with ip
    addr del is added again at once; a no_track one stays deleted."""
    (h1,) = make_lab(1).hosts
    ifname = h1.ifname
    addresses = [f"198.51.100.120/24 dev {ifname}", f"198.51.100.121/24 dev {ifname} no_track"]
    config = static_config(h1, addresses, [])
    if daemon == "tandemd":
        Daemon(h1, tmp_path).start(config)
    else:
        start("keepalived", h1, config, tmp_path)
    assert wait_for(lambda: h1.has_address("198.51.100.120") and h1.has_address("198.51.100.121"), 10)
    h1.ip("addr", "del", "198.51.100.121/24", "dev", ifname)
    h1.ip("addr", "del", "198.51.100.120/24", "dev", ifname)
    assert wait_for(lambda: h1.has_address("198.51.100.120"), 5)
    assert not wait_for(lambda: h1.has_address("198.51.100.121"), 1)
