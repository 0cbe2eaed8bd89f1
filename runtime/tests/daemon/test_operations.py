"""Operating a real tandemd: split brain heals, status agrees with netlink, maintenance drills,
a missing interface is FAULT (not an exit), systemd notifications, SIGUSR1 dump, metrics, watch."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from daemon_lab import GLOBAL, TANDEMCTL, Daemon, instance
from peer_pair import live_advertisers
from scapy.layers.l2 import ARP
from tandemlab.polling import wait_for
from vrrp_lab import holders

pytestmark = [pytest.mark.lab, pytest.mark.slow]

VIP = "198.51.100.100/24"
ADDRESS = VIP.split("/")[0]
MDI = 3 * 0.1 + 0.1
MARGIN = 3.0


def agrees_with_netlink(daemon) -> bool:
    """``tandemctl --json status``: a MASTER holds every VIP it lists, any other state holds none."""
    result = daemon.ctl("--json", "status")
    assert result.returncode == 0, result.stderr
    addresses = daemon.host.addresses()
    for status in json.loads(result.stdout):
        held = [vip in addresses for vip in status["vips"]]
        if held != [status["state"] == "MASTER"] * len(held):
            return False
    return True


@pytest.fixture
def pair(lab2, tmp_path):
    h1, h2 = lab2.hosts
    d1 = Daemon(h1, tmp_path).start(GLOBAL + instance(h1, "VI_1", 51, VIP, 150))
    d2 = Daemon(h2, tmp_path).start(GLOBAL + instance(h2, "VI_1", 51, VIP, 100))
    assert wait_for(lambda: holders(lab2.hosts, VIP) == ["h1"], 5)
    return lab2, d1, d2


def test_split_brain_heals_to_one_master_that_announces_again(pair):
    lab, d1, d2 = pair
    h1, h2 = lab.hosts
    lab.partition([h1], [h2])
    assert wait_for(lambda: holders(lab.hosts, VIP) == ["h1", "h2"], MDI + MARGIN)
    assert d1.state() == d2.state() == "MASTER"
    assert agrees_with_netlink(d1) and agrees_with_netlink(d2)
    capture = lab.capture("vrrp or arp")
    lab.heal()
    healed = time.time()  # an advert captured before the filter is gone was captured, then dropped
    assert wait_for(lambda: holders(lab.hosts, VIP) == ["h1"], MDI + MARGIN)
    settled = time.time()
    time.sleep(3 * 0.1 + 0.2)
    packets = capture.stop()
    garps = [(ts, p.sniffed_on) for ts, p in packets if ARP in p and p[ARP].psrc == p[ARP].pdst == ADDRESS]
    # the survivor re-announces the VIP when it hears the other master (keepalived's rule); the other
    # may instead hear it first and step down without another advert: then there is nothing to answer
    if "h2" in live_advertisers(packets, healed + 0.01):
        assert "h1" in {host for ts, host in garps if ts >= healed}
    assert live_advertisers(packets, settled) == {"h1"} and d2.state() == "BACKUP"
    assert agrees_with_netlink(d1) and agrees_with_netlink(d2)
    table = d1.ctl("status").stdout
    assert table.splitlines()[0].split() == [
        "INSTANCE",
        "STATE",
        "PRIO/BASE",
        "MASTER",
        "VIPS",
        "SINCE",
        "REASON",
    ]
    assert table.splitlines()[1].split()[:5] == ["VI_1", "MASTER", "150/150", h1.ipv4, VIP]


def test_maintenance_forces_a_drill_failover_and_clears(pair):
    lab, d1, d2 = pair
    result = d1.ctl("maintenance", "VI_1", "--force-backup")
    assert (result.returncode, result.stdout.strip()) == (0, "maintenance applied to VI_1")
    assert wait_for(lambda: holders(lab.hosts, VIP) == ["h2"], MDI + MARGIN)
    status = d1.status()["VI_1"]
    assert (status["state"], status["priority"], status["maintenance"]) == ("BACKUP", 1, "force_backup")
    assert agrees_with_netlink(d1) and agrees_with_netlink(d2)
    unknown = d1.ctl("maintenance", "VI_9", "--lower-by", "5")
    assert unknown.returncode == 1 and "unknown instance VI_9" in unknown.stderr
    assert d1.ctl("maintenance", "--clear").returncode == 0
    assert wait_for(lambda: holders(lab.hosts, VIP) == ["h1"], MDI + MARGIN)
    assert d1.status()["VI_1"]["maintenance"] is None


def notifications(sock: socket.socket) -> list[str]:
    found = []
    while True:
        try:
            found += sock.recv(4096).decode().splitlines()
        except BlockingIOError:
            return found


def test_missing_interface_is_fault_and_recovers_with_systemd_dump_metrics_and_watch(make_lab, tmp_path):
    (h1,) = make_lab(1).hosts
    notify_path = str(tmp_path / "notify.sock")
    systemd = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_NONBLOCK)
    systemd.bind(notify_path)
    env = {**os.environ, "NOTIFY_SOCKET": notify_path, "WATCHDOG_USEC": "200000"}
    late = instance(h1, "VI_2", 52, "203.0.113.102/24", 100).replace(h1.ifname, "late0")
    config = (
        GLOBAL.replace("}", "    tandem_metrics_listen 127.0.0.1:9650\n}")
        + instance(h1, "VI_1", 51, VIP, 100)
        + late
    )
    daemon = Daemon(h1, tmp_path, env=env).start(config)
    assert wait_for(lambda: daemon.state("VI_1") == "MASTER", 5)
    status = daemon.status()["VI_2"]
    assert (status["state"], status["reason"]) == ("FAULT", "fault: no interface late0")
    assert "(VI_2) cannot run: no interface late0" in daemon.log_text()
    assert "READY=1" in notifications(systemd)

    watch = subprocess.Popen(
        [*TANDEMCTL, "--socket", daemon.socket, "--json", "watch"], stdout=subprocess.PIPE, text=True
    )
    time.sleep(0.3)
    h1.ip("link", "add", "late0", "type", "veth", "peer", "name", "late1")
    for link in ("late1", "late0"):
        h1.ip("link", "set", link, "up")
    no_source = "fault: late0 has no IPv4 address to send from"
    assert wait_for(lambda: daemon.status()["VI_2"]["reason"] == no_source, 1.0 + MARGIN)
    assert daemon.state("VI_2") == "FAULT"
    h1.ip("addr", "add", "203.0.113.1/24", "dev", "late0")
    assert wait_for(lambda: daemon.state("VI_2") == "MASTER", 1.0 + MDI + MARGIN)
    assert h1.has_address("203.0.113.102")
    watch.terminate()
    events = [json.loads(line) for line in watch.communicate(timeout=5)[0].splitlines()]
    assert [(e["instance"], e["old"], e["new"]) for e in events] == [
        ("VI_2", "FAULT", "BACKUP"),
        ("VI_2", "BACKUP", "MASTER"),
    ]

    daemon.signal(signal.SIGUSR1)
    data_file = Path(daemon.socket).parent / "tandemd.data"
    assert wait_for(lambda: f"state written to {data_file}" in daemon.log_text(), 5)
    dump = json.loads(data_file.read_text())
    assert {s["name"]: s["state"] for s in dump["status"]} == {"VI_1": "MASTER", "VI_2": "MASTER"}
    assert {s["name"] for s in dump["stats"]} == {"VI_1", "VI_2"}

    fetch = "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:9650/metrics').read().decode())"
    metrics = h1.run([sys.executable, "-c", fetch]).stdout
    assert 'tandem_vrrp_state{instance="VI_2",state="MASTER"} 1.0' in metrics
    assert 'tandem_vrrp_priority{instance="VI_1"} 100.0' in metrics

    h1.ip("link", "del", "late0")  # and the interface comes back as a new link: reopened, not stale
    gone = "fault: no interface late0"
    assert wait_for(lambda: daemon.status()["VI_2"]["reason"] == gone, 1.0 + MARGIN)
    assert "(VI_2) interface late0 is gone: reopening when it is back" in daemon.log_text()
    h1.ip("link", "add", "late0", "type", "veth", "peer", "name", "late1")
    h1.ip("addr", "add", "203.0.113.1/24", "dev", "late0")
    for link in ("late1", "late0"):
        h1.ip("link", "set", link, "up")
    assert wait_for(lambda: h1.has_address("203.0.113.102"), 1.0 + MDI + MARGIN)
    assert daemon.state("VI_2") == "MASTER"

    notifications(systemd)
    daemon.signal(signal.SIGHUP)
    assert wait_for(lambda: "reloaded: unchanged: VI_1, VI_2" in daemon.log_text(), 5)
    time.sleep(0.3)
    received = notifications(systemd)
    assert received.index("RELOADING=1") < received.index("READY=1")
    assert received.count("WATCHDOG=1") >= 2  # every 0.1 s: half of WATCHDOG_USEC
    assert daemon.stop() == 0
    assert "STOPPING=1" in notifications(systemd)
    assert not h1.has_address(ADDRESS) and not h1.has_address("203.0.113.102")
