"""Hostile traffic from a third host on the segment, against a real tandemd pair: adverts with TTL ≠ 255,
a wrong password, from a non-peer in unicast mode, for a foreign VRID, with another VIP list are dropped
and counted under their reason in ``stats`` and the metrics; floods of bad and of valid lower-priority
adverts cause no transition, and what the master sends back stays bounded (one answer a second). At
12,000 packets a second the kernel filter keeps bad ones away from the adverts, and what the kernel drops
at a full receive buffer is counted too (queue_full, unread)."""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import pytest
from daemon_lab import GLOBAL, Daemon, instance
from matrix import Run, garps, justified_takeovers, longest_gap, vrrp_adverts
from tandemlab.capture import Capture
from tandemlab.owners import OwnerSampler
from tandemlab.polling import wait_for

pytestmark = [pytest.mark.lab, pytest.mark.slow]

HOSTILE = Path(__file__).resolve().parent / "hostile.py"
VIP = "198.51.100.100/24"
ADDRESS = VIP.split("/")[0]
V2_BODY = """\
    version 2
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass secret
    }"""


def send(host, *batches: dict) -> int:
    batches = [{"src": host.ipv4, "addresses": [ADDRESS], **batch} for batch in batches]
    result = host.run([sys.executable, str(HOSTILE), *map(json.dumps, batches)])
    return int(result.stdout)


def vi_1(daemon) -> dict:
    return next(row for row in daemon.request("stats") if row["name"] == "VI_1")


def drops(daemon) -> dict[str, dict[str, int]]:
    return {row["name"]: row["drops"] for row in daemon.request("stats")}


def metrics(host, port: int) -> str:
    url = f"http://127.0.0.1:{port}/metrics"
    fetch = f"import urllib.request; print(urllib.request.urlopen({url!r}).read().decode())"
    return host.run([sys.executable, "-c", fetch]).stdout


@pytest.fixture
def trio(make_lab, tmp_path):
    lab = make_lab(3)
    h1, h2, _ = lab.hosts
    unicast = f"unicast_src_ip {h1.ipv4}\ncheck_unicast_src\nunicast_peer {{\n    {h2.ipv4}\n}}"
    config = (
        GLOBAL.replace("}", "    tandem_metrics_listen 127.0.0.1:9651\n}")
        + instance(h1, "VI_1", 51, VIP, 150)
        + instance(h1, "VI_2", 52, "198.51.100.102/24", 150, V2_BODY).replace("    advert_int 0.1\n", "", 1)
        + instance(h1, "VI_3", 53, "198.51.100.103/24", 150, unicast)
    )
    d1 = Daemon(h1, tmp_path).start(config)
    assert wait_for(lambda: h1.has_address(ADDRESS) and h1.has_address("198.51.100.102"), 5)
    d2 = Daemon(h2, tmp_path).start(GLOBAL + instance(h2, "VI_1", 51, VIP, 100))
    time.sleep(1.2)  # past the takeover's second GARP burst
    return lab, d1, d2


def test_bad_adverts_are_dropped_and_counted_under_their_reason(trio):
    lab, d1, d2 = trio
    h1, _, h3 = lab.hosts
    transitions = {row["name"]: row["transitions"] for row in d1.request("stats")}
    watch = Watch(lab, d2)
    with watch.sampler:
        high = {"priority": 254, "count": 20, "interval": 0.01}
        sent = send(
            h3,
            {**high, "vrid": 51, "ttl": 254},  # TTL ≠ 255
            {**high, "vrid": 51, "ttl": 1},
            {**high, "vrid": 52, "version": 2, "password": "wrong"},
            {**high, "vrid": 53, "dst": h1.ipv4},  # unicast, but h3 is not VI_3's peer
            {**high, "vrid": 99},  # no instance has it
            {**high, "vrid": 51, "addresses": ["198.51.100.199"]},  # another VIP list
        )
        time.sleep(0.3)
    watch.stop()
    assert sent == 120
    found = drops(d1)
    assert found["VI_1"] == {"ttl": 40, "address_list": 20}, found
    assert found["VI_2"] == {"auth": 20} and found["VI_3"] == {"not_peer": 20}, found
    assert found["(unclaimed)"] == {"vrid": 20}, found
    watch.assert_no_spurious_takeover()
    if watch.takeovers == 0:  # a takeover after real silence (a stalled master) also moves VI_1
        after = {row["name"]: row["transitions"] for row in d1.request("stats")}
        assert {name: after[name] for name in transitions} == transitions
    assert d2.state() == "BACKUP"
    text = metrics(h1, 9651)
    for instance_name, reason, count in [
        ("VI_1", "ttl", 40),
        ("VI_1", "address_list", 20),
        ("VI_2", "auth", 20),
        ("VI_3", "not_peer", 20),
        ("(unclaimed)", "vrid", 20),
    ]:
        line = f'tandem_vrrp_dropped_total{{instance="{instance_name}",reason="{reason}"}} {count:.1f}'
        assert line in text, "\n".join(found for found in text.splitlines() if "dropped" in found)


def raw_socket_drops(host) -> int:
    """Packets the kernel dropped at the host's raw IP protocol 112 sockets (their receive buffers were
    full): ``/proc/net/raw``'s last column."""
    lines = host.run(["cat", "/proc/net/raw"]).stdout.splitlines()[1:]
    return sum(int(line.split()[-1]) for line in lines if line.split()[1].endswith(":0070"))


def kernel_drops(daemon) -> dict[str, int]:
    """What tandemd says the kernel dropped at its full receive buffers: of the candidates (may have been
    adverts: queue_full) and of what its kernel filter set apart (unread)."""
    found = drops(daemon).get("(unclaimed)", {})
    return {reason: found.get(reason, 0) for reason in ("queue_full", "unread")}


class Watch:
    """VIP owners (h1, h2), the switch capture of what they send and what h2's own link heard: a
    takeover by h2 is spurious unless h2 heard nothing from h1 for its Master_Down_Interval (a master
    stalled by this busy machine is silence, not an effect of the hostile traffic)."""

    def __init__(self, lab, backup):
        self.h1, self.h2 = lab.hosts[:2]
        self.backup = backup
        self.capture = lab.capture("vrrp or arp", hosts=[self.h1, self.h2])
        # only h1's: tcpdump must not fall behind a flood from h3 and miss what h2 heard
        self.heard = Capture(self.h2.netns, [self.h2.ifname], f"vrrp and src host {self.h1.ipv4}")
        self.sampler = OwnerSampler([self.h1, self.h2], ADDRESS)
        self.began = time.time()
        self.lost_before = kernel_drops(backup)["queue_full"]

    def stop(self) -> None:
        self.timeline = self.sampler.stop()
        self.packets = self.capture.stop()
        self.received = [  # h1's adverts of VI_1 (not h3's, nor VI_3's)
            (ts, p)
            for ts, p in self.heard.stop()
            if getattr(p.payload, "src", None) == self.h1.ipv4 and getattr(p.payload.payload, "vrid", 0) == 51
        ]
        self.lost = kernel_drops(self.backup)["queue_full"] - self.lost_before
        print(f"h2's kernel dropped {self.lost} candidate packets (receive buffer full)")
        self.run = Run()
        justified_takeovers(self.run, self.timeline, self.packets, self.received, self.began)
        self.justified = int(self.run.notes[-1].split()[0])

    def assert_no_spurious_takeover(self) -> None:
        """No takeover h2 should not have made. If h2's kernel dropped candidates (its filter lets h1's
        adverts through, and floods of valid-looking packets), h2 fell behind (CPU starved on this shared
        machine) and may never have seen some of h1's adverts: a takeover then is reported, not failed."""
        assert self.timeline.owners_at(time.time()) == {"h1"}
        if self.lost:
            print(f"h2 fell behind: {self.run.failures or 'no takeover'}")
        else:
            assert not self.run.failures, self.run.failures
        if self.justified:
            print(f"h2 took over {self.justified} time(s) after real silence from h1 (a stalled master)")

    @property
    def takeovers(self) -> int:
        return self.justified + self.run.spurious


def flood(lab, backup, *batches):
    """Send ``batches`` from h3 while watching; returns what was sent, how long it took, the watch and
    h1's adverts of VI_1 from then on."""
    h3 = lab.hosts[2]
    watch = Watch(lab, backup)
    with watch.sampler:
        began = time.time()
        sent = send(h3, *batches)
        ended = time.time()
        time.sleep(0.5)
    watch.stop()
    h1_adverts = [
        ts for ts, sender, prio in vrrp_adverts(watch.packets, "h1", 51) if prio > 0 and began <= ts
    ]
    return sent, ended - began, watch, h1_adverts, began


def test_floods_of_bad_and_of_valid_adverts_cause_no_transition_and_bounded_replies(trio):
    lab, d1, d2 = trio
    h1 = lab.hosts[0]
    before = {row["name"]: row for row in d1.request("stats")}
    lost_before = raw_socket_drops(h1)
    # bad: TTL 254 and bad checksums at the highest priority, 12,000 in 8 s (at 2,500/s and above the
    # backup of this loaded 2-core machine falls behind: its kernel drops adverts at the socket)
    bad = {"vrid": 51, "priority": 254, "count": 6_000, "seconds": 5, "rate": 1_500}
    sent, seconds, watch, h1_adverts, began = flood(
        lab, d2, {**bad, "ttl": 254}, {**bad, "bad_checksum": True}
    )
    print(f"bad flood: {sent} adverts in {seconds:.2f} s")
    assert sent >= 5_000
    watch.assert_no_spurious_takeover()
    print(f"bad flood: the master's longest advert gap {longest_gap(h1_adverts) * 1000:.0f} ms")
    excused = watch.takeovers or watch.lost  # h2 fell behind or h1 really fell silent: reported above
    found = drops(d1)["VI_1"]
    # every one is counted, or was dropped by the kernel before tandemd could read it (a full buffer)
    counted, lost = found.get("ttl", 0) + found.get("checksum", 0), raw_socket_drops(h1) - lost_before
    print(f"bad flood: {counted} counted by tandemd, {lost} dropped at its socket by the kernel")
    assert counted + lost >= sent and counted > 0, (found, lost, h1.run(["cat", "/proc/net/raw"]).stdout)

    # valid lower-priority adverts: a master answers (advert + GARPs) at most once a second
    valid = {"vrid": 51, "priority": 50, "count": 6_000, "seconds": 5, "rate": 1_500}
    sent, seconds, watch, h1_adverts, began = flood(lab, d2, valid)
    gap = longest_gap(h1_adverts) * 1000
    print(
        f"valid flood: {sent} adverts in {seconds:.2f} s; h1 sent {len(h1_adverts)}, longest gap {gap:.0f} ms"
    )
    assert sent >= 5_000
    watch.assert_no_spurious_takeover()
    window = seconds + 0.5
    answers = math.ceil(window) + 1  # one a second, the first at once
    assert len(h1_adverts) <= window / 0.1 + answers + 2, "unbounded advert answers"
    garp_times = [ts - began for ts, p in watch.packets if ts >= began and "h1" in garps([(ts, p)])]
    garp_count = len(garp_times)
    assert garp_count >= 5, "the lower-priority adverts were never answered"
    # one burst of 5 a second: an answer sends none within a second of the last answer's second burst
    # (garp_lower_prio_delay is 1 s here; they once came ~10 ms apart, 2 × 5 a second)
    assert garp_count <= 5 * answers, (
        f"{garp_count} GARPs for {sent} adverts: {[round(t, 2) for t in garp_times]}"
    )
    after = {row["name"]: row for row in d1.request("stats")}
    if not watch.takeovers:
        assert after["VI_1"]["transitions"] == before["VI_1"]["transitions"]
    excused = excused or watch.takeovers or watch.lost
    became = vi_1(d2)["became_master"]
    assert became == 0 or excused, f"h2 became master {became} times"
    print(f"h2 became master {became} times over both floods")


def test_floods_at_12000_a_second_neither_hide_nor_delay_the_masters_adverts(trio):
    """The finding: ~12,000 bad adverts a second filled the backup's receive buffer, the master's adverts
    were lost behind them (or unread: the read before a takeover took 256 packets) and it took over. Now
    TTL 254 and foreign VRIDs never reach the socket the adverts queue on (so none of them is lost there,
    and the reading of the rest is paced), bad checksums and valid lower-priority adverts do but are read
    in full before a takeover; every packet is counted, the kernel's drops included."""
    lab, _, d2 = trio
    h2 = lab.hosts[1]
    flood_rate = {"count": 36_000, "seconds": 3, "rate": 12_000}
    before, raw_before = kernel_drops(d2), raw_socket_drops(h2)
    reasons_before = drops(d2)
    sent, seconds, watch, h1_adverts, _ = flood(
        lab,
        d2,
        {**flood_rate, "vrid": 51, "priority": 254, "ttl": 254},
        {**flood_rate, "vrid": 99, "priority": 254},
    )
    print(f"rejected flood: {sent} in {seconds:.2f} s ({sent / seconds:.0f}/s)")
    print(f"rejected flood: the master's longest advert gap {longest_gap(h1_adverts) * 1000:.0f} ms")
    watch.assert_no_spurious_takeover()
    after = kernel_drops(d2)
    assert after["queue_full"] == before["queue_full"], "h1's adverts were dropped behind the flood"
    # each was counted by h2 under its reason, or by the kernel as unread (the rest of a paced flood)
    reasons = drops(d2)
    counted = sum(
        reasons[name].get(reason, 0) - reasons_before.get(name, {}).get(reason, 0)
        for name, reason in (("VI_1", "ttl"), ("(unclaimed)", "vrid"))
    )
    unread = after["unread"] - before["unread"]
    print(f"rejected flood: h2 counted {counted} under their reasons, the kernel {unread} unread")
    assert counted > 0 and counted + unread >= sent, (reasons, after)
    reported = sum(after.values()) - sum(before.values())
    assert reported == raw_socket_drops(h2) - raw_before, "tandemd's kernel drops are not /proc/net/raw's"

    for name, batch in (
        ("bad-checksum", {"vrid": 51, "priority": 254, "bad_checksum": True}),
        ("lower-priority", {"vrid": 51, "priority": 50}),
    ):
        sent, seconds, watch, h1_adverts, _ = flood(lab, d2, {**flood_rate, **batch})
        print(f"{name} flood: {sent} in {seconds:.2f} s ({sent / seconds:.0f}/s)")
        print(f"{name} flood: the master's longest advert gap {longest_gap(h1_adverts) * 1000:.0f} ms")
        watch.assert_no_spurious_takeover()
    assert d2.state() == "BACKUP"
    print(f"h2's kernel drops over the floods: {kernel_drops(d2)}")
