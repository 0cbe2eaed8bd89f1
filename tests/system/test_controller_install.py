"""A new user's controller, exactly as the README says: the collection tarball built here, installed into
an empty collections path, a fresh venv holding only what the README's one step installs; then the
planner and the config writer run from the installed collection, and the installed files stay as
shipped (``ansible-galaxy collection verify``)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# The venv's base interpreter: a Python of the machine, not this project's venv.
PYTHON = getattr(sys, "_base_executable", sys.executable)

pytestmark = pytest.mark.slow

SECRET = "pw-1234"
INVENTORY = {
    "all": {
        "hosts": {
            "lb1": {"tandem_addresses": {"eth0": ["198.51.100.11/24"]}},
            "lb2": {"tandem_addresses": {"eth0": ["198.51.100.12/24"]}},
        },
        "vars": {
            "tandem_interface": "eth0",
            "tandem_vrrp_groups": [
                {
                    "name": "db",
                    "vrid": 51,
                    "vips": ["198.51.100.50/24"],
                    "members": ["lb1", "lb2"],
                    "auth": {"type": "PASS", "password": SECRET},
                    "preempt": False,
                    "track_interfaces": ["eth1"],
                }
            ],
        },
    }
}


def readme_install_step() -> list[str]:
    """The pip packages of the README's one-step controller install, as the README writes them."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Installing the collection on a controller", 1)[1].split("\n## ", 1)[0]
    command = re.search(r"pip install (.+?) &&", section, re.S)
    assert command, "the README's install step is not where this test reads it"
    return [word.strip("'\"") for word in command.group(1).split()]


def run(argv: list, env: dict | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=900, check=False
    )
    assert proc.returncode == 0, (
        f"{argv}: exit {proc.returncode}\n{proc.stdout[-6000:]}\n{proc.stderr[-6000:]}"
    )
    return proc


def test_the_readme_install_plans_and_writes_configs(tmp_path):
    run([BIN / "ansible-galaxy", "collection", "build", "--output-path", tmp_path])
    (tarball,) = tmp_path.glob("tandem-ha-*.tar.gz")
    venv = tmp_path / "venv"
    run([PYTHON, "-m", "venv", venv])
    run([venv / "bin" / "pip", "install", "--disable-pip-version-check", *readme_install_step()])
    collections = tmp_path / "collections"
    env = {
        "PATH": f"{venv / 'bin'}{os.pathsep}/usr/bin:/bin",
        "HOME": str(tmp_path),
        "ANSIBLE_COLLECTIONS_PATH": str(collections),
        "ANSIBLE_NOCOLOR": "1",
    }
    run([venv / "bin" / "ansible-galaxy", "collection", "install", tarball, "-p", collections], env)
    installed = collections / "ansible_collections" / "tandem" / "ha"
    assert (installed / "runtime" / "src" / "tandem" / "inventory" / "render.py").is_file()

    work = tmp_path / "site"
    (work / "etc").mkdir(parents=True)
    inventory = yaml.safe_load(yaml.safe_dump(INVENTORY))
    inventory["all"]["vars"].update(
        ansible_connection="local", ansible_python_interpreter=str(venv / "bin" / "python")
    )
    (work / "hosts.yml").write_text(yaml.safe_dump(inventory))
    play = [
        {
            "hosts": "all",
            "gather_facts": False,
            "tasks": [
                {"name": "Plan", "tandem.ha.vrrp_plan": None, "run_once": True, "register": "planned"},
                {
                    "name": "Write the config",
                    "tandem.ha.tandemd_config": {
                        "plan": "{{ planned.plan }}",
                        "global_defs": {"router_id": "{{ inventory_hostname }}"},
                        "dest": f"{work}/etc/{{{{ inventory_hostname }}}}.conf",
                        "owner": "root",
                        "group": "root",
                    },
                },
            ],
        }
    ]
    (work / "site.yml").write_text(yaml.safe_dump(play))
    proc = run([venv / "bin" / "ansible-playbook", "-i", "hosts.yml", "site.yml", "--diff"], env, cwd=work)
    out = proc.stdout + proc.stderr
    assert "db (VRID 51): 198.51.100.50/24 -> master lb1 (150) -> backups lb2 (140)" in out
    assert SECRET not in out and "auth_pass ********" in out
    lb1 = (work / "etc" / "lb1.conf").read_text()
    assert "nopreempt" in lb1 and "eth1 weight 0" in lb1 and f"auth_pass {SECRET}" in lb1
    # The planner ran the installed runtime and wrote nothing into the installed collection: verify finds
    # at most the bytecode Ansible's own plugin loader leaves beside the plugins it imported.
    verify = subprocess.run(
        [
            venv / "bin" / "ansible-galaxy",
            "collection",
            "verify",
            "--offline",
            "-p",
            collections,
            "tandem.ha",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    reported = verify.stdout.split("modified content in the following files:", 1)[-1].split()
    if verify.returncode != 0:
        assert reported and all(re.fullmatch(r"plugins/\w+/__pycache__", p) for p in reported), verify.stdout
    assert "runtime/" not in verify.stdout, verify.stdout
