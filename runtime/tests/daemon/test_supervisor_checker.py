"""tandemd's checker child on a real load balancer: a config with virtual_server gets a second child
(``-c`` holds its pid) beside the VRRP one; the parent relays lb_status to it; killed with SIGKILL it is
restarted while VRRP and the traffic carry on (the table it left keeps forwarding until the new child
replaces it); stop leaves no Tandem table."""

from __future__ import annotations

import os
import signal
import sys

import pytest
from daemon_lab import GLOBAL, Daemon, instance
from tandem.control.client import ControlError
from tandemlab.lblab import VIP, LbLab
from tandemlab.polling import wait_for
from test_supervisor import alive, parent_of

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def virtual_server(lab: LbLab) -> str:
    lines = [f"virtual_server {VIP} 80 {{", "delay_loop 1", "lb_algo rr", "lb_kind NAT", "protocol TCP"]
    for server in lab.servers:
        lines += [f"real_server {server.ipv4} 80 {{", "TCP_CHECK {", "connect_timeout 1", "}", "}"]
    return "\n".join([*lines, "}"]) + "\n"


def up_servers(daemon: Daemon) -> set[str]:
    try:
        (vs,) = daemon.request("lb_status")["virtual_servers"]
    except ControlError:  # the checker process is starting
        return set()
    return {rs["id"] for rs in vs["real_servers"] if rs["state"] == "UP"}


def test_the_checker_child_is_supervised_and_its_death_stops_no_traffic(tmp_path):
    with LbLab(servers=2, plane_class=None) as lab:
        pids = {name: tmp_path / f"{name}.pid" for name in ("main", "vrrp", "check")}
        flags = ("-p", str(pids["main"]), "-r", str(pids["vrrp"]), "-c", str(pids["check"]))
        config = (
            GLOBAL.replace("}", "    tandem_metrics_listen 127.0.0.1:9651\n}")
            + instance(lab.lb, "VI_1", 81, "198.51.100.181/24", 150)
            + virtual_server(lab)
        )
        daemon = Daemon(lab.lb, tmp_path).start(config, flags)
        try:
            assert wait_for(lambda: daemon.state() == "MASTER", 5)
            assert wait_for(lambda: len(up_servers(daemon)) == 2, 10), daemon.log_text()
            main, vrrp, check = (int(pids[name].read_text()) for name in ("main", "vrrp", "check"))
            assert parent_of(vrrp) == parent_of(check) == main and vrrp != check
            assert set(lab.call("get_many", VIP, 6)) == {f"rs{i}" for i in (1, 2)}
            assert {p["role"]: p["state"] for p in daemon.request("processes")} == {
                "vrrp": "running",
                "check": "running",
            }
            # the parent's metrics endpoint serves both children's metrics
            fetch = "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:9651/metrics').read().decode())"
            metrics = lab.lb.run([sys.executable, "-c", fetch]).stdout
            assert 'tandem_vrrp_state{instance="VI_1",state="MASTER"} 1.0' in metrics
            rs1 = f'real_server="[{lab.servers[0].ipv4}]:80",virtual_server="[{VIP}]:80"'
            assert f"tandem_lb_real_server_up{{{rs1}}} 1.0" in metrics

            os.kill(check, signal.SIGKILL)
            answers, failures = lab.call("hammer", VIP, 2.0)
            assert not failures and set(answers) == {"rs1", "rs2"}
            assert wait_for(lambda: pids["check"].exists() and int(pids["check"].read_text()) != check, 10)
            assert int(pids["vrrp"].read_text()) == vrrp and daemon.state() == "MASTER"
            assert wait_for(lambda: len(up_servers(daemon)) == 2, 10), daemon.log_text()
            assert f"checker process {check} ended (signal SIGKILL)" in daemon.log_text()
            assert set(lab.call("get_many", VIP, 6)) == {"rs1", "rs2"}
        finally:
            assert daemon.stop() == 0
        assert not alive(check) and "tandem_lb" not in lab.nft("list", "tables")


def test_reloads_start_and_stop_the_checker_child_as_virtual_servers_come_and_go(tmp_path):
    with LbLab(servers=1, plane_class=None) as lab:
        check_pid = tmp_path / "check.pid"
        vrrp_only = GLOBAL + instance(lab.lb, "VI_1", 82, "198.51.100.182/24", 150)
        daemon = Daemon(lab.lb, tmp_path).start(vrrp_only, ("-c", str(check_pid)))
        try:
            assert wait_for(lambda: daemon.state() == "MASTER", 5)
            assert daemon.request("processes")[1]["state"] == "stopped"
            with pytest.raises(ControlError, match="no load balancer runs"):
                daemon.request("lb_status")
            daemon.conf.write_text(vrrp_only + virtual_server(lab))
            assert daemon.request("reload")["ok"]
            assert wait_for(lambda: len(up_servers(daemon)) == 1, 10), daemon.log_text()
            assert check_pid.exists() and lab.call("get", VIP) == "rs1"
            daemon.conf.write_text(vrrp_only)
            assert daemon.request("reload")["ok"]
            assert not check_pid.exists() and "tandem_lb" not in lab.nft("list", "tables")
            assert daemon.request("processes")[1]["state"] == "stopped" and daemon.state() == "MASTER"
        finally:
            assert daemon.stop() == 0
