"""tandem.ha.tandemd_config through real ansible-playbook runs: the runtime's writer makes the file, the
diff masks the password, a bad plan names its group and field, a registered result passed whole is
refused."""

from __future__ import annotations

import copy
import sys
from pathlib import Path

from test_vrrp_plan import INVENTORY as PLAN_INVENTORY
from test_vrrp_plan import run_playbook

# The file is copied by a module: the hosts (local) run it with this Python.
INVENTORY = copy.deepcopy(PLAN_INVENTORY)
INVENTORY["all"]["vars"]["ansible_python_interpreter"] = sys.executable

SECRET = "pw-8char"
GROUP = {
    "name": "web",
    "vrid": 51,
    "vips": ["198.51.100.100/24"],
    "members": ["lb1", "lb2"],
    "auth": {"type": "PASS", "password": SECRET},
}


def tasks(dest: Path, plan: str = "{{ planned.plan }}") -> list:
    return [
        {"tandem.ha.vrrp_plan": {"vrrp_groups": [GROUP]}, "run_once": True, "register": "planned"},
        {
            "tandem.ha.tandemd_config": {
                "plan": plan,
                "global_defs": {"router_id": "{{ inventory_hostname }}"},
                "dest": f"{dest}/{{{{ inventory_hostname }}}}.conf",
                "owner": "root",
                "group": "root",
            }
        },
    ]


def test_the_runtime_writer_makes_the_file_and_the_diff_hides_the_password(tmp_path):
    out = tmp_path / "etc"
    out.mkdir()
    first = run_playbook(tmp_path, tasks(out), INVENTORY, "--diff")
    assert first.returncode == 0, first.stdout
    text = (out / "lb1.conf").read_text()
    assert "vrrp_instance web {" in text and "router_id lb1" in text and f"auth_pass {SECRET}" in text
    assert "state MASTER" in text and "state MASTER" not in (out / "lb2.conf").read_text()
    assert "+        auth_pass ********" in first.stdout
    assert SECRET not in first.stdout + first.stderr
    again = run_playbook(tmp_path, tasks(out), INVENTORY, "--diff")
    assert again.returncode == 0 and "changed=0" in again.stdout, again.stdout


def test_the_registered_result_passed_whole_is_refused(tmp_path):
    run = run_playbook(tmp_path, tasks(tmp_path, "{{ planned }}"), INVENTORY)
    assert run.returncode == 2
    assert "tandemd_plan is the whole registered result of tandem.ha.vrrp_plan; pass its plan" in run.stdout


def test_a_config_the_runtime_refuses_names_group_and_field(tmp_path):
    bad = {
        "hosts": {"lb1": {"instances": [{"name": "web", "source": "web", "interface": "eth0", "vrid": 300}]}}
    }
    task = {"tandem.ha.tandemd_config": {"plan": bad, "dest": f"{tmp_path}/x.conf"}}
    run = run_playbook(tmp_path, [task], INVENTORY, "--limit", "lb1")
    assert run.returncode == 2
    assert "group 'web', host 'lb1', field 'vrid': virtual_router_id" in run.stdout, run.stdout
    assert not (tmp_path / "x.conf").exists()
