"""Reloads of a real tandemd: unchanged configs cause nothing on the wire, broken ones are refused with
their file:line, valid changes apply in place / remove / add."""

from __future__ import annotations

import re
import signal
import subprocess
import time

import pytest
from daemon_lab import GLOBAL, Daemon, instance
from scapy.layers.l2 import ARP
from scapy.layers.vrrp import VRRP, VRRPv3
from tandemlab.polling import wait_for
from vrrp_lab import holders

pytestmark = [pytest.mark.lab, pytest.mark.slow]

VIP = "198.51.100.100/24"
ADDRESS = VIP.split("/")[0]


def adverts(packets):
    """(sender, vrid, priority) of every VRRP advert captured (not those quoted in ICMP errors)."""
    found = []
    for _, pkt in packets:
        layer = pkt.payload.payload
        if isinstance(layer, VRRP | VRRPv3):
            found.append((pkt.sniffed_on, layer.vrid, layer.priority))
    return found


class AddressEvents:
    """``ip monitor address`` of a host: every address added or deleted while it runs."""

    MARK = "203.0.113.9"  # added before and deleted after the watched span: proves the monitor saw it

    def __init__(self, host) -> None:
        self.host = host
        argv = ["ip", "-n", host.netns, "monitor", "address"]
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        time.sleep(0.3)  # subscribed before the mark goes in
        self.host.ip("addr", "add", f"{self.MARK}/32", "dev", host.ifname)

    def stop(self) -> list[str]:
        self.host.ip("addr", "del", f"{self.MARK}/32", "dev", self.host.ifname)
        time.sleep(0.3)
        self.process.terminate()
        lines = self.process.communicate(timeout=5)[0].splitlines()
        assert any(self.MARK in line and not line.startswith("Deleted") for line in lines), lines
        assert any(self.MARK in line and line.startswith("Deleted") for line in lines), lines
        return [line for line in lines if self.MARK not in line]


def test_100_reloads_of_an_unchanged_config_flap_nothing(make_lab, tmp_path):
    lab = make_lab(3)
    h1, h2, client = lab.hosts
    d1 = Daemon(h1, tmp_path).start(GLOBAL + instance(h1, "VI_1", 51, VIP, 150))
    d2 = Daemon(h2, tmp_path).start(GLOBAL + instance(h2, "VI_1", 51, VIP, 100))
    assert wait_for(lambda: holders(lab.hosts, VIP) == ["h1"], 5)
    time.sleep(1.2)  # past the takeover's second GARP burst (vrrp_garp_master_delay 1)
    before = d1.request("stats")[0]
    capture = lab.capture("vrrp or arp", hosts=[h1, h2])
    ping = client.spawn(["ping", "-n", "-i", "0.01", ADDRESS], stdout=-1, text=True)
    events = AddressEvents(h1)
    try:
        started = time.monotonic()
        outcomes = [d1.request("reload") for _ in range(100)]
        print(f"100 reloads took {time.monotonic() - started:.2f} s")
    finally:
        changes = events.stop()
        ping.signal(signal.SIGINT)
        summary = ping.popen.communicate(timeout=10)[0]
        packets = capture.stop()
    assert all(o["ok"] and o["summary"]["unchanged"] == ["VI_1"] for o in outcomes)
    assert [line for line in changes if ADDRESS in line] == []  # the VIP was never deleted or re-added
    sent, received = map(int, re.search(r"(\d+) packets transmitted, (\d+) received", summary).groups())
    assert sent >= 20 and received == sent, summary  # pings every 10 ms span the reloads
    sent_adverts = adverts(packets)
    assert sent_adverts and {(host, prio) for host, _, prio in sent_adverts} == {("h1", 150)}
    garps = [p for _, p in packets if ARP in p and p[ARP].psrc == p[ARP].pdst]
    assert garps == []  # nobody took over, so nobody announced
    after = d1.request("stats")[0]
    assert after["transitions"] == before["transitions"] and after["priority_zero_sent"] == 0
    assert d2.request("stats")[0]["became_master"] == 0
    assert d1.log_text().count("reloaded: unchanged: VI_1") == 100


def test_broken_config_is_refused_with_its_line_and_a_valid_change_applies_in_place(make_lab, tmp_path):
    lab = make_lab(1)
    (h1,) = lab.hosts
    doomed = instance(h1, "VI_3", 53, "198.51.100.103/24", 150)
    original = GLOBAL + instance(h1, "VI_1", 51, VIP, 150) + doomed
    daemon = Daemon(h1, tmp_path).start(original)
    assert wait_for(lambda: h1.has_address(ADDRESS) and h1.has_address("198.51.100.103"), 5)
    transitions = daemon.request("stats")[0]["transitions"]

    broken = original.replace("priority 150", "priority 300", 1)
    line = original.splitlines().index("    priority 150") + 1
    daemon.conf.write_text(broken)
    result = daemon.ctl("reload")
    assert result.returncode == 1
    where = f"{daemon.conf}:{line}: error: priority"
    assert "reload refused, still running the previous config" in result.stdout
    assert where in result.stdout
    daemon.signal(signal.SIGHUP)
    assert wait_for(lambda: daemon.log_text().count(where) == 2, 5)  # reported in the log for both
    assert daemon.status()["VI_1"]["state"] == "MASTER" and h1.has_address(ADDRESS)

    capture = lab.capture("vrrp")
    changed = (
        GLOBAL
        + instance(h1, "VI_1", 51, VIP, 120).replace(VIP, f"{VIP}\n        198.51.100.101/24")
        + instance(h1, "VI_4", 54, "198.51.100.104/24", 150)
    )
    daemon.conf.write_text(changed)
    result = daemon.ctl("reload")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "reloaded; changed: VI_1 (priority, vips); removed: VI_3; added: VI_4"
    assert wait_for(lambda: h1.has_address("198.51.100.104"), 5)
    packets = capture.stop()
    assert h1.has_address(ADDRESS) and h1.has_address("198.51.100.101")
    assert not h1.has_address("198.51.100.103")  # released
    status = daemon.status()
    vi_1 = status["VI_1"]
    assert (vi_1["state"], vi_1["priority"], vi_1["base_priority"]) == ("MASTER", 120, 120)
    assert "VI_3" not in status
    assert daemon.request("stats")[0]["transitions"] == transitions  # VI_1 never left MASTER
    zero = {(vrid, prio) for _, vrid, prio in adverts(packets) if prio == 0}
    assert zero == {(53, 0)}  # only the removed instance said goodbye
    assert (51, 120) in {(vrid, prio) for _, vrid, prio in adverts(packets)}

    daemon.conf.write_text(changed.replace(f"{VIP}\n", ""))  # VI_1 keeps only .101
    result = daemon.ctl("reload")
    assert result.stdout.strip() == "reloaded; unchanged: VI_4; changed: VI_1 (vips)"
    assert not h1.has_address(ADDRESS) and h1.has_address("198.51.100.101")
    assert daemon.state("VI_1") == "MASTER"
    assert daemon.request("stats")[0]["transitions"] == transitions
