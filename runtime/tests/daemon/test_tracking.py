"""Tracking in real tandemd processes: vrrp_script, track_interface and sync groups move the VIPs."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest
from daemon_lab import GLOBAL, Daemon, instance
from tandemlab.polling import wait_for
from vrrp_lab import holders

pytestmark = [pytest.mark.lab, pytest.mark.slow]

VIP, VIP2 = "198.51.100.100/24", "198.51.100.101/24"
MDI = 3 * 0.1 + 0.1  # Master_Down_Interval at advert_int 0.1 (skew < one interval)
MARGIN = 3.0  # generous: process start-up, scheduling on a loaded machine
SCRIPT_REACTION = 1 * 1 + MDI + MARGIN  # fall × interval of script() + Master_Down_Interval


def script(name: str, flag, interval: int = 1, fall: int = 1, rise: int = 1, weight: int = -100) -> str:
    """A vrrp_script testing for ``flag``; keepalived reads interval (and timeout) as whole seconds."""
    return f"""\
vrrp_script {name} {{
    script "/usr/bin/test -e {flag}"
    interval {interval}
    fall {fall}
    rise {rise}
    weight {weight}
}}
"""


def test_failing_script_moves_the_vip_and_rise_brings_it_back(lab2, tmp_path):
    h1, h2 = lab2.hosts
    healthy = tmp_path / "healthy"
    healthy.touch()
    tracked = "track_script {\n    chk_web\n}"
    d1 = Daemon(h1, tmp_path).start(
        GLOBAL + script("chk_web", healthy) + instance(h1, "VI_1", 51, VIP, 150, tracked)
    )
    d2 = Daemon(h2, tmp_path).start(GLOBAL + instance(h2, "VI_1", 51, VIP, 100))
    assert wait_for(lambda: holders(lab2.hosts, VIP) == ["h1"], 5)
    healthy.unlink()
    assert wait_for(lambda: holders(lab2.hosts, VIP) == ["h2"], SCRIPT_REACTION)
    status = d1.status()["VI_1"]
    assert (status["state"], status["priority"], status["base_priority"]) == ("BACKUP", 50, 150)
    healthy.touch()
    assert wait_for(lambda: holders(lab2.hosts, VIP) == ["h1"], SCRIPT_REACTION)
    assert d1.status()["VI_1"]["priority"] == 150
    assert d2.state() == "BACKUP"
    assert "(VI_1) priority 50 by tracking" in d1.log_text()


def test_a_hung_script_is_killed_as_failed_and_never_delays_adverts(lab2, tmp_path):
    h1, h2 = lab2.hosts
    sleep = f"/usr/bin/sleep 30.{os.getpid()}"  # an argv no other process on the machine has
    hung = f'vrrp_script chk_hung {{\n    script "{sleep}"\n    interval 1\n    timeout 1\n}}\n'
    tracked = "track_script {\n    chk_hung weight 10\n}"
    d1 = Daemon(h1, tmp_path).start(GLOBAL + hung + instance(h1, "VI_1", 51, VIP, 150, tracked))
    d2 = Daemon(h2, tmp_path).start(GLOBAL + instance(h2, "VI_1", 51, VIP, 100))
    assert wait_for(lambda: holders(lab2.hosts, VIP) == ["h1"], 5)
    time.sleep(3.5)  # about three runs killed at their timeout, while h1 advertises every 0.1 s
    # a stalled loop would have let h2 take over after Master_Down_Interval (0.4 s)
    assert d2.request("stats")[0]["became_master"] == 0
    assert d1.state() == "MASTER" and d1.status()["VI_1"]["priority"] == 150  # failed: no +10
    # killed with its process group: at most the current run is alive
    sleeps = h1.run(["pgrep", "-c", "-f", "-x", sleep], check=False).stdout.strip()
    assert int(sleeps or 0) <= 1


def test_taking_the_tracked_link_down_moves_the_vip(lab2, tmp_path):
    h1, h2 = lab2.hosts
    h1.ip("link", "add", "trk0", "type", "veth", "peer", "name", "trk1")  # no dummy module here
    h1.ip("link", "set", "trk1", "up")
    h1.ip("link", "set", "trk0", "up")
    tracked = "track_interface {\n    trk0\n}"
    d1 = Daemon(h1, tmp_path).start(GLOBAL + instance(h1, "VI_1", 51, VIP, 150, tracked))
    Daemon(h2, tmp_path).start(GLOBAL + instance(h2, "VI_1", 51, VIP, 100))
    assert wait_for(lambda: holders(lab2.hosts, VIP) == ["h1"], 5)
    h1.ip("link", "set", "trk0", "down")
    assert wait_for(lambda: holders(lab2.hosts, VIP) == ["h2"], MDI + MARGIN)
    status = d1.status()["VI_1"]
    assert (status["state"], status["reason"]) == ("FAULT", "fault: interface trk0")
    h1.ip("link", "set", "trk0", "up")
    assert wait_for(lambda: holders(lab2.hosts, VIP) == ["h1"], MDI + MARGIN)


def test_sync_group_moves_both_vips_together(lab2, tmp_path):
    h1, h2 = lab2.hosts
    healthy = tmp_path / "healthy"
    healthy.touch()
    fifo = tmp_path / "h1.fifo"
    group = "vrrp_sync_group G1 {\n    group {\n        VI_1\n        VI_2\n    }\n}\n"

    def config(host, priority, extra=""):
        body = "track_script {\n    chk_db\n}" if extra else ""
        return (
            GLOBAL.replace("}", f"    vrrp_notify_fifo {fifo}\n}}" if extra else "}")
            + extra
            + instance(host, "VI_1", 51, VIP, priority)
            + instance(host, "VI_2", 52, VIP2, priority, body)
            + group
        )

    reader = open_fifo(fifo)
    Daemon(h1, tmp_path).start(config(h1, 150, script("chk_db", healthy, weight=0)))
    Daemon(h2, tmp_path).start(config(h2, 100))
    both = lambda host: [host.has_address(v.split("/")[0]) for v in (VIP, VIP2)]  # noqa: E731
    assert wait_for(lambda: both(h1) == [True, True] and both(h2) == [False, False], 5)
    healthy.unlink()  # only VI_2 tracks the script: the whole group leaves h1
    assert wait_for(lambda: both(h1) == [False, False] and both(h2) == [True, True], SCRIPT_REACTION)
    healthy.touch()
    assert wait_for(lambda: both(h1) == [True, True] and both(h2) == [False, False], SCRIPT_REACTION)
    groups = [line for line in read_lines(reader) if line.startswith("GROUP")]
    assert groups == [f'GROUP "G1" {state} 0' for state in ("BACKUP", "MASTER", "FAULT", "BACKUP", "MASTER")]


@pytest.mark.interop
@pytest.mark.parametrize("daemon", ["tandemd", "keepalived"])
def test_a_polled_tracked_link_losing_carrier_hands_the_vip_over(make_lab, tmp_path, daemon):
    """h1 (tandemd, or keepalived 2.2.7 as the reference) tracks trk0 through linkbeat_interfaces; its
    veth peer goes down (carrier lost, trk0 still up): h1 goes to FAULT and the VIP moves to h2 (the
    other daemon), and back when the carrier returns. Both daemons do the same."""
    from vrrp_lab import Group, start

    lab = make_lab(2)
    h1, h2 = lab.hosts
    h1.ip("link", "add", "trk0", "type", "veth", "peer", "name", "trk1")
    h1.ip("link", "set", "trk1", "up")
    h1.ip("link", "set", "trk0", "up")
    vip = "198.51.100.100/24"
    tracked = Group(options=("track_interface {", "    trk0", "}"))
    linkbeat = "linkbeat_interfaces {\n    trk0\n}\n"
    other = "keepalived" if daemon == "tandemd" else "tandemd"
    start(daemon, h1, linkbeat + tracked.config(h1, [h2], 150), tmp_path)
    start(other, h2, Group().config(h2, [h1], 100), tmp_path)
    assert wait_for(lambda: holders(lab.hosts, vip) == ["h1"], 10)
    h1.ip("link", "set", "trk1", "down")
    assert wait_for(lambda: holders(lab.hosts, vip) == ["h2"], 5)
    h1.ip("link", "set", "trk1", "up")
    assert wait_for(lambda: holders(lab.hosts, vip) == ["h1"], 5)
    log = (tmp_path / f"h1-{daemon}.log").read_text()
    assert "Linkbeat reports trk0 down" in log and "Linkbeat reports trk0 up" in log


def open_fifo(path):
    import os

    os.mkfifo(path, 0o600)
    return os.open(path, os.O_RDONLY | os.O_NONBLOCK)


def read_lines(fd) -> list[str]:
    import os

    data = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            break
        if not chunk:
            break
        data += chunk
    return data.decode().splitlines()


def test_sync_group_members_never_split_across_nodes(lab2, tmp_path):
    """One member's priority drop alone moves nothing (its peer still hears h1's other member);
    dropping all moves both, clearing brings both back: keepalived's sync group semantics."""
    h1, h2 = lab2.hosts
    group = "vrrp_sync_group G1 {\n    group {\n        VI_1\n        VI_2\n    }\n}\n"

    def config(host, priority):
        return (
            GLOBAL
            + instance(host, "VI_1", 51, VIP, priority)
            + instance(host, "VI_2", 52, VIP2, priority)
            + group
        )

    d1 = Daemon(h1, tmp_path).start(config(h1, 150))
    d2 = Daemon(h2, tmp_path).start(config(h2, 100))
    both = lambda host: [host.has_address(v.split("/")[0]) for v in (VIP, VIP2)]  # noqa: E731
    assert wait_for(lambda: both(h1) == [True, True] and both(h2) == [False, False], 5)
    assert d1.ctl("maintenance", "VI_2", "--lower-by", "100").returncode == 0
    time.sleep(10 * MDI)  # h2's VI_2 is ready, but its VI_1 keeps hearing h1's VI_1 at 150
    assert both(h1) == [True, True] and both(h2) == [False, False]
    assert {s["name"]: s["state"] for s in d2.request("status")} == {"VI_1": "BACKUP", "VI_2": "BACKUP"}
    assert d1.ctl("maintenance", "--lower-by", "100").returncode == 0
    assert wait_for(lambda: both(h1) == [False, False] and both(h2) == [True, True], MDI + MARGIN)
    assert d1.ctl("maintenance", "--clear").returncode == 0
    assert wait_for(lambda: both(h1) == [True, True] and both(h2) == [False, False], MDI + MARGIN)
    reasons = {s["name"]: s["reason"] for s in d1.request("status")}
    assert set(reasons.values()) == {"sync group"}  # went Master together once both were ready


@pytest.mark.interop
def test_track_process_hands_the_vip_to_a_keepalived_peer_and_takes_it_back(lab2, tmp_path):
    """In a network namespace the kernel sends no process events: tandemd scans /proc."""
    from vrrp_lab import start

    h1, h2 = lab2.hosts
    name = f"tpi{os.getpid()}"[:15]  # comm: a name no other process on the machine has
    program = tmp_path / name
    shutil.copy("/usr/bin/sleep", program)
    track = f"vrrp_track_process chk_app {{\n    process {name}\n    weight -100\n}}\n"
    tracked = "track_process {\n    chk_app\n}"
    app = subprocess.Popen([program, "60"])
    try:
        d1 = Daemon(h1, tmp_path).start(GLOBAL + track + instance(h1, "VI_1", 51, VIP, 150, tracked))
        start("keepalived", h2, GLOBAL + instance(h2, "VI_1", 51, VIP, 100), tmp_path)
        assert wait_for(lambda: holders(lab2.hosts, VIP) == ["h1"], 5)
        app.kill()
        app.wait()
        # one /proc scan (1 s) + Master_Down_Interval, with margin
        assert wait_for(lambda: holders(lab2.hosts, VIP) == ["h2"], 1.0 + MDI + MARGIN)
        assert d1.status()["VI_1"]["priority"] == 50
        app = subprocess.Popen([program, "60"])
        assert wait_for(lambda: holders(lab2.hosts, VIP) == ["h1"], 1.0 + MDI + MARGIN)  # preempts back
        assert "scanning /proc" in d1.log_text()
    finally:
        app.kill()
        app.wait()


@pytest.mark.parametrize("delay", [30, 0.5])
def test_vrrp_startup_delay_keeps_instances_in_init(lab2, tmp_path, delay):
    """global_defs vrrp_startup_delay: the instances wait in INIT that long after start (no advert, no
    VIP), then start as usual."""
    h1, _h2 = lab2.hosts
    global_defs = GLOBAL.replace("}", f"    vrrp_startup_delay {delay}\n}}")
    daemon = Daemon(h1, tmp_path).start(global_defs + instance(h1, "VI_1", 51, VIP, 255))
    if delay > 1:
        assert daemon.state() == "INIT" and holders(lab2.hosts, VIP) == []
        assert f"Delaying startup for {delay:g} seconds" in daemon.log_text()
    else:
        assert wait_for(lambda: daemon.state() == "MASTER", 10)
        assert holders(lab2.hosts, VIP) == ["h1"]


@pytest.mark.parametrize("fault", [True, False])
def test_unicast_fault_no_peer(lab2, tmp_path, fault):
    """unicast_src_ip without unicast peers: multicast, unless unicast_fault_no_peer keeps it in FAULT
    (keepalived 2.2.7's option)."""
    h1, _h2 = lab2.hosts
    body = f"unicast_src_ip {h1.ipv4}" + ("\nunicast_fault_no_peer" if fault else "")
    daemon = Daemon(h1, tmp_path).start(GLOBAL + instance(h1, "VI_1", 51, VIP, 150, body))
    expected = ("FAULT", "fault: no unicast peers (unicast_fault_no_peer)") if fault else ("MASTER", None)
    status = lambda: (daemon.status()["VI_1"]["state"], daemon.status()["VI_1"]["reason"])  # noqa: E731
    assert wait_for(lambda: status()[0] == expected[0], MDI + MARGIN)
    if fault:
        assert status() == expected and holders(lab2.hosts, VIP) == []
