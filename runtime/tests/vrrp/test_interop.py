"""tandemd and keepalived 2.2.7 in one VRRP group on lab hosts: every failover direction, both ways.

Each case checks who holds the VIP (netlink), that the new master announced it (GARP or unsolicited
NA in a capture at the switch) and that after convergence only one host sends live adverts.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import replace

import pytest
from scapy.layers.inet6 import ICMPv6ND_NA
from scapy.layers.l2 import ARP
from scapy.layers.vrrp import VRRP, VRRPv3
from tandemlab.polling import wait_for
from vrrp_lab import Group, holders, start

pytestmark = [pytest.mark.lab, pytest.mark.interop, pytest.mark.slow]

V4 = ("198.51.100.100/24",)
V6 = ("2001:db8::100/64",)


def announced_by(packets, vip: str) -> set[str]:
    """Hosts that sent a GARP or an unsolicited NA for ``vip``."""
    address = vip.split("/")[0]
    found = set()
    for _, pkt in packets:
        if (ARP in pkt and pkt[ARP].psrc == address) or (
            ICMPv6ND_NA in pkt and pkt[ICMPv6ND_NA].tgt == address
        ):
            found.add(pkt.sniffed_on)
    return found


def live_advertisers(packets, since: float) -> set[str]:
    """Hosts that sent adverts with a non-zero priority after ``since`` (wall-clock capture time)."""
    found = set()
    for ts, pkt in packets:
        layer = pkt.payload.payload  # Ether / IP / VRRP: not a VRRP quoted inside an ICMP error
        if isinstance(layer, VRRP | VRRPv3) and ts >= since and layer.priority > 0:
            found.add(pkt.sniffed_on)
    return found


class Pair:
    """h1 and h2 of a lab, each running tandemd or keepalived from the same group config."""

    def __init__(self, lab, group: Group, workdir) -> None:
        self.lab, self.group, self.workdir = lab, group, workdir
        self.h1, self.h2 = lab.hosts
        self.vip = group.vips[0]
        self.address = self.vip.split("/")[0]
        self.procs = {}
        self.timeout = 3 + 5 * group.advert_int

    def run(self, host, kind: str, priority: int, **options) -> None:
        peer = self.h2 if host is self.h1 else self.h1
        self.procs[host.name] = start(
            kind, host, self.group.config(host, [peer], priority, **options), self.workdir
        )

    def sole_holder(self, host) -> bool:
        return holders(self.lab.hosts, self.vip) == [host.name]

    def failover(self, stop: str, victim, winner) -> None:
        """Stop ``victim`` (SIGKILL or SIGTERM): ``winner`` takes over, announces, and is the only master.

        After SIGKILL the victim keeps its stale VIP (keepalived's does too) until it restarts.
        """
        process = self.procs.pop(victim.name)
        with self.watch(winner, announces=True):
            if stop == "kill":
                process.kill()
                assert wait_for(lambda: winner.has_address(self.address), self.timeout)
            else:
                process.terminate()
                assert wait_for(lambda: self.sole_holder(winner), self.timeout)
            process.wait(10)

    def rejoin(self, host, kind: str, priority: int, holder, **options) -> None:
        """Start ``kind`` on ``host``; ``holder`` ends up the only master (preempting when it is ``host``)."""
        with self.watch(holder, announces=holder is host):
            self.run(host, kind, priority, **options)
            assert wait_for(lambda: self.sole_holder(holder), self.timeout)
            time.sleep(3 * self.group.advert_int + 0.3)
            assert self.sole_holder(holder)

    @contextmanager
    def watch(self, winner, announces: bool):
        capture = self.lab.capture("vrrp or ip6 proto 112 or arp or icmp6")
        try:
            yield
            settled = time.time() + self.group.advert_int
            time.sleep(max(0.5, 3 * self.group.advert_int))
        finally:
            packets = capture.stop()
        if announces:
            assert winner.name in announced_by(packets, self.vip)
        assert live_advertisers(packets, settled) == {winner.name}


MATRIX = {
    "v2-ipv4-multicast-pass": Group(version=2, advert_int=1, vips=V4, password="tandem1"),
    "v3-ipv4-multicast": Group(version=3, vips=V4),
    "v3-ipv6-multicast": Group(version=3, vips=V6),
    "v3-ipv4-unicast": Group(version=3, vips=V4, unicast=True),
    "v3-ipv6-unicast": Group(version=3, vips=V6, unicast=True),
}


@pytest.mark.parametrize("group", MATRIX.values(), ids=MATRIX.keys())
def test_interop_failover_both_ways(make_lab, tmp_path, group):
    pair = Pair(make_lab(2), group, tmp_path)
    h1, h2 = pair.h1, pair.h2
    pair.run(h2, "keepalived", 100)
    assert wait_for(lambda: pair.sole_holder(h2), pair.timeout)
    # tandemd joins with a higher priority and preempts keepalived
    pair.rejoin(h1, "tandemd", 150, holder=h1)
    # SIGKILL tandemd (master): keepalived takes over after Master_Down_Interval
    pair.failover("kill", h1, h2)
    # tandemd restarts as backup (clearing its stale VIP); keepalived stays master
    pair.rejoin(h1, "tandemd", 50, holder=h2)
    # SIGTERM keepalived: priority 0, tandemd takes over after Skew_Time
    pair.failover("term", h2, h1)
    # keepalived returns higher and preempts; SIGKILL keepalived: tandemd (backup) takes over
    pair.rejoin(h2, "keepalived", 100, holder=h2)
    pair.failover("kill", h2, h1)
    # keepalived returns lower; SIGTERM tandemd (master): keepalived takes over after Skew_Time
    pair.rejoin(h2, "keepalived", 20, holder=h1)
    pair.failover("term", h1, h2)


def test_interop_nopreempt_honoured_both_ways(make_lab, tmp_path):
    pair = Pair(make_lab(2), MATRIX["v3-ipv4-multicast"], tmp_path)
    h1, h2 = pair.h1, pair.h2
    pair.run(h2, "keepalived", 100)
    assert wait_for(lambda: pair.sole_holder(h2), pair.timeout)
    pair.rejoin(h1, "tandemd", 150, holder=h2, nopreempt=True)
    pair.failover("term", h2, h1)
    pair.rejoin(h2, "keepalived", 200, holder=h1, nopreempt=True)


@pytest.mark.parametrize(
    ("group", "other", "reason"),
    [
        (MATRIX["v2-ipv4-multicast-pass"], {"password": "other1"}, "auth"),
        (MATRIX["v3-ipv4-multicast"], {"vips": ("198.51.100.101/24",)}, "address_list"),
    ],
    ids=["password", "vip-list"],
)
def test_interop_mismatch_rejected_by_both(make_lab, tmp_path, group, other, reason):
    """Like keepalived, tandemd drops adverts whose password or VIP list differs: both become Master."""
    pair = Pair(make_lab(2), group, tmp_path)
    h1, h2 = pair.h1, pair.h2
    theirs = replace(group, **other)
    pair.procs["h2"] = start("keepalived", h2, theirs.config(h2, [h1], 200), tmp_path)
    their_address = theirs.vips[0].split("/")[0]
    assert wait_for(lambda: h2.has_address(their_address), pair.timeout)
    pair.run(h1, "tandemd", 100)
    assert wait_for(lambda: h1.has_address(pair.address), pair.timeout)
    time.sleep(3 * group.advert_int + 0.3)
    assert h1.has_address(pair.address) and h2.has_address(their_address)
    assert f"dropped a packet from {h2.ipv4}: {reason}" in (tmp_path / "h1-tandemd.log").read_text()
    assert "Entering BACKUP" not in (tmp_path / "h2-keepalived.log").read_text().split("Entering MASTER")[-1]
