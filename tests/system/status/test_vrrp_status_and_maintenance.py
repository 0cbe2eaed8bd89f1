"""tandem.ha.vrrp_status and tandem.ha.vrrp_maintenance in real plays, against two real tandemd.

The daemons run in lab hosts h1 (priority 150) and h2 (priority 100); their control sockets are files,
so the play on the controller reaches both. A maintenance drill moves the VIP and clearing it brings
it back by preemption.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml
from tandemlab.polling import wait_for

pytestmark = [pytest.mark.lab, pytest.mark.slow]

BIN = Path(sys.executable).parent
VIP = "198.51.100.120"
CONFIG = """\
vrrp_instance VI_drill {{
    state BACKUP
    interface eth0
    virtual_router_id 120
    version 3
    priority {priority}
    advert_int 0.1
    virtual_ipaddress {{
        {vip}/24
    }}
}}
"""


@pytest.fixture
def pair(lab2, tmp_path):
    sockets = Path(tempfile.mkdtemp(prefix="tandem-status-", dir="/tmp"))  # short unix socket paths
    daemons = {}
    for host, priority in zip(lab2.hosts, (150, 100), strict=True):
        conf = tmp_path / f"{host.name}.conf"
        conf.write_text(CONFIG.format(priority=priority, vip=VIP))
        socket = sockets / f"{host.name}.sock"
        log = open(tmp_path / f"{host.name}.log", "wb")  # noqa: SIM115 - handed to the daemon
        host.spawn(
            [str(BIN / "tandemd"), "-f", str(conf), "-n", "-l", "--control-socket", str(socket)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        daemons[host.name] = str(socket)
    yield lab2, daemons
    for path in sockets.iterdir():
        path.unlink()
    sockets.rmdir()


def play(tmp_path: Path, tasks: list[dict]) -> dict:
    """Run the tasks on localhost; return {task name: result} from the JSON callback."""
    playbook = tmp_path / "play.yml"
    playbook.write_text(yaml.safe_dump([{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]))
    result = subprocess.run(
        [
            str(BIN / "ansible-playbook"),
            "-i",
            "localhost,",
            "-c",
            "local",
            str(playbook),
            "-e",
            f"ansible_python_interpreter={sys.executable}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json"},
        check=False,
    )
    report = json.loads(result.stdout)
    return {task["task"]["name"]: task["hosts"]["localhost"] for task in report["plays"][0]["tasks"]}


def status(socket: str, **options) -> dict:
    return {"tandem.ha.vrrp_status": {"socket": socket, "tandemctl": str(BIN / "tandemctl"), **options}}


def maintenance(socket: str, mode: str) -> dict:
    return {
        "tandem.ha.vrrp_maintenance": {"socket": socket, "tandemctl": str(BIN / "tandemctl"), "mode": mode}
    }


def test_status_waits_for_master_and_a_drill_moves_the_vip_and_back(pair, tmp_path):
    lab, sockets = pair
    h1, h2 = lab.hosts
    results = play(
        tmp_path,
        [
            {"name": "h1 master", **status(sockets["h1"], instance="VI_drill", state="MASTER", timeout=15)},
            {"name": "h2 backup", **status(sockets["h2"], state="BACKUP", timeout=15)},
            {"name": "drill", **maintenance(sockets["h1"], "force_backup")},
            {"name": "drill again", **maintenance(sockets["h1"], "force_backup")},
            {"name": "h2 took over", **status(sockets["h2"], state="MASTER", timeout=15)},
        ],
    )
    master = results["h1 master"]["instances"][0]
    assert master["state"] == "MASTER" and master["base_priority"] == 150
    assert VIP + "/24" in master["vips"]
    assert results["h2 backup"]["instances"][0]["state"] == "BACKUP"
    assert results["drill"]["changed"] is True
    assert results["drill"]["instances"][0]["maintenance"] == "force_backup"
    assert results["drill again"]["changed"] is False
    assert results["h2 took over"]["instances"][0]["state"] == "MASTER"
    assert wait_for(lambda: h2.has_address(VIP) and not h1.has_address(VIP))

    results = play(
        tmp_path,
        [
            {"name": "clear", **maintenance(sockets["h1"], "clear")},
            {"name": "h1 preempts", **status(sockets["h1"], state="MASTER", timeout=15)},
        ],
    )
    assert results["clear"]["changed"] is True
    assert results["h1 preempts"]["instances"][0]["maintenance"] is None
    assert wait_for(lambda: h1.has_address(VIP) and not h2.has_address(VIP))


def test_status_reports_an_unknown_instance_a_timeout_and_a_missing_daemon(pair, tmp_path):
    sockets = pair[1]
    results = play(
        tmp_path,
        [
            {"name": "unknown", **status(sockets["h1"], instance="VI_nope"), "ignore_errors": True},
            {"name": "never fault", **status(sockets["h2"], state="FAULT", timeout=1), "ignore_errors": True},
            {"name": "no daemon", **status("/tmp/no-such-tandemd.sock"), "ignore_errors": True},
        ],
    )
    assert results["unknown"]["failed"] and "no VRRP instance named 'VI_nope'" in results["unknown"]["msg"]
    assert results["never fault"]["failed"]
    assert results["never fault"]["msg"].startswith("not all FAULT after 1.0 s: VI_drill ")
    assert results["no daemon"]["failed"] and "cannot reach tandemd" in results["no daemon"]["msg"]
