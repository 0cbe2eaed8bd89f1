"""The runtime as a package: pip installs it from the collection's runtime/ into a clean venv, and the
console scripts work there."""

from __future__ import annotations

import subprocess
import venv
from pathlib import Path

import pytest
from tandem import __version__

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def test_pip_install_gives_working_console_scripts(tmp_path):
    venv.create(tmp_path / "venv", with_pip=True)
    bin_dir = tmp_path / "venv" / "bin"
    install = subprocess.run(
        [bin_dir / "pip", "install", "--quiet", str(ROOT / "runtime")],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    version = subprocess.run([bin_dir / "tandemd", "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.strip() == f"tandemd {__version__}"
    helptext = subprocess.run([bin_dir / "tandemctl", "--help"], capture_output=True, text=True, check=True)
    assert "status" in helptext.stdout and "maintenance" in helptext.stdout
    config = tmp_path / "keepalived.conf"
    config.write_text(
        "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 1\n"
        " virtual_ipaddress {\n  198.51.100.1/24\n }\n}\n"
    )
    check = subprocess.run(
        [bin_dir / "tandemd", "-t", "-f", config], capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stderr
