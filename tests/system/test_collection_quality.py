"""The collection as its users check it: ansible-test sanity and units, ansible-lint's production
profile, and ``ansible-galaxy collection build`` producing a tarball that carries the runtime."""

from __future__ import annotations

import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.slow


def run(argv: list[str], cwd: Path = ROOT, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)


def explain(result: subprocess.CompletedProcess) -> str:
    return f"exit {result.returncode}\n{result.stdout[-6000:]}\n{result.stderr[-6000:]}"


def test_ansible_test_sanity():
    result = run(["bash", "scripts/ansible-test.sh", "sanity", "--local", "--python", "3.11"])
    assert result.returncode == 0, explain(result)


def test_ansible_test_units():
    result = run(["bash", "scripts/ansible-test.sh", "units", "--local", "--python", "3.11"])
    assert result.returncode == 0, explain(result)
    assert " passed" in result.stdout, explain(result)


def test_ansible_lint_production_profile():
    result = run([str(BIN / "ansible-lint"), "--nocolor", "--profile", "production"])
    assert result.returncode == 0, explain(result)


def test_galaxy_build_ships_the_runtime_source(tmp_path):
    result = run([str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(tmp_path)])
    assert result.returncode == 0, explain(result)
    (tarball,) = tmp_path.glob("tandem-ha-*.tar.gz")
    with tarfile.open(tarball) as archive:
        names = set(archive.getnames())
    assert {"MANIFEST.json", "runtime/pyproject.toml", "runtime/src/tandem/__init__.py"} <= names
    assert "runtime/src/tandem/cli/tandemd.py" in names
    assert {"requirements.txt", "plugins/plugin_utils/runtime.py", "docs/inventory.md"} <= names
    left_out = (
        ".venv",
        ".ansible",
        ".git/",
        "lab/",
        "bench/",
        "scripts/",
        "molecule/",
        "tests/",
        "runtime/tests/",
    )
    assert not [name for name in names if name.startswith(left_out) or "__pycache__" in name]
    assert not {"Makefile", "ruff.toml", "pytest.ini", "requirements-dev.txt", ".ansible-lint"} & names
