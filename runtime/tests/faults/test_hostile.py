"""Hostile traffic from a third host on the segment, against a real tandemd pair: adverts with TTL ≠ 255,
a wrong password, from a non-peer in unicast mode, for a foreign VRID, with another VIP list are dropped
and counted under their reason in ``stats`` and the metrics; floods of bad and of valid lower-priority
adverts cause no transition, and what the master sends back stays bounded (one answer a second)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest
from daemon_lab import GLOBAL, Daemon, instance
from matrix import garps, longest_gap, vrrp_adverts
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
    unicast = f"unicast_src_ip {h1.ipv4}\nunicast_peer {{\n    {h2.ipv4}\n}}"
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
    with OwnerSampler(lab.hosts[:2], ADDRESS) as sampler:
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
    timeline = sampler.stop()
    assert sent == 120
    found = drops(d1)
    assert found["VI_1"] == {"ttl": 40, "address_list": 20}, found
    assert found["VI_2"] == {"auth": 20} and found["VI_3"] == {"not_peer": 20}, found
    assert found["(unclaimed)"] == {"vrid": 20}, found
    after = {row["name"]: row["transitions"] for row in d1.request("stats")}
    assert {name: after[name] for name in transitions} == transitions
    assert len(timeline.spans()) == 1 and timeline.owners_at(time.time()) == {"h1"}
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


def flood(lab, d1, d2, *batches):
    """Send ``batches`` from h3 while sampling owners and capturing what h1 sends; returns the figures."""
    h1, h2, h3 = lab.hosts
    capture = lab.capture("vrrp or arp", hosts=[h1, h2])
    with OwnerSampler([h1, h2], ADDRESS) as sampler:
        began = time.time()
        sent = send(h3, *batches)
        ended = time.time()
        time.sleep(0.5)
    timeline = sampler.stop()
    packets = capture.stop()
    h1_adverts = [ts for ts, sender, prio in vrrp_adverts(packets, "h1", 51) if prio > 0 and began <= ts]
    return sent, ended - began, timeline, packets, h1_adverts, began


def test_floods_of_bad_and_of_valid_adverts_cause_no_transition_and_bounded_replies(trio):
    lab, d1, d2 = trio
    h1 = lab.hosts[0]
    before = {row["name"]: row for row in d1.request("stats")}
    lost_before = raw_socket_drops(h1)
    # bad: TTL 254 and bad checksums at the highest priority, 20,000 in 8 s (the flood: 20,000 in 4 s)
    bad = {"vrid": 51, "priority": 254, "count": 10_000, "seconds": 4, "rate": 2_500}
    sent, seconds, timeline, packets, h1_adverts, began = flood(
        lab, d1, d2, {**bad, "ttl": 254}, {**bad, "bad_checksum": True}
    )
    print(f"bad flood: {sent} adverts in {seconds:.2f} s")
    assert sent >= 2_000
    assert len(timeline.spans()) == 1 and timeline.owners_at(time.time()) == {"h1"}
    print(f"bad flood: the master's longest advert gap {longest_gap(h1_adverts) * 1000:.0f} ms")
    assert d2.request("stats")[0]["became_master"] == 0
    found = drops(d1)["VI_1"]
    # every one is counted, or was dropped by the kernel before tandemd could read it (a full buffer)
    counted, lost = found.get("ttl", 0) + found.get("checksum", 0), raw_socket_drops(h1) - lost_before
    print(f"bad flood: {counted} counted by tandemd, {lost} dropped at its socket by the kernel")
    assert counted + lost >= sent and counted > 0, (found, lost, h1.run(["cat", "/proc/net/raw"]).stdout)

    # valid lower-priority adverts: a master answers (advert + GARPs) at most once a second
    sent, seconds, timeline, packets, h1_adverts, began = flood(
        lab, d1, d2, {"vrid": 51, "priority": 50, "count": 10_000, "seconds": 4, "rate": 2_500}
    )
    gap = longest_gap(h1_adverts) * 1000
    print(
        f"valid flood: {sent} adverts in {seconds:.2f} s; h1 sent {len(h1_adverts)}, longest gap {gap:.0f} ms"
    )
    assert sent >= 2_000
    assert len(timeline.spans()) == 1 and timeline.owners_at(time.time()) == {"h1"}
    window = seconds + 0.5
    assert len(h1_adverts) <= window / 0.1 + (window + 1) + 2, "unbounded advert answers"
    garp_count = sum(1 for ts, p in packets if ts >= began and "h1" in garps([(ts, p)]))
    assert garp_count <= 5 * (window + 1), f"{garp_count} GARPs for {sent} lower-priority adverts"
    after = {row["name"]: row for row in d1.request("stats")}
    assert after["VI_1"]["transitions"] == before["VI_1"]["transitions"]
    assert d2.request("stats")[0]["became_master"] == 0
