"""The IPVS plane on a real kernel: one boot of the VM lane (runtime/tests/vm/qemu.py) runs every
check of runtime/tests/vm/ipvs_vm_checks.py in one Python process; each check is one test here.

This machine's kernel has no IP_VS, so these run in a VM or not at all: where the VM cannot run (not
root, qemu or the generic kernel not installed), every test is skipped with the reason.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import ipvs_vm_checks  # noqa: E402
import qemu  # noqa: E402

pytestmark = pytest.mark.slow

# s: one boot takes 50-80 s on this machine when idle, ~3 min at load 17 (8 people on 2 cores); the
# bound is for a hung VM, under pytest-timeout's 600 s for the first test (which includes the boot)
VM_TIMEOUT = 480.0


def _unavailable() -> str | None:
    """Why the VM lane cannot run here, or None."""
    if os.geteuid() != 0:
        return "the VM lane needs root (its initramfs cache in /var/cache, the host root shared over 9p)"
    missing = qemu.missing_packages()
    if missing or not shutil.which("qemu-system-x86_64"):
        return f"the VM lane needs Debian packages {' '.join(missing)} (bash scripts/setup.sh installs them)"
    try:
        qemu.kernel_version()
    except qemu.VmError as error:
        return f"the VM lane has no kernel to boot: {error}"
    return None


@pytest.fixture(scope="session")
def vm_results(request) -> dict[str, dict]:
    reason = _unavailable()
    if reason:
        pytest.skip(reason)
    command = shlex.join([sys.executable, str(HERE / "ipvs_vm_checks.py")])
    result = qemu.run(command, timeout=VM_TIMEOUT)
    lines = [line for line in result.output.splitlines() if line.startswith("RESULTS ")]
    assert result.status == 0 and lines, (
        f"the checks in the VM ended with status {result.status} and no results:\n"
        f"{result.output[-4000:]}\nconsole:\n{result.console[-2000:]}"
    )
    results = json.loads(lines[-1].removeprefix("RESULTS "))
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            checks = results["_seconds"]["detail"]
            reporter.write_line(f"VM lane: {result.seconds:.0f} s (boot, checks {checks}, power-off)")
    return results


@pytest.mark.parametrize("name", ipvs_vm_checks.NAMES)
def test_ipvs_on_a_real_kernel(vm_results, name):
    entry = vm_results.get(name)
    if entry is None:
        crashed = {k: v["detail"] for k, v in vm_results.items() if k not in ipvs_vm_checks.NAMES}
        pytest.fail(f"{name} did not run in the VM; other entries: {crashed}")
    if entry["verdict"] == "skip":
        pytest.skip(entry["detail"])
    assert entry["verdict"] == "pass", entry["detail"]


def test_no_check_crashed(vm_results):
    """A step that raised is recorded under its own name (its checks then fail as not run)."""
    known = {*ipvs_vm_checks.NAMES, "_seconds"}
    extra = {k: v["detail"] for k, v in vm_results.items() if k not in known}
    assert not extra, extra
