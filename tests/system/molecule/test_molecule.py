"""Molecule scenarios of the collection (top-level molecule/), run for real by the project's test command.

Each scenario builds its own network namespaces and systemd podman containers (see
molecule/resources/create.yml), converges the tandemd role, checks idempotence, verifies VIP ownership
from a third namespace and drills a failover. Every run gets its own name prefix and ephemeral
directory, so concurrent runs do not meet; whatever a failed run leaves is removed here by that prefix.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
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


def _cleanup(prefix: str, env: dict[str, str]) -> list[str]:
    """Remove containers and namespaces of this run's prefix; return what had been left behind."""
    left = []
    out = subprocess.run(
        ["podman", "ps", "-a", "--filter", f"label=org.tandem.lab={prefix}", "--format", "{{.Names}}"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    ).stdout.split()
    for name in out:
        left.append(name)
        subprocess.run(["podman", "rm", "-f", "-t", "2", name], capture_output=True, env=env, check=False)
    netns = Path("/run/netns")
    for ns in sorted(netns.glob(f"{prefix}-*")) if netns.is_dir() else []:
        left.append(ns.name)
        pids = subprocess.run(["ip", "netns", "pids", ns.name], capture_output=True, text=True, check=False)
        for pid in pids.stdout.split():
            subprocess.run(["kill", "-9", pid], check=False)
        subprocess.run(["ip", "netns", "del", ns.name], check=False)
    return left


@pytest.mark.parametrize("scenario", ["default"])
def test_scenario(scenario: str, tmp_path: Path) -> None:
    reason = _missing()
    if reason:
        pytest.skip(reason)
    prefix = f"tm{secrets.token_hex(3)}"
    # Converge and idempotence must install the same runtime even while others edit runtime/.
    snapshot = tmp_path / "runtime"
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "tests")
    shutil.copytree(ROOT / "runtime", snapshot, ignore=skip)
    env = dict(os.environ)
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        CONTAINERS_CONF=str(CONTAINERS_CONF),
        TANDEM_LAB_PREFIX=prefix,
        TANDEM_RUNTIME_SOURCE=str(snapshot),
        MOLECULE_EPHEMERAL_DIRECTORY=str(tmp_path / "molecule"),
        ANSIBLE_FORCE_COLOR="0",
        NO_COLOR="1",
        PY_COLORS="0",
    )
    # The image is built once per machine; the first run pays ~1 min for it.
    subprocess.run([str(ROOT / "scripts" / "build-image.sh")], check=True, env=env)
    try:
        proc = subprocess.run(
            [str(BIN / "molecule"), "test", "-s", scenario],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
    finally:
        leftovers = _cleanup(prefix, env)
    log = proc.stdout + proc.stderr
    (tmp_path / "molecule.log").write_text(log)
    assert proc.returncode == 0, f"molecule test -s {scenario} failed:\n{log[-12000:]}"
    assert "idempotence" in log and "Executed: Successful" in log
    assert not leftovers, f"destroy left {leftovers}"
