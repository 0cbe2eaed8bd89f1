"""tandemd and FRR's vrrpd 8.4 (an implementation that shares no code or history with keepalived) in one
VRRP group on lab hosts: every failover direction, both ways, VRRPv3 IPv4 and IPv6 and VRRPv2.

FRR keeps its VIPs on a macvlan with the virtual MAC and puts it in protodown when not Master
(:mod:`tandemlab.frr`); who holds the VIP is read over netlink as "on an interface up with carrier".
Each step also checks, in a capture at the switch, that the new Master announced the VIP and that only
it sends live adverts once settled; a takeover after a SIGKILL is never earlier than
3 × Advertisement_Interval after the last advert of the killed Master (the measured gaps are printed).
"""

from __future__ import annotations

import ipaddress
import time

import pytest
from peer_pair import Pair, adverts
from tandemlab import frr
from tandemlab.polling import wait_for
from vrrp_lab import Group

pytestmark = [
    pytest.mark.lab,
    pytest.mark.interop,
    pytest.mark.slow,
    pytest.mark.skipif(not frr.available(), reason="FRR (Debian package frr) is not installed"),
]

V4 = ("198.51.100.100/24",)
V6 = ("2001:db8::100/64",)

GROUPS = {
    "v3-ipv4": Group(version=3, vips=V4),
    "v3-ipv6": Group(version=3, vips=V6),
    "v2-ipv4": Group(version=2, advert_int=1, vips=V4),  # FRR: VRRPv2 without authentication
    # tandemd's VIP on its own macvlan with the virtual MAC too (keepalived's private mode, FRR's bridge)
    "v3-ipv4-use_vmac": Group(version=3, vips=V4, options=("use_vmac",)),
}


@pytest.fixture
def make_pair(make_lab, tmp_path):
    pairs: list[Pair] = []

    def make(group: Group) -> Pair:
        pair = Pair(make_lab(2), group, tmp_path)
        pairs.append(pair)
        return pair

    yield make
    for pair in pairs:  # before the labs close: FRR's daemons stop, its logs are kept in tmp_path
        pair.close()


def takeover_gap(packets, victim, winner) -> float:
    """Seconds from the victim's last live advert to the winner's first one after it."""
    sent = [(ts, host) for ts, host, layer in adverts(packets) if layer.priority > 0]
    last = max(ts for ts, host in sent if host == victim.name)
    return min(ts for ts, host in sent if host == winner.name and ts > last) - last


def goodbye_sent(packets, host) -> bool:
    """Whether ``host`` sent a priority-0 advert (RFC 5798 §6.4.3: a Master that shuts down)."""
    return any(h == host.name and layer.priority == 0 for _, h, layer in adverts(packets))


def check_kill(pair: Pair, victim, winner, gaps: list[float]) -> None:
    seen = pair.failover("kill", victim, winner)
    gap = takeover_gap(seen, victim, winner)
    gaps.append(gap)
    trace = [(round(ts % 100, 3), h, layer.priority) for ts, h, layer in adverts(seen)]
    assert gap >= 3 * pair.group.advert_int - 0.01, f"{winner.name} took over after {gap:.3f} s: {trace}"


@pytest.mark.parametrize("group", GROUPS.values(), ids=GROUPS.keys())
def test_frr_failover_both_ways(make_pair, group):
    pair = make_pair(group)
    h1, h2 = pair.h1, pair.h2
    gaps: list[float] = []
    pair.run(h2, "frr", 100)
    assert wait_for(lambda: pair.sole_holder(h2), pair.timeout)
    # tandemd joins with a higher priority and preempts FRR (whose macvlan goes into protodown)
    pair.rejoin(h1, "tandemd", 150, holder=h1)
    # SIGKILL tandemd (Master): FRR takes over after Master_Down_Interval
    check_kill(pair, h1, h2, gaps)
    # tandemd restarts as Backup (clearing its stale VIP); FRR stays Master
    pair.rejoin(h1, "tandemd", 50, holder=h2)
    # SIGTERM FRR's vrrpd: its priority-0 advert hands over to tandemd
    assert goodbye_sent(pair.failover("term", h2, h1), h2)
    # FRR returns higher and preempts; SIGKILL it: tandemd (Backup) takes over
    pair.rejoin(h2, "frr", 200, holder=h2)
    check_kill(pair, h2, h1, gaps)
    # FRR returns lower (its stale macvlan back in protodown); SIGTERM tandemd: FRR takes over
    pair.rejoin(h2, "frr", 20, holder=h1)
    assert goodbye_sent(pair.failover("term", h1, h2), h1)
    print(f"takeover after SIGKILL (FRR, tandemd), s: {', '.join(f'{g:.3f}' for g in gaps)}")


def test_frr_nopreempt_honoured_both_ways(make_pair):
    make_pair(GROUPS["v3-ipv4"]).nopreempt_both_ways("frr")


def advert_source(packets, host) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """The IP source address of ``host``'s adverts (FRR's IPv6 ones: its macvlan's link-local)."""
    sources = {ipaddress.ip_address(pkt.payload.src) for _, pkt in packets if pkt.sniffed_on == host.name}
    assert len(sources) == 1, sources
    return sources.pop()


@pytest.mark.parametrize("group", [GROUPS["v3-ipv4"], GROUPS["v3-ipv6"]], ids=["v3-ipv4", "v3-ipv6"])
def test_frr_split_brain_heals_to_higher_address(make_pair, group):
    """Equal priorities: the one Master does not lose to the other (no preemption at equal priority);
    with adverts cut both ways both become Master; once healed, the Master with the lower source
    address yields to the higher (RFC 5798 §6.4.3), whichever implementation that is."""
    pair = make_pair(group)
    h1, h2, lab = pair.h1, pair.h2, pair.lab
    pair.run(h2, "frr", 100)
    assert wait_for(lambda: pair.sole_holder(h2), pair.timeout)
    pair.rejoin(h1, "tandemd", 100, holder=h2)
    lab.block(h1, h2)
    lab.block(h2, h1)
    assert wait_for(lambda: pair.serving() == ["h1", "h2"], pair.timeout)
    capture = lab.capture("vrrp or ip6 proto 112")
    time.sleep(3 * group.advert_int)
    packets = capture.stop()
    winner = max((h1, h2), key=lambda host: advert_source(packets, host))
    with pair.watch(winner, announces=False):
        lab.heal()
        assert wait_for(lambda: pair.sole_holder(winner), pair.timeout)


def test_frr_backup_uses_the_masters_interval(make_pair):
    """VRRPv3: a Backup times the Master by the Master's advertised interval, not its own. FRR Master
    at 500 ms, tandemd configured at 100 ms stays Backup (once it heard FRR: no takeover between FRR's
    adverts) and takes
    over no earlier than 3 × 500 ms after FRR crashed; then tandemd Master at 100 ms, FRR (configured
    500 ms) rejoins as Backup and takes over once tandemd crashed."""
    pair = make_pair(GROUPS["v3-ipv4"])
    h1, h2 = pair.h1, pair.h2
    pair.run(h2, "frr", 200, advert_int=0.5)
    assert wait_for(lambda: pair.sole_holder(h2), pair.timeout)
    # tandemd's first Master_Down_Timer is its own (RFC 5798 §6.4.1): it may be Master until it hears FRR
    pair.rejoin(h1, "tandemd", 100, holder=h2)
    log = pair.workdir / "h1-tandemd.log"
    settled = len(log.read_text())
    with pair.watch(h2, announces=False):
        time.sleep(3)
        assert pair.sole_holder(h2)
    assert "Entering MASTER" not in log.read_text()[settled:]
    seen = pair.failover("kill", h2, h1)
    assert takeover_gap(seen, h2, h1) >= 1.5 - 0.01
    pair.rejoin(h2, "frr", 50, holder=h1, advert_int=0.5)
    pair.failover("kill", h1, h2)
