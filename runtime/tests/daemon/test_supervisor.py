"""tandemd's process model on a real daemon: a supervisor parent and a VRRP child (keepalived's layout).

The pid files say which process is which (``-p`` the parent, ``-r`` the VRRP child); a crashed child is
restarted with its VIPs released in between, and runs the config the supervisor validated; the child
dies with its parent; a child that cannot run stops the daemon; requests and reloads reach the child
through the parent's control socket.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest
from daemon_lab import GLOBAL, Daemon, instance
from tandem.control.client import ControlError
from tandem.daemon.spawn import child_socket
from tandem.daemon.supervisor import backoff
from tandemlab.polling import wait_for
from vrrp_lab import TANDEMD, holders

pytestmark = [pytest.mark.lab]
VIP = "198.51.100.171/24"


def parent_of(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:")))


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def state_when_answered(daemon) -> str | None:
    try:
        return daemon.state()
    except ControlError:  # the child is restarting
        return None


def test_restarts_back_off_while_a_child_keeps_dying():
    assert [backoff(n) for n in range(1, 9)] == [0, 1, 2, 4, 8, 16, 30, 30]


@pytest.fixture
def master(lab2, tmp_path):
    h1 = lab2.hosts[0]
    main, vrrp, check = (tmp_path / f"{name}.pid" for name in ("main", "vrrp", "check"))
    flags = ("-p", str(main), "-r", str(vrrp), "-c", str(check))
    daemon = Daemon(h1, tmp_path).start(GLOBAL + instance(h1, "VI_1", 71, VIP, 150), flags)
    assert wait_for(lambda: daemon.state() == "MASTER", 5)
    daemon.pidfiles = main, vrrp, check
    yield daemon
    if daemon.process.alive:
        daemon.stop()


def test_pid_files_name_the_parent_and_its_vrrp_child_and_are_removed(master):
    main, vrrp, check = master.pidfiles
    parent = master.process.pid
    assert main.read_text() == f"{parent}\n"
    child = int(vrrp.read_text())
    assert child != parent and parent_of(child) == parent
    assert not check.exists()  # no virtual_server: no checker process
    [process] = master.request("processes")[:1]
    assert process["role"] == "vrrp" and process["pid"] == child and process["restarts"] == 0
    assert master.stop() == 0
    assert not main.exists() and not vrrp.exists() and not alive(child)


def test_a_killed_vrrp_child_is_restarted_and_its_vips_released_meanwhile(master):
    host = master.host
    _, vrrp, _ = master.pidfiles
    first = int(vrrp.read_text())
    os.kill(first, signal.SIGKILL)
    # the parent releases the VIP the dead child left, then starts a new child that becomes master again
    assert wait_for(lambda: vrrp.exists() and int(vrrp.read_text()) != first, 10), master.log_text()
    assert "virtual addresses of the ended VRRP process released (1)" in master.log_text()
    assert wait_for(lambda: state_when_answered(master) == "MASTER", 10)
    assert holders([host], VIP) == [host.name]
    vrrp_process = master.request("processes")[0]
    assert vrrp_process["restarts"] == 1 and vrrp_process["last_exit"] == "signal SIGKILL"
    assert f"VRRP process {first} ended (signal SIGKILL); restarting it in 0 s" in master.log_text()
    table = master.ctl("processes").stdout.splitlines()
    assert table[0].split() == ["PROCESS", "PID", "STATE", "READY", "RESTARTS", "LAST", "EXIT"]
    assert table[1].split()[:5] == ["vrrp", vrrp.read_text().strip(), "running", "yes", "1"]


def test_the_vrrp_child_dies_with_its_parent_and_releases_its_vip(master):
    host = master.host
    _, vrrp, _ = master.pidfiles
    child = int(vrrp.read_text())
    master.process.kill()  # SIGKILL: no clean stop of the parent; the child gets SIGTERM from the kernel
    assert wait_for(lambda: not alive(child), 10)
    assert holders([host], VIP) == []
    assert "(VI_1) Entering INIT STATE (shutdown)" in master.log_text()


def test_reload_reaches_the_child_and_a_broken_config_reaches_no_one(master):
    host = master.host
    master.conf.write_text(GLOBAL + instance(host, "VI_1", 71, VIP, 120))
    outcome = master.request("reload")
    assert outcome["ok"] and outcome["summary"]["changed"] == ["VI_1 (priority)"]
    assert master.status()["VI_1"]["base_priority"] == 120
    master.conf.write_text(GLOBAL + "vrrp_instance VI_1 {\n    priority 300\n}\n")
    outcome = master.request("reload")
    assert not outcome["ok"] and any("priority" in error for error in outcome["errors"])
    assert master.status()["VI_1"]["base_priority"] == 120 and master.state() == "MASTER"


def test_a_restarted_child_runs_the_config_the_supervisor_validated_not_the_file_edited_since(master):
    """Each child gets its config from the supervisor (loaded and checked there), not from the file:
    a file broken after the start reaches no restarted child, so a crash does not stop tandemd."""
    _, vrrp, _ = master.pidfiles
    first = int(vrrp.read_text())
    master.conf.write_text(GLOBAL + "vrrp_instance VI_1 {\n    priority 300\n}\n")  # not reloaded
    os.kill(first, signal.SIGKILL)
    assert wait_for(lambda: vrrp.exists() and int(vrrp.read_text()) != first, 10), master.log_text()
    assert wait_for(lambda: state_when_answered(master) == "MASTER", 10), master.log_text()
    assert master.status()["VI_1"]["base_priority"] == 150
    assert master.process.alive and "error" not in master.log_text().split("SIGKILL", 1)[1]


def test_a_child_that_cannot_run_stops_the_daemon(lab2, tmp_path):
    h1 = lab2.hosts[0]
    daemon = Daemon(h1, tmp_path)
    daemon.conf.write_text(GLOBAL + instance(h1, "VI_1", 72, VIP, 150))
    blocked = Path(child_socket(daemon.socket, "vrrp"))
    blocked.mkdir(parents=True)  # the VRRP child cannot serve its control socket there
    main = tmp_path / "main.pid"
    process = h1.spawn(
        [*TANDEMD, "-f", str(daemon.conf), "-l", "-p", str(main), "--control-socket", daemon.socket],
        stdout=open(daemon.log, "wb"),  # noqa: SIM115 - handed to the child process
        stderr=subprocess.STDOUT,
    )
    assert process.wait(15) == 1, daemon.log_text()
    assert "VRRP process cannot run: tandemd stops" in daemon.log_text()
    assert not main.exists()


def children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def test_a_sighup_during_start_up_is_a_reload_not_the_end(lab2, tmp_path):
    """Sent as soon as the VRRP child exists (the supervisor then waits for its start, long before its own
    event loop runs), SIGHUP reloads: its default action would end the supervisor, and keepalived-style
    scripts reload right after a start."""
    h1 = lab2.hosts[0]
    daemon = Daemon(h1, tmp_path)
    daemon.conf.write_text(GLOBAL + instance(h1, "VI_1", 77, VIP, 150))
    argv = [*TANDEMD, "-f", str(daemon.conf), "-l", "--control-socket", daemon.socket]
    with open(daemon.log, "wb") as log:
        daemon.process = h1.spawn(argv, stdout=log, stderr=subprocess.STDOUT)
    try:
        assert wait_for(lambda: children(daemon.process.pid), 10, interval=0.001)
        daemon.signal(signal.SIGHUP)
        assert wait_for(lambda: "reloaded:" in daemon.log_text(), 15), daemon.log_text()
        assert daemon.process.alive and wait_for(lambda: state_when_answered(daemon) == "MASTER", 10)
        assert "process started" in daemon.log_text().split("reloading", 1)[0]  # held until then
    finally:
        daemon.stop()
