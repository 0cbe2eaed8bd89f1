"""global_defs' process scheduling keys (vrrp_/checker_ priority, rt_priority, rlimit_rttime, no_swap,
cpu_affinity): read as keepalived reads them, and carried out on a real tandemd's VRRP child, at start and
across a reload that changes them, as the kernel reports them for that process."""

from __future__ import annotations

import os
import resource
from pathlib import Path

import pytest
from daemon_lab import GLOBAL, Daemon, instance
from tandem.config import load_config_text
from tandem.config.dump import dump_config
from tandemlab.polling import wait_for

VIP = "198.51.100.174/24"


def test_the_keys_are_read_and_written_back():
    text = """global_defs {
    vrrp_rt_priority 150
    vrrp_rlimit_rtime 20000
    vrrp_no_swap
    vrrp_cpu_affinity 0 1
    checker_priority -5
    checker_rlimit_rttime 3000
}
"""
    result = load_config_text(text)
    defs = result.config.global_defs
    assert (defs.vrrp_rt_priority, defs.vrrp_rlimit_rttime, defs.vrrp_no_swap) == (99, 20000, True)
    assert (defs.vrrp_cpu_affinity, defs.checker_priority, defs.checker_rlimit_rttime) == ((0, 1), -5, 3000)
    assert [str(f) for f in result.findings] == [
        "<string>:2: warning: vrrp_rt_priority 150 is outside 1..99: 99 is used"
    ]
    dumped = dump_config(result.config)
    assert "vrrp_cpu_affinity 0 1\n" in dumped and "vrrp_rlimit_rttime 20000\n" in dumped
    assert load_config_text(dumped).config.global_defs == defs
    bad = load_config_text("global_defs {\n    checker_cpu_affinity 0 x\n}\n")
    assert [f.message for f in bad.errors] == ["checker_cpu_affinity: expected a CPU number, got 'x'"]


def kernel_view(pid: int) -> dict:
    status = Path(f"/proc/{pid}/status").read_text()
    locked = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmLck:"))
    return {
        "policy": os.sched_getscheduler(pid) & ~os.SCHED_RESET_ON_FORK,
        "rt_priority": os.sched_getparam(pid).sched_priority,
        "nice": os.getpriority(os.PRIO_PROCESS, pid),
        "cpus": os.sched_getaffinity(pid),
        "rttime": resource.prlimit(pid, resource.RLIMIT_RTTIME),
        "locked": locked > 0,
    }


@pytest.mark.lab
def test_the_vrrp_child_runs_as_global_defs_say_and_a_reload_changes_it(lab2, tmp_path):
    h1 = lab2.hosts[0]
    keys = "global_defs {\n    vrrp_rt_priority 20\n    vrrp_no_swap\n    vrrp_cpu_affinity 0\n}\n"
    vrrp_pid = tmp_path / "vrrp.pid"
    daemon = Daemon(h1, tmp_path).start(
        GLOBAL + keys + instance(h1, "VI_1", 76, VIP, 150), ("-r", str(vrrp_pid))
    )
    try:
        assert wait_for(lambda: daemon.state() == "MASTER", 5)
        pid = int(vrrp_pid.read_text())
        assert wait_for(lambda: kernel_view(pid)["policy"] == os.SCHED_RR, 5), daemon.log_text()
        view = kernel_view(pid)
        assert (view["rt_priority"], view["cpus"], view["locked"]) == (20, {0}, True)
        assert view["rttime"] == (5_000, 10_000)  # keepalived's default limit, half of it soft
        assert "VRRP process: realtime priority 20, rlimit_rttime 10000 µs" in daemon.log_text()

        daemon.conf.write_text(
            GLOBAL + "global_defs {\n    vrrp_priority -7\n}\n" + instance(h1, "VI_1", 76, VIP, 150)
        )
        outcome = daemon.request("reload")
        assert outcome["ok"], outcome
        view = kernel_view(pid)
        assert (view["policy"], view["rt_priority"], view["nice"]) == (os.SCHED_OTHER, 0, -7)
        assert view["cpus"] == os.sched_getaffinity(0) and not view["locked"]
        assert daemon.state() == "MASTER" and int(vrrp_pid.read_text()) == pid
    finally:
        daemon.stop()


BUSY_REALTIME = """
import os, sys, time
from tandem.daemon.scheduling import Scheduler, Scheduling

scheduler = Scheduler()
scheduler.apply(Scheduling(rt_priority=10, rlimit_rttime=20_000), "test")  # SIGKILL at 20 ms unblocked
assert os.sched_getscheduler(0) & ~os.SCHED_RESET_ON_FORK == os.SCHED_RR


def busy(seconds):  # CPU without blocking, as a plane transaction at thousands of real servers
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


if sys.argv[1] == "outside":
    with scheduler.not_realtime():
        with scheduler.not_realtime():  # nested: the inner one leaves the outer's normal scheduling
            busy(0.01)
        assert os.sched_getscheduler(0) & ~os.SCHED_RESET_ON_FORK == os.SCHED_OTHER
        busy(0.3)
    assert os.sched_getscheduler(0) & ~os.SCHED_RESET_ON_FORK == os.SCHED_RR
else:
    busy(0.3)
print("survived")
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="realtime scheduling needs CAP_SYS_NICE")
def test_long_cpu_work_outside_realtime_is_not_killed_by_the_rttime_limit():
    """The kernel kills a realtime process that runs past RLIMIT_RTTIME without blocking (keepalived's
    default 10 ms); Scheduler.not_realtime() (around a plane transaction, a control answer, a state
    dump) runs such work at normal scheduling, and realtime again after it."""
    import subprocess
    import sys

    def run(where: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-c", BUSY_REALTIME, where], capture_output=True, text=True, timeout=60
        )

    inside = run("inside")
    assert inside.returncode == -9 and "survived" not in inside.stdout  # the limit is real
    outside = run("outside")
    assert (outside.returncode, outside.stdout.strip()) == (0, "survived"), outside.stderr
