"""Acceptance: tandemd as a load balancer, real traffic, no mocks (tandemlab.lblab, nftables plane).

A client namespace sends HTTP requests to the virtual services on a tandemd load-balancer namespace;
three real-server namespaces run nginx (the Debian package). tandemd checks them with HTTP_GET (and
MISC_CHECK for the second service), and changes the nftables table as they fail and come back:

- one killed → out of rotation within delay_loop × (retry + 1) + connect_timeout, and new requests
  keep succeeding on the others; back → re-added;
- all down → quorum lost: quorum_down runs (it writes a file) and the sorry server answers; back →
  quorum_up;
- MISC_CHECK with misc_dynamic: the script's exit status sets the weights, which change the split;
- a black-holed real server (its packets dropped at the switch) times out and leaves the rotation,
  while the other real servers' checks stay on schedule;
- tandemctl lb-status / lb-stats / drain against the running daemon;
- stop → no tandem nftables table is left.

Timers are sub-second (delay_loop 0.2 s), so the whole run takes a few seconds.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import pytest
from tandem.control.client import ControlError, request
from tandemlab.lblab import SERVER, VIP, VIP2, LbLab
from tandemlab.polling import wait_for

pytestmark = [pytest.mark.lab, pytest.mark.slow]

DELAY_LOOP, RETRY, CONNECT_TIMEOUT = 0.2, 1, 0.5
BOUND = DELAY_LOOP * (RETRY + 1) + CONNECT_TIMEOUT  # keepalived's: how soon a dead server is out
SLACK = 5.0  # polling and a loaded 2-core machine (load 15 seen); the measured time is printed
SORRY_PORT = 8081
WEIGHT_SCRIPT = """#!/bin/sh
read status < "$(dirname "$0")/weight-$1"
exit "$status"
"""


def config(lab: LbLab, workdir: Path) -> str:
    rs = [lab.real_server(i) for i in (1, 2, 3)]
    http_servers = "\n".join(
        f"""
  real_server {address} 80 {{
    HTTP_GET {{
      url {{
        path /
        status_code 200
      }}
    }}
  }}"""
        for address in rs
    )
    misc_servers = "\n".join(
        f"""
  real_server {address} 80 {{
    weight 1
    MISC_CHECK {{
      misc_path "{workdir}/weight.sh {i}"
      misc_timeout 2
      misc_dynamic
    }}
  }}"""
        for i, address in enumerate(rs[:2], 1)
    )
    timers = f"""
  delay_loop {DELAY_LOOP}
  retry {RETRY}
  delay_before_retry 0.1
  connect_timeout {CONNECT_TIMEOUT}"""
    return f"""
global_defs {{
  router_id lb
  tandem_lb_plane nftables
}}
virtual_server {VIP} 80 {{
  lb_algo rr
  lb_kind NAT
  protocol TCP{timers}
  sorry_server {rs[2]} {SORRY_PORT}
  quorum_up "/usr/bin/rm -f {workdir}/quorum_down"
  quorum_down "/usr/bin/touch {workdir}/quorum_down"
{http_servers}
}}
virtual_server {VIP2} 80 {{
  lb_algo wrr
  lb_kind NAT
  protocol TCP{timers}
{misc_servers}
}}
"""


class Tandemd:
    """tandemd in the lb namespace; its control socket under /tmp (unix socket paths are short)."""

    def __init__(self, lab: LbLab, workdir: Path) -> None:
        self.lab, self.conf, self.log = lab, workdir / "tandemd.conf", workdir / "tandemd.log"
        self.sockdir = Path(tempfile.mkdtemp(prefix="tandemd-lb-", dir="/tmp"))
        self.socket = str(self.sockdir / "tandemd.sock")
        self.conf.write_text(config(lab, workdir))
        argv = [sys.executable, "-m", "tandem.cli.tandemd", "-f", str(self.conf), "-l", "-D", "-n"]
        with open(self.log, "ab") as log:
            self.process = lab.lb.spawn([*argv, "--control-socket", self.socket], stdout=log, stderr=log)

    def request(self, command: str, **args):
        return request(self.socket, command, timeout=10, **args)

    def servers(self, vs: str = f"[{VIP}]:80") -> dict[str, dict]:
        status = self.request("lb_status")
        (found,) = (v for v in status["virtual_servers"] if v["name"] == vs)
        return {rs["id"]: rs for rs in found["real_servers"]} | {"": found}

    def ctl(self, *args: str) -> str:
        argv = [sys.executable, "-m", "tandem.cli.tandemctl", "--socket", self.socket, *args]
        return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=True).stdout

    def close(self) -> int:
        code = self.process.stop(timeout=10)
        shutil.rmtree(self.sockdir, ignore_errors=True)
        return code


@pytest.fixture(scope="module")
def lb():
    if os.geteuid() != 0:
        pytest.skip("lab tests need root (network namespaces)")
    if shutil.which("nginx") is None:
        pytest.skip("nginx is not installed (scripts/setup.sh installs it)")
    workdir = Path(tempfile.mkdtemp(prefix="lb-acceptance-"))
    (workdir / "weight.sh").write_text(WEIGHT_SCRIPT)
    (workdir / "weight.sh").chmod(0o755)
    for i in (1, 2):
        (workdir / f"weight-{i}").write_text("0\n")
    with LbLab(servers=3, plane_class=None, http="nginx") as lab:
        lab.servers[2].spawn([sys.executable, "-c", SERVER, "sorry", str(SORRY_PORT)])
        daemon = Tandemd(lab, workdir)
        try:
            assert wait_for(lambda: _checked(daemon), timeout=20), daemon.log.read_text()
            yield lab, daemon, workdir
        finally:
            if daemon.process.alive:
                daemon.close()
    shutil.rmtree(workdir, ignore_errors=True)


def _checked(daemon: Tandemd) -> bool:
    """Every check has run once."""
    try:
        status = daemon.request("lb_status")
    except ControlError:
        return False
    return all(
        c["runs"] > 0 for vs in status["virtual_servers"] for rs in vs["real_servers"] for c in rs["checks"]
    )


def rs_id(lab: LbLab, i: int) -> str:
    return f"[{lab.real_server(i)}]:80"


def in_plane(daemon: Tandemd, lab: LbLab, i: int, vs: str = f"[{VIP}]:80") -> int | None:
    return daemon.servers(vs)[rs_id(lab, i)]["plane_weight"]


def test_a_killed_server_leaves_the_rotation_and_comes_back(lb):
    lab, daemon, _ = lb
    assert Counter(lab.call("get_many", VIP, 6)) == {"rs1": 2, "rs2": 2, "rs3": 2}
    lab.stop_http(1)
    killed = time.monotonic()
    assert wait_for(lambda: in_plane(daemon, lab, 1) is None, timeout=BOUND + SLACK, interval=0.01)
    took = time.monotonic() - killed
    print(f"\nkilled real server out of rotation after {took:.3f} s (keepalived's bound {BOUND:.1f} s)")
    assert Counter(lab.call("get_many", VIP, 6)) == {"rs2": 3, "rs3": 3}  # every new request answered
    status = daemon.servers()[rs_id(lab, 1)]
    assert status["state"] == "DOWN" and "connection refused" in status["checks"][0]["reason"]
    lab.start_http(1)
    assert wait_for(lambda: in_plane(daemon, lab, 1) == 1, timeout=BOUND + SLACK, interval=0.01)
    assert Counter(lab.call("get_many", VIP, 6)) == {"rs1": 2, "rs2": 2, "rs3": 2}


def test_all_down_the_sorry_server_answers_and_quorum_down_runs(lb):
    lab, daemon, workdir = lb
    marker = workdir / "quorum_down"
    for i in (1, 2, 3):
        lab.stop_http(i)
    try:
        assert wait_for(lambda: daemon.servers()[""]["sorry_server"] is not None, timeout=BOUND + SLACK)
        assert lab.call("get", VIP) == "sorry"
        assert daemon.servers()[""]["quorum"] == "DOWN"
        assert wait_for(marker.exists, timeout=10), "quorum_down did not run"
    finally:
        for i in (1, 2, 3):
            lab.start_http(i)
    assert wait_for(lambda: daemon.servers()[""]["quorum"] == "UP", timeout=BOUND + SLACK)
    assert wait_for(lambda: not marker.exists(), timeout=10), "quorum_up did not run"
    assert wait_for(lambda: all(in_plane(daemon, lab, i) == 1 for i in (1, 2, 3)), timeout=BOUND + SLACK)
    assert Counter(lab.call("get_many", VIP, 3)) == {"rs1": 1, "rs2": 1, "rs3": 1}


def test_misc_dynamic_weights_change_the_split(lb):
    lab, daemon, workdir = lb
    vs = f"[{VIP2}]:80"

    def weights(first: int, second: int) -> None:  # exit status = weight + 2
        for i, weight in ((1, first), (2, second)):
            (workdir / f"weight-{i}").write_text(f"{weight + 2}\n")
        assert wait_for(
            lambda: (in_plane(daemon, lab, 1, vs), in_plane(daemon, lab, 2, vs)) == (first, second),
            timeout=BOUND + SLACK + 2,  # misc_path starts a process: a little longer
        ), daemon.servers(vs)

    weights(3, 1)
    assert Counter(lab.call("get_many", VIP2, 8)) == {"rs1": 6, "rs2": 2}
    weights(1, 3)
    assert Counter(lab.call("get_many", VIP2, 8)) == {"rs1": 2, "rs2": 6}


def test_a_black_holed_server_times_out_without_delaying_other_checks(lb):
    lab, daemon, _ = lb
    rs3, lb_port, rs3_port = rs_id(lab, 3), lab.lb.switch_port, lab.servers[2].switch_port

    def runs(i: int) -> int:
        return daemon.servers()[rs_id(lab, i)]["checks"][0]["runs"]

    lab.lab.filter.drop(lb_port, rs3_port, "all")  # packets to rs3 vanish: no refusal, no answer
    try:
        assert wait_for(
            lambda: in_plane(daemon, lab, 3) is None, timeout=2 * (BOUND + CONNECT_TIMEOUT) + SLACK
        )
        assert "timeout after 0.5 s" in daemon.servers()[rs3]["checks"][0]["reason"]
        before, started = runs(1), time.monotonic()
        time.sleep(1.0)  # rs3's checks keep hanging for connect_timeout each meanwhile
        done = runs(1) - before
        expected = (time.monotonic() - started) / DELAY_LOOP
        print(f"\nrs1 checked {done} times in {expected:.1f} delay_loops while rs3 was black-holed")
        assert done >= expected / 2  # on schedule, give or take a loaded machine
        assert Counter(lab.call("get_many", VIP, 4)) == {"rs1": 2, "rs2": 2}
    finally:
        lab.lab.heal()
    assert wait_for(lambda: in_plane(daemon, lab, 3) == 1, timeout=BOUND + SLACK)


def test_tandemctl_lb_status_stats_and_drain(lb):
    lab, daemon, _ = lb
    vs, rs3 = f"[{VIP}]:80", rs_id(lab, 3)
    table = daemon.ctl("lb-status")
    assert table.startswith("plane: nftables\n")
    assert any(line.split()[:3] == [rs3, "UP", "1/1/1"] for line in table.splitlines())
    assert daemon.ctl("drain", vs, rs3).strip() == f"{rs3}: drain (plane weight 0)"
    assert Counter(lab.call("get_many", VIP, 4)) == {"rs1": 2, "rs2": 2}
    assert daemon.ctl("drain", vs, rs3, "--remove").strip() == f"{rs3}: remove (not in the plane)"
    assert daemon.ctl("drain", vs, rs3, "--restore").strip() == f"{rs3}: in rotation (plane weight 1)"
    assert Counter(lab.call("get_many", VIP, 3)) == {"rs1": 1, "rs2": 1, "rs3": 1}
    stats = daemon.request("lb_stats")
    rows = {(r["virtual_server"], r["real_server"]): r for r in stats["real_servers"]}
    assert rows[(vs, rs3)]["connections"] > 0 and rows[(vs, rs3)]["bytes"] > 0
    assert stats["plane"] == "nftables" and stats["checks_run"] > 0 and stats["plane_errors"] == 0
    assert isinstance(daemon.request("status"), list)  # the VRRP status stays a list


def test_stop_leaves_no_tandem_table(lb):
    lab, daemon, _ = lb
    assert "tandem_lb" in lab.nft("list", "tables")
    assert daemon.close() == 0
    assert "tandem_lb" not in lab.nft("list", "tables")
