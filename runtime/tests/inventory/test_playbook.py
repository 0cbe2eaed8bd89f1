"""Real ansible-playbook runs of tandem.ha.vrrp_plan against the inventory documented in docs/inventory.md."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "inventory.md"
PLAYBOOK = """
- hosts: loadbalancers
  gather_facts: false
  tasks:
    - name: Plan
      tandem.ha.vrrp_plan:
      run_once: true
      register: tandem_plan
    - name: Save the plan for the test
      ansible.builtin.copy:
        content: "{{ tandem_plan.plan | to_json }}"
        dest: "{{ plan_file }}"
      run_once: true
      check_mode: false
    - name: Every host sees its own part of the registered plan
      ansible.builtin.assert:
        that: tandem_plan.plan.hosts[inventory_hostname].instances | length == 4
"""


def documented_files() -> dict[str, str]:
    """The yaml blocks of docs/inventory.md that start with '# file: PATH'."""
    blocks = re.findall(r"```yaml\n# file: (\S+)\n(.*?)```", DOC.read_text(), re.S)
    return dict(blocks)


@pytest.fixture
def site(tmp_path):
    for name, text in documented_files().items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    (tmp_path / "test.yml").write_text(PLAYBOOK)
    return tmp_path


def play(site: Path, *extra: str) -> subprocess.CompletedProcess:
    command = [
        str(Path(sys.executable).with_name("ansible-playbook")),
        *("-i", str(site / "inventory")),
        *("-e", f"plan_file={site / 'plan.json'}"),
        *("-e", "ansible_connection=local", "-e", f"ansible_python_interpreter={sys.executable}"),
        *extra,
        str(site / "test.yml"),
    ]
    env = {**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"}
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, check=False)


def test_documented_inventory_is_planned(site):
    run = play(site)
    assert run.returncode == 0, run.stdout + run.stderr
    plan = json.loads((site / "plan.json").read_text())
    assert [(i["name"], i["state"], i["priority"]) for i in plan["hosts"]["lb2"]["instances"]] == [
        ("db", "BACKUP", 100),
        ("web6", "BACKUP", 140),
        ("www_0", "BACKUP", 140),
        ("www_1", "MASTER", 150),
    ]
    web6 = plan["hosts"]["lb1"]["instances"][1]
    assert (web6["version"], web6["unicast_src"], web6["unicast_peers"]) == (
        3,
        "2001:db8::11",
        ["2001:db8::12"],
    )
    assert plan["dns_records"][0]["addresses"] == ["198.51.100.20", "198.51.100.21"]
    assert "[WARNING]" not in run.stdout + run.stderr


def test_check_mode_gives_the_same_plan(site):
    assert play(site).returncode == 0
    normal = json.loads((site / "plan.json").read_text())
    (site / "plan.json").unlink()
    run = play(site, "--check")
    assert run.returncode == 0, run.stdout + run.stderr
    assert json.loads((site / "plan.json").read_text()) == normal
    assert normal["instances"]


def test_invalid_inventory_fails_naming_host_group_and_field(site):
    design = site / "inventory" / "group_vars" / "all" / "tandem.yml"
    design.write_text(design.read_text().replace("{host: lb2, priority: 100}", "{host: lb2, priority: 150}"))
    run = play(site)
    assert run.returncode == 2
    assert (
        "group 'db', host 'lb1', field 'members': no preferred master: all members have priority 150"
        in run.stdout
    )
    assert "Traceback" not in run.stdout + run.stderr
    assert not (site / "plan.json").exists()


def test_warnings_are_shown_and_do_not_fail(site):
    design = site / "inventory" / "group_vars" / "all" / "tandem.yml"
    design.write_text(design.read_text().replace("ttl: 30", "ttl: 3600"))
    run = play(site)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "[WARNING]: group 'www', field 'dns.ttl': TTL 3600 s is long" in run.stdout + run.stderr
