"""The load balancer's control commands (lb_status, lb_stats, drain), tandemctl's lb-status, lb-stats and
drain, reload of both, and the real-server metrics, over real sockets with a stand-in load balancer."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest
from tandem.cli.tandemctl import main as tandemctl_main
from tandem.control.client import ControlError, request
from tandem.control.protocol import (
    CheckStatus,
    LbStats,
    LbStatus,
    RealServerStats,
    RealServerStatus,
    ReloadOutcome,
    VirtualServerStatus,
)
from tandem.control.server import ControlServer
from test_control import DaemonState, cancel_connections, metrics_text


def tandemctl(socket_path: str, *argv: str) -> int:
    return tandemctl_main(["--socket", socket_path, *argv])


VS, RS1, RS2 = "[203.0.113.100]:80", "[198.51.100.13]:80", "[198.51.100.14]:80"


class Balancer:
    def __init__(self) -> None:
        self.maintenance: dict[str, str | None] = {RS1: None, RS2: None}
        self.reloads = 0

    def _rs(self, rs_id: str) -> RealServerStatus:
        mode = self.maintenance[rs_id]
        up = rs_id == RS1
        reason = "ok" if up else "connection refused (connecting)"
        check = CheckStatus("c1", "HTTP_GET", up, up, reason, 0.0021, 7, 0 if up else 3)
        plane = None if mode == "remove" or rs_id == RS2 else 0 if mode == "drain" else 2
        state = "UP" if rs_id == RS1 else "DOWN"
        return RealServerStatus(rs_id, state, 2, 2, plane, mode, "ok", (check,))

    def status(self) -> LbStatus:
        vs = VirtualServerStatus(
            VS, ("TCP [203.0.113.100]:80",), "UP", 2, 1, None, False, (self._rs(RS1), self._rs(RS2))
        )
        return LbStatus("nftables", (vs,))

    def stats(self) -> LbStats:
        rows = (RealServerStats(VS, RS1, 7, 0, 40, 400, 40000), RealServerStats(VS, RS2, 7, 3, 0, 0, 0))
        return LbStats("nftables", 14, 3, 1, 0, 2000, 0.0004, 0.002, 5, 0, rows)

    async def reload(self) -> ReloadOutcome:
        self.reloads += 1
        return ReloadOutcome(True, summary={"virtual servers unchanged": [VS]})

    def drain(self, virtual_server: str, real_server: str, mode: str) -> RealServerStatus:
        if virtual_server != VS:
            raise KeyError(f"no virtual server {virtual_server}")
        if real_server not in self.maintenance:
            raise KeyError(f"{virtual_server} has no real server {real_server}")
        self.maintenance[real_server] = None if mode == "restore" else mode
        return self._rs(real_server)


@pytest.fixture
def served(tmp_path):
    """A control server with the VRRP stand-in and a load balancer; and one without a load balancer."""
    loop = asyncio.new_event_loop()
    balancer = Balancer()
    servers = [
        ControlServer(str(tmp_path / "lb.sock"), DaemonState(), balancer),
        ControlServer(str(tmp_path / "vrrp.sock"), DaemonState()),
    ]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    for server in servers:
        asyncio.run_coroutine_threadsafe(server.start(), loop).result(5)
    yield servers[0].path, servers[1].path, balancer
    for server in servers:
        asyncio.run_coroutine_threadsafe(server.close(), loop).result(5)
    asyncio.run_coroutine_threadsafe(cancel_connections(), loop).result(5)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


def test_lb_status_table_and_json(served, capsys):
    path, _, _ = served
    assert tandemctl(path, "--json", "lb-status") == 0
    status = json.loads(capsys.readouterr().out)
    assert status["plane"] == "nftables"
    assert [rs["state"] for rs in status["virtual_servers"][0]["real_servers"]] == ["UP", "DOWN"]
    assert tandemctl(path, "lb-status") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "plane: nftables"
    assert lines[1].split() == [
        "VIRTUAL",
        "SERVER",
        "REAL",
        "SERVER",
        "STATE",
        "WEIGHT/CONF/PLANE",
        "LAST",
        "CHECK",
    ]
    assert lines[2].split()[:3] == [VS, "quorum", "UP"]
    assert lines[3].split() == [RS1, "UP", "2/2/2", "HTTP_GET:", "ok", "(2.1", "ms)"]
    assert lines[4].split()[:4] == [RS2, "DOWN", "2/2/-", "HTTP_GET:"]
    assert lines[4].endswith("connection refused (connecting) (2.1 ms)")
    # the VRRP status stays a list (the Ansible module utils read it)
    assert isinstance(request(path, "status"), list)


def test_lb_stats(served, capsys):
    path, _, _ = served
    assert tandemctl(path, "lb-stats") == 0
    head, _, first, second = capsys.readouterr().out.splitlines()
    assert head.startswith("plane: nftables, 5 change(s), 0 refused; checks: 14 run, 3 failed")
    assert "p99 2.0 ms" in head
    assert first.split() == [VS, RS1, "7", "0", "40", "400", "40000"]
    assert second.split() == [VS, RS2, "7", "3", "0", "0", "0"]


def test_drain_remove_restore(served, capsys):
    path, _, _ = served
    assert tandemctl(path, "drain", VS, RS1) == 0
    assert capsys.readouterr().out.strip() == f"{RS1}: drain (plane weight 0)"
    assert tandemctl(path, "drain", VS, RS1, "--remove") == 0
    assert capsys.readouterr().out.strip() == f"{RS1}: remove (not in the plane)"
    assert tandemctl(path, "drain", VS, RS1, "--restore") == 0
    assert capsys.readouterr().out.strip() == f"{RS1}: in rotation (plane weight 2)"
    assert tandemctl(path, "drain", VS, "[198.51.100.99]:80") == 1
    assert f"{VS} has no real server [198.51.100.99]:80" in capsys.readouterr().err
    with pytest.raises(ControlError, match="'mode' must be one of drain, remove, restore"):
        request(path, "drain", virtual_server=VS, real_server=RS1, mode="sideways")
    with pytest.raises(ControlError, match="must be strings"):
        request(path, "drain", virtual_server=VS, real_server=7)


def test_without_virtual_servers_the_lb_commands_say_so(served):
    _, vrrp_only, _ = served
    for command in ("lb_status", "lb_stats", "drain"):
        with pytest.raises(ControlError, match="no load balancer runs"):
            request(vrrp_only, command, virtual_server=VS, real_server=RS1)


def test_reload_reloads_both(served, capsys):
    path, _, balancer = served
    assert tandemctl(path, "reload") == 0
    out = capsys.readouterr().out.strip()
    assert out == f"reloaded; unchanged: VI_1; added: VI_2; virtual servers unchanged: {VS}"
    assert balancer.reloads == 1


def test_metrics_of_real_servers():
    text = metrics_text(DaemonState(), Balancer())
    labels = f'real_server="{RS1}",virtual_server="{VS}"'
    assert 'tandem_lb_plane{plane="nftables"} 1.0' in text
    assert f'tandem_lb_quorum_up{{virtual_server="{VS}"}} 1.0' in text
    assert f"tandem_lb_real_server_up{{{labels}}} 1.0" in text
    assert f'tandem_lb_real_server_up{{real_server="{RS2}",virtual_server="{VS}"}} 0.0' in text
    assert f"tandem_lb_real_server_weight{{{labels}}} 2.0" in text
    assert f"tandem_lb_real_server_plane_weight{{{labels}}} 2.0" in text
    assert f'tandem_lb_check_latency_seconds{{check="HTTP_GET",{labels}}} 0.0021' in text
    assert f"tandem_lb_connections_total{{{labels}}} 40.0" in text
    assert f"tandem_lb_bytes_total{{{labels}}} 40000.0" in text
    assert 'tandem_vrrp_state{instance="VI_1",state="MASTER"} 1.0' in text
