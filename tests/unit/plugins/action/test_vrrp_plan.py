"""The plugin glue of tandem.ha.vrrp_plan and tandem.ha.tandemd_config, through real ansible-playbook
runs: design given as task arguments instead of inventory vars, bad task arguments, a controller Python
without the runtime; the runtime's writer makes the file, the diff masks the password, a bad plan names
its group and field, a registered result passed whole is refused. (One module: ansible-test units
imports test modules in a way that lets none import another.)"""

from __future__ import annotations

import copy
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
    summary = "VRRP plan: 1 instance(s) on 2 host(s), 0 DNS record set(s)"
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
    assert (
        "module: vrrp_group. Supported parameters include: active_active, global_settings, "
        "virtual_servers, vrrp_groups" in run.stdout
    )


def test_missing_runtime_on_the_controller_is_explained(tmp_path):
    (tmp_path / "sitecustomize.py").write_text(BLOCK_TANDEM)
    pythonpath = os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))
    run = play(tmp_path, {"vrrp_groups": [GROUP]}, env={"PYTHONPATH": pythonpath})
    assert run.returncode == 2
    assert "the tandem.ha controller plugins run the collection's runtime" in run.stdout
    assert "-m pip install -r " in run.stdout and "requirements.txt" in run.stdout
    assert "Traceback" not in run.stdout + run.stderr


def run_playbook(tmp_path: Path, tasks: list, inventory: dict, *options: str) -> subprocess.CompletedProcess:
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(inventory))
    (tmp_path / "play.yml").write_text(
        yaml.safe_dump([{"hosts": "all", "gather_facts": False, "tasks": tasks}])
    )
    command = [
        str(Path(sys.executable).with_name("ansible-playbook")),
        *options,
        "-i",
        "hosts.yml",
        "play.yml",
    ]
    env = {**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"}
    return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, check=False)


SECRET = "s3cr3t-pw"


def test_summary_by_default_secrets_never_shown(tmp_path):
    group = {**GROUP, "auth": {"type": "PASS", "password": SECRET}}
    plan_task = {"tandem.ha.vrrp_plan": {"vrrp_groups": [group]}, "run_once": True, "register": "planned"}
    uses_secret = {
        "ansible.builtin.assert": {
            "that": [f"planned.plan.hosts.lb1.instances[0].auth.password == {SECRET!r}"]
        }
    }
    default = run_playbook(tmp_path, [plan_task, uses_secret], INVENTORY)
    assert default.returncode == 0, default.stdout
    summary = "  web (VRID 51): 198.51.100.100/24 -> master lb1 (150) -> backups lb2 (140)"
    assert summary in default.stdout + default.stderr  # stderr: json callbacks own stdout
    assert "full plan" not in default.stdout
    verbose = run_playbook(tmp_path, [plan_task, uses_secret], INVENTORY, "-vvvv")
    assert verbose.returncode == 0, verbose.stdout
    assert "full plan (secrets masked)" in verbose.stdout and '"password": "********"' in verbose.stdout
    assert SECRET not in verbose.stdout + verbose.stderr


def test_planning_without_run_once_warns(tmp_path):
    task = {"tandem.ha.vrrp_plan": {"vrrp_groups": [GROUP]}}
    run = run_playbook(tmp_path, [task], INVENTORY)
    assert run.returncode == 0, run.stdout
    assert "without run_once: true" in run.stdout + run.stderr


def test_design_the_planning_host_cannot_see_is_an_error(tmp_path):
    inventory = yaml.safe_load(yaml.safe_dump(INVENTORY))
    inventory["all"]["hosts"]["lb2"]["tandem_vrrp_groups"] = [GROUP]
    run = run_playbook(tmp_path, [{"tandem.ha.vrrp_plan": None, "run_once": True}], inventory)
    assert run.returncode == 2
    assert (
        "host 'lb2', field 'tandem_vrrp_groups': tandem_vrrp_groups is set for lb2 but not for the planning "
        "host lb1" in run.stdout
    )


# tandem.ha.tandemd_config: the file is copied by a module, which the hosts (local) run with this Python.
WRITER_INVENTORY = copy.deepcopy(INVENTORY)
WRITER_INVENTORY["all"]["vars"]["ansible_python_interpreter"] = sys.executable

WRITER_SECRET = "pw-8char"
WRITER_GROUP = {
    "name": "web",
    "vrid": 51,
    "vips": ["198.51.100.100/24"],
    "members": ["lb1", "lb2"],
    "auth": {"type": "PASS", "password": WRITER_SECRET},
}


def tasks(dest: Path, plan: str = "{{ planned.plan }}") -> list:
    return [
        {"tandem.ha.vrrp_plan": {"vrrp_groups": [WRITER_GROUP]}, "run_once": True, "register": "planned"},
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
    first = run_playbook(tmp_path, tasks(out), WRITER_INVENTORY, "--diff")
    assert first.returncode == 0, first.stdout
    text = (out / "lb1.conf").read_text()
    assert "vrrp_instance web {" in text and "router_id lb1" in text and f"auth_pass {WRITER_SECRET}" in text
    assert "state MASTER" in text and "state MASTER" not in (out / "lb2.conf").read_text()
    assert "+        auth_pass ********" in first.stdout
    assert WRITER_SECRET not in first.stdout + first.stderr
    again = run_playbook(tmp_path, tasks(out), WRITER_INVENTORY, "--diff")
    assert again.returncode == 0 and "changed=0" in again.stdout, again.stdout


def test_the_registered_result_passed_whole_is_refused(tmp_path):
    run = run_playbook(tmp_path, tasks(tmp_path, "{{ planned }}"), WRITER_INVENTORY)
    assert run.returncode == 2
    assert "tandemd_plan is the whole registered result of tandem.ha.vrrp_plan; pass its plan" in run.stdout


def test_a_config_the_runtime_refuses_names_group_and_field(tmp_path):
    bad = {
        "hosts": {"lb1": {"instances": [{"name": "web", "source": "web", "interface": "eth0", "vrid": 300}]}}
    }
    task = {"tandem.ha.tandemd_config": {"plan": bad, "dest": f"{tmp_path}/x.conf"}}
    run = run_playbook(tmp_path, [task], WRITER_INVENTORY, "--limit", "lb1")
    assert run.returncode == 2
    assert "group 'web', host 'lb1', field 'vrid': virtual_router_id" in run.stdout, run.stdout
    assert not (tmp_path / "x.conf").exists()


ROLE = Path(__file__).resolve().parents[4] / "roles" / "tandemd"


def role_task(**role_vars) -> dict:
    return {"ansible.builtin.include_role": {"name": "tandem.ha.tandemd"}, "vars": role_vars}


def test_the_role_refuses_a_registered_result_and_unknown_extras_before_it_builds(tmp_path):
    plan_task = {"tandem.ha.vrrp_plan": {"vrrp_groups": [GROUP]}, "run_once": True, "register": "planned"}
    whole = run_playbook(tmp_path, [plan_task, role_task(tandemd_plan="{{ planned }}")], INVENTORY)
    assert whole.returncode == 2, whole.stdout
    assert "tandemd_plan.plan" in whole.stdout
    assert "Supported parameters include: dns_records, hosts, instances, real_server_sysctls" in whole.stdout
    extras = run_playbook(
        tmp_path,
        [plan_task, role_task(tandemd_plan="{{ planned.plan }}", tandemd_extras="metrics,foo")],
        INVENTORY,
    )
    assert extras.returncode == 2, extras.stdout
    assert (
        "value of tandemd_extras must be one or more of: dns, metrics. Got no match for: foo" in extras.stdout
    )
    for run in (whole, extras):
        assert "Build the wheelhouse" not in run.stdout, "the role went on past its argument check"


def test_a_dns_check_in_the_plan_installs_the_dns_extra(tmp_path):
    checker = {"DNS_CHECK": {"name": "example.com"}}
    server = {
        "address": "198.51.100.100",
        "port": 53,
        "real_servers": [{"address": "203.0.113.10", "checkers": [checker]}],
    }
    plans = {
        "dns": {"hosts": {"lb1": {"virtual_servers": [server]}}},
        "none": {"hosts": {"lb1": {"virtual_servers": []}}},
    }
    tasks = [
        {"ansible.builtin.include_vars": {"file": str(ROLE / "vars" / "main.yml")}},
        {
            "ansible.builtin.assert": {
                "that": ["_tandemd_extras == (['dns', 'metrics'] if case == 'dns' else ['metrics'])"]
            },
            "vars": {"tandemd_plan": "{{ plans[case] }}", "tandemd_extras": ["metrics"]},
            "loop": ["dns", "none"],
            "loop_control": {"loop_var": "case"},
        },
    ]
    inventory = copy.deepcopy(INVENTORY)
    inventory["all"]["vars"]["plans"] = plans
    run = run_playbook(tmp_path, tasks, inventory, "--limit", "lb1")
    assert run.returncode == 0, run.stdout
