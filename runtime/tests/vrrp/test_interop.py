"""tandemd and keepalived 2.2.7 in one VRRP group on lab hosts: every failover direction, both ways.

Each case checks who holds the VIP (netlink), that the new master announced it (GARP or unsolicited
NA in a capture at the switch) and that after convergence only one host sends live adverts.
"""

from __future__ import annotations

import time
from dataclasses import replace

import pytest
from peer_pair import Pair
from scapy.layers.inet import IP
from scapy.layers.inet6 import ICMPv6ND_NA, IPv6
from scapy.layers.l2 import ARP
from scapy.layers.vrrp import VRRP, VRRPv3
from tandemlab.polling import wait_for
from vrrp_lab import Group, start

pytestmark = [pytest.mark.lab, pytest.mark.interop, pytest.mark.slow]

V4 = ("198.51.100.100/24",)
V6 = ("2001:db8::100/64",)


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
    Pair(make_lab(2), MATRIX["v3-ipv4-multicast"], tmp_path).nopreempt_both_ways("keepalived")


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


VMAC = "00:00:5e:00:01:33"  # the virtual router MAC of VRID 51 (RFC 5798 §7.3)


def igmp_from(packets, host) -> set[str]:
    """Ethernet sources of IGMP (IP protocol 2) frames ``host`` sent."""
    return {p.src for _, p in packets if p.sniffed_on == host.name and IP in p and p[IP].proto == 2}


def sources(packets, host) -> tuple[set[str], set[str]]:
    """The Ethernet sources of ``host``'s live adverts, and the sender MACs of its GARPs."""
    adverts, garps = set(), set()
    for _, pkt in packets:
        if pkt.sniffed_on != host.name:
            continue
        layer = pkt.payload.payload
        if isinstance(layer, VRRP | VRRPv3) and layer.priority > 0:
            adverts.add(pkt.src)
        elif ARP in pkt and pkt[ARP].psrc == pkt[ARP].pdst:
            garps.add(pkt[ARP].hwsrc)
        elif ICMPv6ND_NA in pkt:
            garps.add(pkt.src)
    return adverts, garps


@pytest.mark.parametrize("xmit_base", [False, True], ids=["vmac", "vmac-xmit-base"])
def test_interop_use_vmac_both_ways(make_lab, tmp_path, xmit_base):
    """use_vmac on both sides: the VIP lives on vrrp.51 with the virtual MAC, adverts and GARPs carry it
    (with vmac_xmit_base adverts leave the base interface with its own MAC), failover both ways, and
    tandemd removes its vmac and restores eth0's ARP sysctls when it stops."""
    options = ("use_vmac", "vmac_xmit_base") if xmit_base else ("use_vmac",)
    pair = Pair(make_lab(2), replace(MATRIX["v3-ipv4-multicast"], options=options), tmp_path)
    h1, h2 = pair.h1, pair.h2
    sysctl = "/proc/sys/net/ipv4/conf/eth0/"
    before = h1.run(["cat", sysctl + "arp_ignore", sysctl + "arp_filter"]).stdout
    pair.run(h2, "keepalived", 100)
    assert wait_for(lambda: pair.sole_holder(h2), pair.timeout)
    igmp = pair.lab.capture("igmp", [h1])
    seen = pair.rejoin(h1, "tandemd", 150, holder=h1)
    adverts, garps = sources(seen, h1)
    eth0 = h1.run(["cat", "/sys/class/net/eth0/address"]).stdout.strip()
    assert adverts == ({eth0} if xmit_base else {VMAC}) and garps == {VMAC}
    link = h1.run(["ip", "-d", "-o", "link", "show", "vrrp.51"]).stdout
    assert VMAC in link and "macvlan mode private" in link
    assert "198.51.100.100/24" in h1.run(["ip", "-o", "addr", "show", "dev", "vrrp.51"]).stdout
    assert h1.run(["cat", sysctl + "arp_ignore", sysctl + "arp_filter"]).stdout == "1\n1\n"
    vmac_sysctl = "/proc/sys/net/ipv4/conf/vrrp.51/"
    keys = ("arp_ignore", "accept_local", "rp_filter")
    assert h1.run(["cat", *(vmac_sysctl + k for k in keys)]).stdout == "1\n1\n0\n"
    # the vmac sends no IGMP: a report from the virtual MAC would move it to a backup's switch port
    assert VMAC not in igmp_from(igmp.stop(), h1)
    assert "vrrp.51" in h1.run(["nft", "list", "set", "inet", "tandem_vrrp", "vmacs"]).stdout
    # h2 reaches the VIP; h1 answers ARP for it with the virtual MAC only (eth0 keeps quiet)
    capture = pair.lab.capture("arp", [h1])
    h2.run(["ping", "-c", "1", "-W", "1", "198.51.100.100"])
    replies = {p[ARP].hwsrc for _, p in capture.stop() if p[ARP].op == 2 and p[ARP].psrc == "198.51.100.100"}
    assert replies == {VMAC}
    # SIGTERM tandemd: keepalived takes over; the vmac is gone, eth0's sysctls are back
    seen = pair.failover("term", h1, h2)
    assert sources(seen, h2)[1] == {VMAC}
    assert h1.run(["ip", "link", "show", "vrrp.51"], check=False).returncode != 0
    assert h1.run(["cat", sysctl + "arp_ignore", sysctl + "arp_filter"]).stdout == before
    # tandemd back as backup, keepalived killed: tandemd takes over through its vmac again
    pair.rejoin(h1, "tandemd", 50, holder=h2)
    seen = pair.failover("kill", h2, h1)
    assert sources(seen, h1)[1] == {VMAC}


def test_interop_use_vmac_ipv6(make_lab, tmp_path):
    """IPv6 use_vmac: adverts and unsolicited NAs carry 00:00:5e:00:02:VRID, adverts come from the base
    interface's link-local address (RFC 5798 §7.4), the vmac has no address of its own generated."""
    vmac6 = "00:00:5e:00:02:33"
    pair = Pair(make_lab(2), replace(MATRIX["v3-ipv6-multicast"], options=("use_vmac",)), tmp_path)
    h1, h2 = pair.h1, pair.h2
    pair.run(h2, "keepalived", 100)
    assert wait_for(lambda: pair.sole_holder(h2), pair.timeout)
    seen = pair.rejoin(h1, "tandemd", 150, holder=h1)
    assert sources(seen, h1) == ({vmac6}, {vmac6})
    base = h1.run(["ip", "-6", "-o", "addr", "show", "dev", "eth0", "scope", "link"]).stdout.split()[3]
    vmac_addresses = h1.run(["ip", "-6", "-o", "addr", "show", "dev", "vrrp.51"]).stdout
    assert base in vmac_addresses and vmac_addresses.count("scope link") == 1
    from_h1 = {p[IPv6].src for _, p in seen if p.sniffed_on == "h1" and VRRPv3 in p}
    assert from_h1 == {base.split("/")[0]}
    seen = pair.failover("term", h1, h2)
    assert sources(seen, h2)[1] == {vmac6}
    assert h1.run(["ip", "link", "show", "vrrp.51"], check=False).returncode != 0


def answers_ping(host, address: str) -> bool:
    return host.run(["ping", "-c", "1", "-W", "1", address], check=False).returncode == 0


PROTECTION = {
    "accept": (("accept",), ()),
    "no_accept": (("no_accept",), ()),
    "vrrp_strict": ((), ("vrrp_strict",)),
}


@pytest.mark.parametrize("mode", PROTECTION, ids=PROTECTION)
def test_interop_vip_protection(make_lab, tmp_path, mode):
    """A Master not in accept mode (no_accept, or vrrp_strict's default) does not answer traffic to its
    VIP (nftables table inet tandem_vrrp), one in accept mode does; keepalived, configured the same,
    interoperates and protects its VIP the same way; the table goes when tandemd stops."""
    options, global_options = PROTECTION[mode]
    group = replace(MATRIX["v3-ipv4-multicast"], options=options, global_options=global_options)
    pair = Pair(make_lab(2), group, tmp_path)
    h1, h2 = pair.h1, pair.h2
    protected = mode != "accept"
    pair.run(h2, "keepalived", 100)
    assert wait_for(lambda: pair.sole_holder(h2), pair.timeout)
    assert answers_ping(h1, pair.address) is not protected  # keepalived's own protection
    pair.rejoin(h1, "tandemd", 150, holder=h1)
    assert answers_ping(h2, pair.address) is not protected
    table = h1.run(["nft", "list", "table", "inet", "tandem_vrrp"], check=False)
    assert (table.returncode == 0) is protected
    if protected:
        assert "198.51.100.100" in table.stdout
    # SIGTERM tandemd: keepalived takes over, the table is gone
    pair.failover("term", h1, h2)
    assert h1.run(["nft", "list", "table", "inet", "tandem_vrrp"], check=False).returncode != 0
    # tandemd back as backup, keepalived killed: tandemd takes over and protects again
    pair.rejoin(h1, "tandemd", 50, holder=h2)
    if protected:  # once tandemd runs (its table exists), the VIP is not in the set: it is not Master
        listing = ["nft", "list", "set", "inet", "tandem_vrrp", "vips4"]
        assert wait_for(lambda: h1.run(listing, check=False).returncode == 0, pair.timeout)
        assert "198.51.100.100" not in h1.run(listing).stdout
    pair.failover("kill", h2, h1)
    assert answers_ping(h2, pair.address) is not protected
