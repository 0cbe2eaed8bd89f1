"""The lab harness, proved with real traffic between real namespaces."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest
from tandemlab import cleanup, naming
from tandemlab.polling import wait_for
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
    """Any of up to 10 pings answered within ~3 s: ARP and a loaded machine may cost the first ones, and
    after a heal the neighbour entry may still be waiting for its next probe (retrans_time 1 s)."""
    return src.run(["ping", "-c10", "-i0.2", "-W1", dst.ipv4], check=False).returncode == 0


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
    # `ip netns exec` enters the namespace after Popen returns: wait for it, don't race it
    assert wait_for(lambda: sleeper.pid in netns_pids(h1.netns), timeout=5)
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


DEAD_PID = 2**22 + 7  # above the default pid_max of small machines, so never a live process
HOST_IMAGE = "localhost/tandem-host:bookworm"  # scripts/build-image.sh


def test_stale_namespaces_of_dead_runs_are_removed():
    name = f"{naming.PREFIX}-{DEAD_PID}-1-h1"
    run(["ip", "netns", "add", name])
    assert name in cleanup.stale_namespaces()
    cleanup.remove_namespaces(cleanup.stale_namespaces())
    assert name not in run(["ip", "netns", "list"]).stdout


def test_stale_containers_of_dead_runs_are_removed():
    if (
        shutil.which("podman") is None
        or run(["podman", "image", "exists", HOST_IMAGE], check=False).returncode
    ):
        pytest.skip(f"needs podman and {HOST_IMAGE}")
    prefix = f"{naming.PREFIX}-{DEAD_PID}-1"
    name = f"{prefix}-web-a"
    run(["podman", "create", "--name", name, "--label", f"{cleanup.CONTAINER_LABEL}={prefix}", HOST_IMAGE])
    try:
        assert name in cleanup.remove_stale()
        assert name not in cleanup.lab_containers()
    finally:
        run(["podman", "rm", "--force", name], check=False)


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


LAB_CLI = [sys.executable, "-m", "tandemlab"]


def lab_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*LAB_CLI, *args], capture_output=True, text=True, timeout=60, check=False)


def test_cli_builds_a_named_lab_that_destroy_removes(tmp_path):
    prefix, state = naming.new_lab_prefix(), tmp_path / "lab.json"
    hosts = ["--host", "web-a=203.0.113.11/24,2001:db8:7::11/64", "--host", "client=203.0.113.100/24"]
    created = lab_cli("create", "--prefix", prefix, "--state", str(state), *hosts)
    assert created.returncode == 0, created.stderr
    names = [f"{prefix}-sw", f"{prefix}-web-a", f"{prefix}-client"]
    assert json.loads(state.read_text()) == {"prefix": prefix, "namespaces": names}
    listed = run(["ip", "netns", "list"]).stdout
    assert all(name in listed for name in names)
    # the IPv6 address is usable at once (no DAD), and the client reaches the host through the bridge
    addresses = run(["ip", "-n", f"{prefix}-web-a", "-o", "addr", "show", "dev", "eth0"]).stdout
    assert "203.0.113.11/24" in addresses and "2001:db8:7::11/64" in addresses
    assert "tentative" not in addresses
    ping = run(["ip", "netns", "exec", f"{prefix}-client", "ping", "-c3", "-i0.2", "-W1", "203.0.113.11"])
    assert " 0% packet loss" in ping.stdout
    again = lab_cli("create", "--prefix", prefix, "--state", str(state), *hosts)
    assert again.returncode == 1 and "exists: destroy that lab first" in again.stderr

    orphan = subprocess.Popen(["ip", "netns", "exec", f"{prefix}-web-a", "sleep", "60"])
    run(["ip", "netns", "del", f"{prefix}-client"])  # a piece already gone
    destroyed = lab_cli("destroy", "--state", str(state))
    assert destroyed.returncode == 0, destroyed.stderr
    assert orphan.wait(5) == -signal.SIGKILL
    assert not state.exists()
    assert not any(name in run(["ip", "netns", "list"]).stdout for name in names)
    assert lab_cli("destroy", "--state", str(state)).stdout.strip() == "no lab"


def test_cli_create_that_fails_says_why_and_leaves_nothing(tmp_path):
    prefix, state = naming.new_lab_prefix(), tmp_path / "lab.json"
    too_long = "h-name-over-15-chars=203.0.113.12/24"  # fine as a namespace, not as an interface name
    failed = lab_cli(
        "create", "--prefix", prefix, "--state", str(state), "--host", "a=203.0.113.11/24", "--host", too_long
    )
    assert failed.returncode == 1
    assert "not a valid ifname" in failed.stderr and "Traceback" not in failed.stderr
    assert f"{prefix}-" not in run(["ip", "netns", "list"]).stdout
    assert json.loads(state.read_text())["namespaces"][1] == f"{prefix}-a"
    assert lab_cli("destroy", "--state", str(state)).returncode == 0
    bad = lab_cli("create", "--prefix", prefix, "--state", str(state), "--host", "a=203.0.113.11")
    assert bad.returncode == 2 and "NAME=ADDRESS/PLEN" in bad.stderr


def test_cli_cleanup_runs_without_warnings():
    result = subprocess.run(
        [sys.executable, "-W", "error", *LAB_CLI[1:], "cleanup"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout.startswith("removed ")
