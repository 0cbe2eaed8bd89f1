"""Checker CPU per check, tandem vs keepalived, on a real kernel with IPVS: the VM lane's boot.

This machine's kernel has no IP_VS, so keepalived's checker cannot run here with its tables; in the
VM lane (runtime/tests/vm/qemu.py: Debian's generic kernel under qemu TCG) both can. In one boot,
``ipvs_vm_checks.py --bench-only`` alternates keepalived 2.2.7's checker process and tandem's
LbService (TCP_CHECK runners, Balancer, IPVS plane) on the same config: CPU_SERVERS real servers,
TCP_CHECK every second, all checking one real server, which counts the connections it receives
(an nftables counter): CPU seconds of the daemon's process / checks that arrived. One warm-up round
each is discarded (the emulator translates code on first use), then CPU_ROUNDS rounds each.

Both run under the same emulation, so the ratio is fair even though the times are not the host's
(Python is 15-20x slower there). Run: ``python -m bench ipvs_vm``.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path

VM_DIR = Path(__file__).resolve().parent.parent / "runtime" / "tests" / "vm"
TIMEOUT = 600.0


def run() -> str:
    title = "## Checker CPU on a real kernel (VM lane): tandem vs keepalived\n\n"
    if os.geteuid() != 0:
        return title + "skipped: needs root (the VM lane)\n"
    sys.path.insert(0, str(VM_DIR))
    import ipvs_vm_checks as checks
    import qemu

    missing = qemu.missing_packages()
    if missing:
        return title + f"skipped: needs Debian packages {' '.join(missing)} (scripts/setup.sh)\n"
    command = shlex.join([sys.executable, str(VM_DIR / "ipvs_vm_checks.py"), "--bench-only"])
    result = qemu.run(command, timeout=TIMEOUT)
    lines = [line for line in result.output.splitlines() if line.startswith("RESULTS ")]
    if not lines:
        return title + f"failed: no results (status {result.status}):\n\n```\n{result.output[-3000:]}\n```\n"
    cpu = json.loads(lines[-1].removeprefix("RESULTS ")).get("checker_cpu", {})
    if cpu.get("verdict") != "pass":
        return title + f"failed:\n\n```\n{cpu.get('detail', lines[-1])[-3000:]}\n```\n"
    rounds = cpu["rounds"]
    rows = "".join(
        f"| {name} | {' / '.join(f'{v:.2f}' for v in sorted(rounds[name]))} | {cpu['checks'][name]} |\n"
        for name in ("tandem", "keepalived")
    )
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        title
        + "| checker | CPU ms per TCP_CHECK (min / median / max) | checks counted at the real server |\n"
        + "|---|---|---|\n"
        + rows
        + f"\nCPU per check, tandem / keepalived: **{cpu['ratio']:.2f}** (medians). {checks.CPU_SERVERS} "
        f"real servers checked every 1 s, {checks.CPU_ROUNDS} rounds of {checks.CPU_WINDOW:g} s each after a "
        f"discarded warm-up round, alternating, in one boot ({result.seconds:.0f} s) of the VM lane "
        f"(qemu TCG, 2 vCPUs): times are the emulator's, the ratio is the comparison. tandem is one "
        f"process (LbService on its loop in a thread, the harness's thread asleep); keepalived's is its "
        f"checker child. Load average {load} at the end.\n"
    )
