"""The plugin glue of tandem.ha.vrrp_plan, through real ansible-playbook runs: design given as task
arguments instead of inventory vars, bad task arguments, and a controller Python without the runtime."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

INVENTORY = {
    "all": {
        "hosts": {
            "lb1": {"tandem_addresses": {"eth0": "198.51.100.11/24"}},
            "lb2": {"tandem_addresses": {"eth0": "198.51.100.12/24"}},
        },
        "vars": {"tandem_interface": "eth0", "ansible_connection": "local"},
    }
}
GROUP = {"name": "web", "vrid": 51, "vips": ["198.51.100.100/24"], "members": ["lb1", "lb2"]}
# Makes `import tandem` fail in the controller's Python, as on a controller without the runtime.
BLOCK_TANDEM = """
import sys

class _NoTandem:
    def find_spec(self, name, path=None, target=None):
        if name == "tandem" or name.startswith("tandem."):
            raise ImportError(f"No module named {name!r}")

sys.meta_path.insert(0, _NoTandem())
"""


def play(tmp_path: Path, task_args: dict | None, env: dict | None = None) -> subprocess.CompletedProcess:
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(INVENTORY))
    task = {"tandem.ha.vrrp_plan": task_args, "run_once": True, "register": "planned"}
    summary = "1 VRRP instance(s) on 2 host(s), 0 DNS record set(s)"
    check = {
        "ansible.builtin.assert": {
            "that": ["planned.plan.instances[0].master == 'lb1'", f"planned.msg == {summary!r}"]
        }
    }
    play_ = [{"hosts": "all", "gather_facts": False, "tasks": [task, check]}]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play_))
    command = [str(Path(sys.executable).with_name("ansible-playbook")), "-i", "hosts.yml", "play.yml"]
    return subprocess.run(
        command, cwd=tmp_path, env={**os.environ, **(env or {})}, capture_output=True, text=True, check=False
    )


def test_design_can_be_passed_as_arguments(tmp_path):
    run = play(tmp_path, {"vrrp_groups": [GROUP]})
    assert run.returncode == 0, run.stdout
    assert "ok=2" in run.stdout


def test_unknown_argument_is_refused(tmp_path):
    run = play(tmp_path, {"vrrp_group": [GROUP]})
    assert run.returncode == 2
    assert "module: vrrp_group. Supported parameters include: active_active, vrrp_groups" in run.stdout


def test_missing_runtime_on_the_controller_is_explained(tmp_path):
    (tmp_path / "sitecustomize.py").write_text(BLOCK_TANDEM)
    pythonpath = os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))
    run = play(tmp_path, {"vrrp_groups": [GROUP]}, env={"PYTHONPATH": pythonpath})
    assert run.returncode == 2
    assert (
        "tandem.ha.vrrp_plan needs the tandem runtime package in the Python that runs Ansible" in run.stdout
    )
    assert "pip install <collection path>/runtime" in run.stdout
    assert "Traceback" not in run.stdout + run.stderr
