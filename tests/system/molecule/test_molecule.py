"""Molecule scenarios of the collection (top-level molecule/), run for real by the project's test command.

Each scenario builds its own network namespaces and systemd podman containers (see
molecule/resources/create.yml), converges the tandemd role, checks idempotence, verifies VIP ownership
from a third namespace and drills a failover; check_mode and default share one lab (check_mode's hosts
are proved untouched, default then converges them), which saves a lab's creation and a fresh install.
Every run gets its own name prefix (tandemlab.naming's, owned by this process) and ephemeral directory,
so concurrent runs do not meet; whatever a failed run leaves is removed here by that prefix, and what a
killed run leaves by `python -m tandemlab cleanup`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from tandemlab import cleanup, naming

ROOT = Path(__file__).resolve().parents[3]
HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
CONTAINERS_CONF = ROOT / "scripts" / "containers.conf"

pytestmark = [pytest.mark.slow, pytest.mark.molecule, pytest.mark.lab]


def _missing() -> str | None:
    if os.geteuid() != 0:
        return "needs root (network namespaces, podman)"
    for tool in ("podman", "debootstrap", "ip"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (scripts/setup.sh installs it)"
    if not (BIN / "molecule").exists():
        return "molecule is not installed in the project venv"
    return None


class Lab:
    """One molecule run: its prefix, ephemeral directory, runtime snapshot and environment."""

    def __init__(self, tmp_path: Path) -> None:
        self.prefix = naming.new_lab_prefix()
        self.ephemeral = tmp_path / "molecule"
        # Converge and idempotence must install the same runtime even while others edit runtime/.
        snapshot = tmp_path / "runtime"
        skip = shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "tests")
        shutil.copytree(ROOT / "runtime", snapshot, ignore=skip)
        self.env = dict(os.environ)
        self.env.update(
            PATH=f"{BIN}{os.pathsep}{self.env.get('PATH', '')}",
            CONTAINERS_CONF=str(CONTAINERS_CONF),
            TANDEM_LAB_PREFIX=self.prefix,
            TANDEM_RUNTIME_SOURCE=str(snapshot),
            MOLECULE_EPHEMERAL_DIRECTORY=str(self.ephemeral),
            ANSIBLE_FORCE_COLOR="0",
            NO_COLOR="1",
            PY_COLORS="0",
        )

    def run(self, *argv: str, timeout: int = 900) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(argv), cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )

    def molecule(self, *args: str, timeout: int = 900) -> subprocess.CompletedProcess[str]:
        return self.run(str(BIN / "molecule"), *args, timeout=timeout)

    def container(self, host: str) -> str:
        return f"{self.prefix}-{host}"

    def cleanup(self) -> list[str]:
        """Remove containers and namespaces of this prefix; return what had been left behind."""
        return cleanup.remove_lab(self.prefix)


def _log(proc: subprocess.CompletedProcess[str]) -> str:
    """The first failed task (what went wrong) and the end (which step): the whole log is too long."""
    out = proc.stdout + proc.stderr
    marks = (out.find("fatal: ["), out.find("FAILED! =>"), out.find("[ERROR]: Task failed"))
    first = min((i for i in marks if i >= 0), default=-1)
    failed = out[max(first - 2000, 0) : first + 6000] + "\n[...]\n" if first >= 0 else ""
    return failed + out[-6000:]


# Each scenario with the steps its log must show as successful, and text its output must contain.
SCENARIOS = {
    # create, converge, idempotence, verify, side effect (failover, preemption, reload), verify
    "default": (("converge", "idempotence", "verify", "side_effect"), ()),
    # a --check --diff converge of fresh hosts shows the config and leaves nothing behind (verify)
    "check_mode": (("check", "verify"), ("+vrrp_instance web {",)),
    # two hosts x two VIPs by playbooks/site.yml, the DNS name published to a real BIND9 in the lab;
    # one host is killed and the survivor must answer for both VIPs
    "active_active": (
        ("converge", "verify", "side_effect"),
        ("www.lab.test. A 198.51.100.41 198.51.100.42",),
    ),
    # keepalived and tandemd in one group, failover both ways, then migrate_from_keepalived.yml while a
    # client pings the VIP: the scenario fails if the VIP goes unanswered for one master down interval
    "keepalived_mixed": (("converge", "verify", "side_effect"), ("longest VIP gap during the migration",)),
    # sync group + track_interface + nopreempt + notify scripts shipped from the controller + host_vars
    # priorities: the tracked link fails on the master, both groups move; it returns, nothing preempts
    "features": (("converge", "idempotence", "verify", "side_effect"), ("Check that the lower-priority",)),
}


def check_scenario(lab: Lab, scenario: str, timeout: int = 1200) -> str:
    """``molecule test -s SCENARIO`` but its destroy steps; assert success, its steps and its texts.

    The lab is fresh (the test's own ephemeral directory), so the sequence's first destroy has nothing
    to do, and the last one is the caller's: `destroy` below, or another scenario on the same hosts first.
    """
    steps, texts = SCENARIOS[scenario]
    proc = lab.molecule("test", "-s", scenario, "--destroy", "never", timeout=timeout)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"molecule test -s {scenario} failed:\n{_log(proc)}"
    for step in steps:
        assert f"{step}: Executed: Successful" in out, f"{step} did not run"
    for text in texts:
        assert text in out, f"{text!r} missing from the output"
    return out


def destroy(lab: Lab, scenario: str) -> None:
    """``molecule destroy -s SCENARIO``; assert that it left no container or namespace behind."""
    proc = lab.molecule("destroy", "-s", scenario)
    assert proc.returncode == 0, f"molecule destroy -s {scenario} failed:\n{_log(proc)}"
    assert not lab.cleanup(), "molecule destroy left containers or namespaces behind"


def scenario(name: str) -> Callable[[Lab], str]:
    """The run of one scenario on a lab of its own."""

    def run(lab: Lab) -> str:
        out = check_scenario(lab, name)
        destroy(lab, name)
        return out

    return run


def _lab(scenario: str) -> tuple[list, dict]:
    """What create.yml builds for a scenario: its platforms and its lab description (clients)."""
    here = ROOT / "molecule" / scenario
    return yaml.safe_load((here / "molecule.yml").read_text())["platforms"], yaml.safe_load(
        (here / "vars" / "lab.yml").read_text()
    )


def check_mode_default_and_a_wrong_vip(lab: Lab) -> str:
    """check_mode, then default on the hosts it left, then a deployment verify must refuse; one lab.

    check_mode's verify proves its hosts untouched, so default converges them as fresh hosts (its create
    finds the instances created: the scenarios share their platforms, lab description, create.yml
    and ephemeral directory). Then verify.yml is shown not to be a rubber stamp: a deployment with a VIP
    the inventory lacks makes it fail.
    """
    assert _lab("check_mode") == _lab("default"), "check_mode and default must share their lab"
    check_scenario(lab, "check_mode")
    out = check_scenario(lab, "default")
    wrong = f"@{HERE / 'wrong_vip_plan.yml'}"
    broken = lab.molecule("converge", "-s", "default", "--", "--extra-vars", wrong)
    assert broken.returncode == 0, _log(broken)
    proc = lab.molecule("verify", "-s", "default")
    verify = proc.stdout + proc.stderr
    assert proc.returncode != 0, "verify passed although the hosts carry the wrong VIP"
    assert "Check that the configuration carries the group" in verify and "failed=1" in verify, _log(proc)
    destroy(lab, "default")
    return out


# Each run on a lab of its own (prefix, namespaces, ephemeral directory), the longest first.
RUNS: dict[str, Callable[[Lab], str]] = {
    "check_mode_default_wrong_vip": check_mode_default_and_a_wrong_vip,
    "keepalived_mixed": scenario("keepalived_mixed"),
    "active_active": scenario("active_active"),
    "features": scenario("features"),
}
# Two runs at a time: much of a run is waiting (systemd, pip, VRRP timers, failovers), so two share a
# 2-core machine well (molecule's ~10 minutes on CI, one after the other, were most of the waiting).
PARALLEL = 2


@pytest.fixture(scope="module")
def runs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """The selected runs, started together with the module's first test; each test waits for its own."""
    reason = _missing()
    if reason:
        pytest.skip(reason)
    # The image is built once per machine; the first run pays about a minute for it.
    subprocess.run([str(ROOT / "scripts" / "build-image.sh")], check=True)
    selected = {item.callspec.params["run"] for item in request.session.items if item.path == Path(__file__)}
    labs = {name: Lab(tmp_path_factory.mktemp(name)) for name in RUNS if name in selected}
    with ThreadPoolExecutor(PARALLEL) as pool:
        futures = {name: pool.submit(RUNS[name], lab) for name, lab in labs.items()}
        try:
            yield futures
        finally:
            for future in futures.values():
                future.cancel()  # those not started yet; the running ones end within their timeouts
    for lab in labs.values():
        lab.cleanup()


@pytest.mark.timeout(2400)
@pytest.mark.parametrize("run", sorted(RUNS))
def test_run(runs: dict, run: str) -> None:
    out = runs[run].result()
    if gap := re.search(r"longest VIP gap during the migration: [^\n]*", out):
        print(gap.group(0))
