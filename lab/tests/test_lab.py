"""The lab harness, proved with real traffic between real namespaces."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
from tandemlab import cleanup, naming
from tandemlab.shell import netns_pids, run

pytestmark = pytest.mark.lab
PROBE = [sys.executable, "-m", "tandemlab.probe"]


def start_receiver(host, group="224.0.0.18", seconds=3.0, proto=112):
    receiver = host.spawn(
        [*PROBE, "recv", "--group", group, "--seconds", str(seconds), "--proto", str(proto)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert receiver.popen.stdout.readline().strip() == "ready"
    return receiver


def received_count(receiver) -> int:
    receiver.wait(10)
    return int(receiver.popen.stdout.read().strip())


def send(host, count, dst="224.0.0.18", interval=0.002, proto=112):
    host.run(
        [
            *PROBE,
            "send",
            "--dst",
            dst,
            "--count",
            str(count),
            "--interval",
            str(interval),
            "--proto",
            str(proto),
        ]
    )


def test_hosts_have_lab_addresses_read_over_netlink(lab2):
    h1, h2 = lab2.hosts
    assert {"198.51.100.11/24", "2001:db8::11/64"} <= h1.addresses()
    assert {"198.51.100.12/24", "2001:db8::12/64"} <= h2.addresses()
    assert h1.has_address("198.51.100.11") and not h1.has_address("198.51.100.12")


@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
def test_udp_reaches_the_other_host(lab2, family):
    h1, h2 = lab2.hosts
    server = h1.spawn([*PROBE, "udp-recv", "--dst", getattr(h1, family)], stdout=subprocess.PIPE, text=True)
    assert server.popen.stdout.readline().strip() == "ready"
    h2.run([*PROBE, "udp-send", "--dst", getattr(h1, family), "--message", "hello"])
    server.wait(5)
    assert server.popen.stdout.read().split() == ["hello", getattr(h2, family)]


@pytest.mark.parametrize("group", ["224.0.0.18", "ff02::12"])
def test_vrrp_multicast_is_seen_by_the_other_host_and_the_capture(make_lab, group):
    lab = make_lab(3)
    h1, h2, h3 = lab.hosts
    capture = lab.capture("ip proto 112 or ip6 proto 112")
    receivers = [start_receiver(h, group) for h in (h2, h3)]
    send(h1, 20, dst=group)
    assert [received_count(r) for r in receivers] == [20, 20]
    packets = capture.stop()
    assert len(packets) == 20
    assert {p.sniffed_on for _, p in packets} == {"h1"}
    times = [t for t, _ in packets]
    assert times == sorted(times)


def test_block_drops_one_direction_only(lab2):
    h1, h2 = lab2.hosts
    lab2.block(h1, h2, "vrrp")
    to_h2 = start_receiver(h2)
    to_h1 = start_receiver(h1)
    send(h1, 10)
    send(h2, 10)
    assert received_count(to_h2) == 0
    assert received_count(to_h1) == 10
    lab2.heal()
    to_h2 = start_receiver(h2)
    send(h1, 10)
    assert received_count(to_h2) == 10


def test_loss_drops_about_the_asked_fraction(make_lab):
    lab = make_lab(2)
    h1, h2 = lab.hosts
    lab.loss(h1, h2, 30, "vrrp")
    receiver = start_receiver(h2, seconds=4)
    send(h1, 600, interval=0.001)
    got = received_count(receiver)
    # Binomial(600, 0.7): mean 420, sd ~11; the band is > 6 sd wide.
    assert 350 <= got <= 490
    assert lab.filter.dropped() == 600 - got


def reachable(src, dst) -> bool:
    """Any of up to 5 pings answered (ARP and a loaded machine may cost the first ones)."""
    return src.run(["ping", "-c5", "-i0.2", "-W1", dst.ipv4], check=False).returncode == 0


def unreachable(src, dst) -> bool:
    return src.run(["ping", "-c2", "-i0.2", "-W1", dst.ipv4], check=False).returncode != 0


def test_partition_and_heal(make_lab):
    lab = make_lab(3)
    h1, h2, h3 = lab.hosts
    lab.partition([h1], [h2, h3])
    assert unreachable(h1, h2)
    assert reachable(h2, h3)
    lab.heal()
    assert reachable(h1, h2)


def test_link_down_cuts_the_host_off_and_up_restores_it(lab2):
    h1, h2 = lab2.hosts
    h1.link_down()
    assert unreachable(h2, h1)
    h1.link_up()
    assert reachable(h2, h1)


def test_processes_are_stopped_by_pid(lab2):
    h1 = lab2.hosts[0]
    sleeper = h1.spawn(["sleep", "60"])
    assert sleeper.pid in netns_pids(h1.netns)
    sleeper.terminate()
    assert sleeper.wait(5) == -signal.SIGTERM
    stubborn = h1.spawn(["sh", "-c", "trap '' TERM; sleep 60"])
    stubborn.kill()
    assert stubborn.wait(5) == -signal.SIGKILL


def test_close_leaves_no_namespace_process_or_rule_behind(make_lab):
    lab = make_lab(2)
    h1, h2 = lab.hosts
    orphan = h1.spawn(["sh", "-c", "sleep 60 & wait"])
    lab.block(h1, h2, "all")
    names = [h.netns for h in lab.hosts] + [lab.switch_netns]
    lab.close()
    listed = run(["ip", "netns", "list"]).stdout
    assert not any(name in listed for name in names)
    assert not orphan.alive
    with pytest.raises(ProcessLookupError):
        os.kill(orphan.pid, 0)


def test_stale_namespaces_of_dead_runs_are_removed():
    dead_pid = 2**22 + 7  # above the default pid_max of small machines, so never a live process
    name = f"{naming.PREFIX}-{dead_pid}-1-h1"
    run(["ip", "netns", "add", name])
    assert name in cleanup.stale_namespaces()
    cleanup.remove_namespaces(cleanup.stale_namespaces())
    assert name not in run(["ip", "netns", "list"]).stdout


def test_root_namespace_addresses_are_untouched(make_lab):
    before = run(["ip", "-o", "addr"]).stdout
    make_lab(2).close()
    assert run(["ip", "-o", "addr"]).stdout == before


def test_a_run_that_leaves_a_lab_behind_fails(tmp_path):
    leaking = tmp_path / "test_leak.py"
    leaking.write_text("from tandemlab import Lab\n\ndef test_leak():\n    Lab(1).start()\n")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "tandemlab.pytest_plugin", str(leaking)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1, result.stdout
    report = re.search(r"the run left 2 lab namespaces behind \(now removed\): (.+)", result.stdout)
    assert report, result.stdout
    left = report.group(1).split(", ")
    assert all(naming.owner_pid(name) not in (None, os.getpid()) for name in left)
    assert not set(left) & set(run(["ip", "netns", "list"]).stdout.split())


def test_ping_gaps_reads_a_real_ping_log(lab2, tmp_path):
    h1, h2 = lab2.hosts
    log = tmp_path / "ping.log"
    with open(log, "w") as out:
        pinger = h2.spawn(["ping", "-D", "-n", "-i", "0.05", "-c", "40", h1.ipv4], stdout=out)
        time.sleep(0.6)
        h1.link_down()
        time.sleep(0.5)
        h1.link_up()
        pinger.wait(15)
    summary = json.loads(h2.run([*PROBE, "ping-gaps", "--log", str(log)]).stdout)
    assert summary["sent"] == 40
    assert 0 < summary["replies"] < 40
    # the link was down for 0.5 s: the longest silence spans it, and the pings around it are 50 ms apart
    assert 0.5 <= summary["longest_gap"] < 5
