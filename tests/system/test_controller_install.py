"""A new user's controller, exactly as the README says: the collection tarball built here, installed into
an empty collections path, a fresh venv holding only what the README's one step installs; then, from the
installed collection, the planner and the config writer run, the installed files stay as shipped
(``ansible-galaxy collection verify``), and the tandemd role converges two real systemd hosts (podman
containers on a lab network) where tandemd then holds the planned VIP on the planned master."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from tandemlab import cleanup, naming
from tandemlab.topology import Layout

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# The venv's base interpreter: a Python of the machine, not this project's venv.
PYTHON = getattr(sys, "_base_executable", sys.executable)
IMAGE = os.environ.get("TANDEM_IMAGE", "localhost/tandem-host:bookworm")
CONTAINERS_CONF = ROOT / "scripts" / "containers.conf"

pytestmark = pytest.mark.slow

SECRET = "pw-1234"
SMTP_SECRET = "smtp-pw-5678"
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


@dataclass
class Controller:
    """The fresh controller: its venv, the empty collections path holding only tandem.ha, its env."""

    home: Path
    venv: Path
    collections: Path
    env: dict

    def tool(self, name: str) -> Path:
        return self.venv / "bin" / name


@pytest.fixture(scope="module")
def controller(tmp_path_factory) -> Controller:
    home = tmp_path_factory.mktemp("controller")
    run([BIN / "ansible-galaxy", "collection", "build", "--output-path", home])
    (tarball,) = home.glob("tandem-ha-*.tar.gz")
    venv = home / "venv"
    run([PYTHON, "-m", "venv", venv])
    run([venv / "bin" / "pip", "install", "--disable-pip-version-check", *readme_install_step()])
    collections = home / "collections"
    env = {
        "PATH": f"{venv / 'bin'}{os.pathsep}/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": str(home),
        "ANSIBLE_COLLECTIONS_PATH": str(collections),
        "ANSIBLE_NOCOLOR": "1",
    }
    for key in ("PIP_FIND_LINKS", "PIP_CERT", "PIP_DEFAULT_TIMEOUT"):  # the machine's pip settings
        if key in os.environ:
            env[key] = os.environ[key]
    run([venv / "bin" / "ansible-galaxy", "collection", "install", tarball, "-p", collections], env)
    installed = collections / "ansible_collections" / "tandem" / "ha"
    assert (installed / "runtime" / "src" / "tandem" / "inventory" / "render.py").is_file()
    return Controller(home, venv, collections, env)


def assert_installed_as_shipped(controller: Controller) -> None:
    """``ansible-galaxy collection verify`` finds at most the bytecode Ansible's own plugin loader leaves
    beside the plugins it imported: nothing of the runtime, no build files."""
    galaxy = controller.tool("ansible-galaxy")
    verify = subprocess.run(
        [galaxy, "collection", "verify", "--offline", "-p", controller.collections, "tandem.ha"],
        env=controller.env,
        capture_output=True,
        text=True,
        check=False,
    )
    reported = verify.stdout.split("modified content in the following files:", 1)[-1].split()
    if verify.returncode != 0:
        assert reported and all(re.fullmatch(r"plugins/\w+/__pycache__", p) for p in reported), verify.stdout
    assert "runtime/" not in verify.stdout, verify.stdout


def test_the_readme_install_plans_and_writes_configs(controller, tmp_path):
    work = tmp_path / "site"
    (work / "etc").mkdir(parents=True)
    inventory = yaml.safe_load(yaml.safe_dump(INVENTORY))
    inventory["all"]["vars"].update(
        ansible_connection="local", ansible_python_interpreter=str(controller.tool("python"))
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
    playbook = [controller.tool("ansible-playbook"), "-i", "hosts.yml", "site.yml", "--diff"]
    proc = run(playbook, controller.env, cwd=work)
    out = proc.stdout + proc.stderr
    assert "db (VRID 51): 198.51.100.50/24 -> master lb1 (150) -> backups lb2 (140)" in out
    assert SECRET not in out and "auth_pass ********" in out
    lb1 = (work / "etc" / "lb1.conf").read_text()
    assert "nopreempt" in lb1 and "eth1 weight 0" in lb1 and f"auth_pass {SECRET}" in lb1
    # The planner ran the installed runtime and wrote nothing into the installed collection.
    assert_installed_as_shipped(controller)


# The converge's lab: two systemd hosts on one lab network, one VRRP group with a per-host priority.
HOSTS = {"lb1": "198.51.100.81/24", "lb2": "198.51.100.82/24"}
VIP = "198.51.100.80"
DESIGN = {
    "tandem_interface": "eth0",
    "tandem_vrrp_groups": [
        {
            "name": "web",
            "vrid": 80,
            "vips": [f"{VIP}/24"],
            "members": [{"host": "lb1", "priority": 150}, {"host": "lb2", "priority": 100}],
            "auth": {"type": "PASS", "password": SECRET},
        }
    ],
    # mail settings with SMTP credentials (no alerts: nothing is sent), a secret the role ships
    "tandem_global": {
        "mail": {
            "to": ["ops@example.com"],
            "server": "203.0.113.25",
            "auth_user": "alerts",
            "auth_password": SMTP_SECRET,
        }
    },
}


def lab_missing() -> str | None:
    if os.geteuid() != 0:
        return "needs root (network namespaces, podman)"
    for tool in ("podman", "debootstrap", "ip", "nsenter"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (scripts/setup.sh installs it)"
    return None


class LabHosts:
    """Systemd containers, each in a lab network namespace of this process (tandemlab's naming)."""

    def __init__(self) -> None:
        self.prefix = naming.new_lab_prefix()
        self.layout = Layout(self.prefix, {host: [address] for host, address in HOSTS.items()})
        self.env = {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)}

    def podman(self, *args: str) -> str:
        return run(["podman", *args], self.env).stdout

    def create(self) -> None:
        self.layout.create()
        for host in HOSTS:
            self.podman(
                "run", "--detach", "--name", f"{self.prefix}-{host}", "--hostname", host,
                "--systemd", "always", "--cap-add", "NET_ADMIN,NET_RAW",
                "--network", f"ns:/run/netns/{self.layout.netns(host)}",
                "--label", f"{cleanup.CONTAINER_LABEL}={self.prefix}", IMAGE,
            )  # fmt: skip
        for host in HOSTS:
            # Right after the start systemd's bus may not answer yet ("Failed to connect to bus").
            deadline = time.monotonic() + 60
            while True:
                proc = self.exec(host, "systemctl", "is-system-running", "--wait")
                state = proc.stdout.strip()
                if state in ("running", "degraded"):
                    break
                assert time.monotonic() < deadline, f"systemd on {host}: {state} {proc.stderr.strip()}"
                time.sleep(0.5)

    def pid(self, host: str) -> int:
        return int(self.podman("inspect", "--format", "{{.State.Pid}}", f"{self.prefix}-{host}"))

    def exec(self, host: str, *argv: str) -> subprocess.CompletedProcess:
        enter = ["nsenter", f"--target={self.pid(host)}", "--mount", "--uts", "--ipc", "--net", "--pid", "--"]
        return subprocess.run([*enter, *argv], capture_output=True, text=True, timeout=60, check=False)

    def holders(self, address: str) -> set[str]:
        """The hosts whose eth0 carries ``address``."""
        return {
            host
            for host in HOSTS
            if f"inet {address}/"
            in run(["ip", "-n", self.layout.netns(host), "-o", "addr", "show", "dev", "eth0"]).stdout
        }


@pytest.fixture
def lab_hosts():
    reason = lab_missing()
    if reason:
        pytest.skip(reason)
    subprocess.run([str(ROOT / "scripts" / "build-image.sh")], check=True)  # once per machine
    lab = LabHosts()
    try:
        lab.create()
        yield lab
    finally:
        cleanup.remove_lab(lab.prefix)


def site_collections(controller: Controller) -> Path:
    """A second collections path with only the connection plugin this lab is reached by
    (community.docker's nsenter: real hosts are reached by ssh, which ansible-core has)."""
    site = controller.home / "site-collections" / "ansible_collections" / "community"
    if not site.exists():
        from ansible_collections.community import docker  # the project venv's `ansible` package

        site.mkdir(parents=True)
        (site / "docker").symlink_to(next(iter(docker.__path__)))
    return site.parents[1]


def leak(out: str, secret: str) -> str:
    """Where a secret shows in ansible-playbook's output: the task it appears under, and the line."""
    at = out.index(secret)
    task = out.rfind("TASK [", 0, at)
    header = out[task : out.find("\n", task)] if task >= 0 else "(before any task)"
    return f"{secret!r} shown under {header}: {out[max(at - 300, 0) : at + 100]!r}"


@pytest.mark.lab
@pytest.mark.timeout(900)
def test_the_installed_collection_converges_lab_hosts(controller, lab_hosts, tmp_path):
    """The installed tandem.ha role, its runtime built on this controller from the installed collection's
    own runtime/, converges two hosts: tandemd runs on both and the VIP is on the planned master only."""
    hosts = {
        host: {
            "tandem_addresses": {"eth0": [address]},
            "ansible_connection": "community.docker.nsenter",
            "ansible_nsenter_pid": lab_hosts.pid(host),
            "ansible_python_interpreter": "/usr/bin/python3",
        }
        for host, address in HOSTS.items()
    }
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump({"all": {"hosts": hosts, "vars": DESIGN}}))
    play = [
        {
            "name": "Converge",
            "hosts": "all",
            "gather_facts": False,
            "pre_tasks": [{"tandem.ha.vrrp_plan": None, "run_once": True, "register": "planned"}],
            "roles": [{"role": "tandem.ha.tandemd", "vars": {"tandemd_plan": "{{ planned.plan }}"}}],
        }
    ]
    (tmp_path / "site.yml").write_text(yaml.safe_dump(play))
    env = dict(controller.env)
    env["ANSIBLE_COLLECTIONS_PATH"] = f"{controller.collections}{os.pathsep}{site_collections(controller)}"
    # At -vvv (module invocations shown) and with --diff: neither the VRRP nor the SMTP password shows.
    playbook = [controller.tool("ansible-playbook"), "-i", "hosts.yml", "site.yml", "-vvv", "--diff"]
    proc = run(playbook, env, cwd=tmp_path)
    out = proc.stdout + proc.stderr
    assert "web (VRID 80): 198.51.100.80/24 -> master lb1 (150) -> backups lb2 (100)" in out, out[-4000:]
    for secret in (SECRET, SMTP_SECRET):
        assert secret not in out, leak(out, secret)
    assert "auth_pass ********" in out  # the diff of tandemd.conf, masked
    # The hosts' wheelhouse was built by this controller (its HOME) from the role's default source, the
    # installed collection's runtime/ (nothing here points the role elsewhere).
    assert list((controller.home / ".cache" / "tandem" / "wheelhouse").glob("*/MANIFEST.json"))
    for host in HOSTS:
        active = lab_hosts.exec(host, "systemctl", "is-active", "tandemd.service")
        assert active.stdout.strip() == "active", f"{host}: tandemd is {active.stdout.strip()}"
        checked = lab_hosts.exec(host, "tandemd", "-t", "-f", "/etc/tandem/tandemd.conf")
        assert checked.returncode == 0, f"{host}: {checked.stdout}{checked.stderr}"
        password = lab_hosts.exec(host, "stat", "-c", "%a %U", "/etc/tandem/smtp-password")
        assert password.stdout.split() == ["600", "root"], f"{host}: {password.stdout}{password.stderr}"
    # The role waited for the planned states; the VIP is where the plan put it, seen from outside.
    deadline = time.monotonic() + 30
    while lab_hosts.holders(VIP) != {"lb1"} and time.monotonic() < deadline:
        time.sleep(0.5)
    assert lab_hosts.holders(VIP) == {"lb1"}
    status = lab_hosts.exec("lb1", "tandemctl", "status")
    assert "MASTER" in status.stdout, status.stdout + status.stderr
    # Building the hosts' wheelhouse wrote nothing into the installed collection either.
    assert_installed_as_shipped(controller)
