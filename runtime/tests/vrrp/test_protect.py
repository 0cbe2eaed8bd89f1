"""VIP protection (tandem.vrrp.protect): the commands, and the table in a real kernel (a lab host).
test_interop.py shows the traffic side: a protected Master does not answer a ping to its VIP."""

from __future__ import annotations

import json
from ipaddress import ip_address

import pytest
from tandem.vrrp.protect import element_commands, skeleton
from tandemlab.worker import Worker


def test_elements_go_to_their_familys_set():
    commands = element_commands("add", [ip_address("198.51.100.1"), ip_address("2001:db8::1")])
    assert [(c["add"]["element"]["name"], c["add"]["element"]["elem"]) for c in commands] == [
        ("vips4", ["198.51.100.1"]),
        ("vips6", ["2001:db8::1"]),
    ]


def test_skeleton_replaces_the_table_and_lets_neighbour_discovery_through():
    commands = skeleton()
    assert [next(iter(c)) for c in commands[:3]] == ["add", "delete", "add"]
    rules = [c["add"]["rule"] for c in commands if "rule" in c.get("add", {})]
    accept, drop = {"accept": None}, {"drop": None}
    assert [(r["chain"], r["expr"][-1]) for r in rules] == [
        *(("in", verdict) for verdict in (accept, drop, drop)),
        *(("out", verdict) for verdict in (drop, drop, accept, drop, drop)),  # vmacs' IGMP/MLD first
    ]


@pytest.mark.lab
def test_table_in_a_real_kernel(make_lab):
    host = make_lab(1).hosts[0]
    host.run(["nft", "add table inet tandem_vrrp; add chain inet tandem_vrrp junk"])  # a crashed run's
    worker = Worker(host)
    try:
        protection = worker.new("tandem.vrrp.protect:VipProtection")
        protection.open()
        listing = json.loads(host.run(["nft", "-j", "list", "table", "inet", "tandem_vrrp"]).stdout)
        chains = {item["chain"]["name"] for item in listing["nftables"] if "chain" in item}
        assert chains == {"in", "out"}
        vips = [ip_address("198.51.100.7"), ip_address("2001:db8::7")]
        protection.block(vips)
        protection.block(vips[:1])  # already blocked: nothing to do
        assert "198.51.100.7" in host.run(["nft", "list", "set", "inet", "tandem_vrrp", "vips4"]).stdout
        assert "2001:db8::7" in host.run(["nft", "list", "set", "inet", "tandem_vrrp", "vips6"]).stdout
        protection.quiet("vrrp.7")
        assert "vrrp.7" in host.run(["nft", "list", "set", "inet", "tandem_vrrp", "vmacs"]).stdout
        protection.quiet("vrrp.7", False)
        assert "vrrp.7" not in host.run(["nft", "list", "set", "inet", "tandem_vrrp", "vmacs"]).stdout
        protection.unblock(vips)
        protection.unblock(vips)  # not blocked any more: nothing to do
        assert "198.51.100.7" not in host.run(["nft", "list", "set", "inet", "tandem_vrrp", "vips4"]).stdout
        protection.close()
        assert host.run(["nft", "list", "table", "inet", "tandem_vrrp"], check=False).returncode != 0
    finally:
        worker.close()
