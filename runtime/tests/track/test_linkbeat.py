"""linkbeat: linkbeat_interfaces / linkbeat_use_polling in the language, and polled links in real
namespaces (ETHTOOL_GLINK and the interface flags, rtnetlink's events ignored for them). With keepalived
2.2.7 as the peer and the reference: daemon/test_tracking.py."""

from __future__ import annotations

import json
import select
import subprocess
import sys
import textwrap
import time

import pytest
from tandem.config import load_config_text
from tandem.track.links import polled_links

INSTANCE = """\
vrrp_instance VI_{n} {{
    interface {ifname}
    virtual_router_id {n}
    priority 100
    {extra}
    virtual_ipaddress {{
        198.51.100.{n}/24
    }}
}}
"""


def vi(n: int, ifname: str = "eth0", extra: str = "") -> str:
    return INSTANCE.format(n=n, ifname=ifname, extra=extra)


def messages(result) -> list[str]:
    return [f"{f.severity}: {f.message}" for f in result.findings]


def test_the_keywords_and_which_links_are_polled():
    """linkbeat_interfaces entries (with a type or not), the instance's deprecated form, the top-level
    flag; only links something tracks are polled (an instance's own interface is tracked)."""
    text = (
        "linkbeat_interfaces {\n    eth1 ETHTOOL\n    eth2\n    unused0 IOCTL\n}\n"
        + vi(1, "eth0", "linkbeat_use_polling")
        + vi(2, "eth3", "track_interface {\n        eth1\n        eth2\n    }")
        + vi(3, "eth4")
    )
    result = load_config_text(text, "lb.conf")
    assert not result.errors, result.findings
    deprecated = (
        "linkbeat_use_polling in vrrp_instance is deprecated (keepalived); use a linkbeat_interfaces block"
    )
    assert messages(result) == [f"warning: {deprecated}"]
    config = result.config
    assert config.linkbeat_interfaces == (("eth1", "ETHTOOL"), ("eth2",), ("unused0", "IOCTL"))
    watched = {"eth0", "eth1", "eth2", "eth3", "eth4"}
    assert polled_links(config, watched) == {"eth0": "", "eth1": "ETHTOOL", "eth2": ""}
    everywhere = load_config_text("linkbeat_use_polling\n" + vi(3, "eth4") + vi(4, "eth5")).config
    assert everywhere.linkbeat_use_polling is True
    assert polled_links(everywhere, {"eth4", "eth5"}) == {"eth4": "", "eth5": ""}
    assert polled_links(load_config_text(vi(3, "eth4")).config, {"eth4"}) == {}


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ("eth1 FOO", "error: linkbeat_interfaces: extra characters FOO in linkbeat interface"),
        (
            "eth1 ETHTOOL MII",
            "error: linkbeat_interfaces: extra characters ETHTOOL MII in linkbeat interface",
        ),
        ("eth1 MII", "warning: linkbeat eth1 MII: tandemd polls the link with ETHTOOL_GLINK"),
    ],
)
def test_linkbeat_types_as_keepalived_reads_them(block, message):
    result = load_config_text(f"linkbeat_interfaces {{\n    {block}\n}}\n" + vi(1))
    assert any(line.startswith(message) for line in messages(result)), messages(result)


def test_the_dump_round_trips():
    from tandem.config.dump import dump_config

    text = "linkbeat_use_polling\nlinkbeat_interfaces {\n    eth1 IOCTL\n}\n" + vi(
        1, extra="linkbeat_use_polling"
    )
    config = load_config_text(text).config
    dumped = dump_config(config, show_defaults=True)
    again = load_config_text(dumped).config
    assert dump_config(again, show_defaults=True) == dumped
    assert (again.linkbeat_use_polling, again.linkbeat_interfaces) == (True, (("eth1", "IOCTL"),))
    assert again.vrrp_instances[0].linkbeat_use_polling is True
    assert "linkbeat_use_polling off" not in dump_config(load_config_text(vi(2)).config, show_defaults=True)


MONITOR = textwrap.dedent(
    """
    import asyncio, json, sys
    from tandem.track.links import LinkMonitor, probe_link

    def report(name, up):
        print(json.dumps([name, up]), flush=True)

    polled, mode = json.loads(sys.argv[1]), sys.argv[2]
    probe = probe_link if mode == "real" else (lambda sock, name, kind: True)
    asyncio.run(LinkMonitor(sys.argv[3:], report, polled=polled, probe=probe, poll_interval=0.2).run())
    """
)


def read_event(process: subprocess.Popen, limit: float):
    ready, _, _ = select.select([process.stdout], [], [], limit)
    return json.loads(process.stdout.readline()) if ready else None


@pytest.mark.lab
@pytest.mark.parametrize("kind", ["", "ETHTOOL", "IOCTL"])
def test_a_polled_link_follows_its_carrier(make_lab, kind):
    """The peer of a veth taken down: the polled end loses carrier (still administratively up); the next
    poll says so, the one after it comes back up."""
    host = make_lab(1).hosts[0]
    host.ip("link", "add", "lb0", "type", "veth", "peer", "name", "lb1")
    host.ip("link", "set", "lb1", "up")
    host.ip("link", "set", "lb0", "up")
    argv = [sys.executable, "-c", MONITOR, json.dumps({"lb0": kind}), "real", "lb0"]
    monitor = host.spawn(argv, stdout=subprocess.PIPE, bufsize=0)
    try:
        assert read_event(monitor.popen, 10) == ["lb0", True]
        host.ip("link", "set", "lb1", "down")
        assert read_event(monitor.popen, 5) == ["lb0", False]
        host.ip("link", "set", "lb1", "up")
        assert read_event(monitor.popen, 5) == ["lb0", True]
    finally:
        monitor.stop()


@pytest.mark.lab
def test_rtnetlink_events_are_ignored_for_a_polled_link(make_lab):
    """With a probe that always answers up, a polled link taken down is never reported down (its state
    is the poll's, not rtnetlink's), while an unpolled one in the same monitor is."""
    host = make_lab(1).hosts[0]
    for a, b in (("pl0", "pl1"), ("nl0", "nl1")):
        host.ip("link", "add", a, "type", "veth", "peer", "name", b)
        host.ip("link", "set", b, "up")
        host.ip("link", "set", a, "up")
    argv = [sys.executable, "-c", MONITOR, json.dumps({"pl0": ""}), "always-up", "pl0", "nl0"]
    monitor = host.spawn(argv, stdout=subprocess.PIPE, bufsize=0)
    try:
        assert {tuple(read_event(monitor.popen, 10)) for _ in range(2)} == {("pl0", True), ("nl0", True)}
        host.ip("link", "set", "pl0", "down")
        host.ip("link", "set", "nl0", "down")
        assert read_event(monitor.popen, 5) == ["nl0", False]
        until = time.monotonic() + 1.5  # several polls
        while (left := until - time.monotonic()) > 0:
            assert read_event(monitor.popen, left) is None
    finally:
        monitor.stop()
