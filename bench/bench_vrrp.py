"""VRRP takeover: how long past the RFC minimum a backup takes, tandemd and keepalived side by side.

A keepalived master (priority 200) and the backup under test (priority 100, VRRPv3, 0.1 s) share a
lab segment; the master is stopped and the switch capture gives:
- SIGKILL: overshoot = backup's first GARP − master's last advert − Master_Down_Interval;
- SIGTERM: reaction = backup's first GARP − master's priority-0 advert − Skew_Time.
Backups alternate tandemd / keepalived (ABAB), REPS runs each; medians, max and their ratio.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from scapy.layers.l2 import ARP
from scapy.layers.vrrp import VRRPv3
from tandemlab import Lab

REPS = 8
ADVERT, PRIORITY = 0.1, 100
SKEW = (256 - PRIORITY) * ADVERT / 256
MDI = 3 * ADVERT + SKEW
VIP = "198.51.100.100"


def _config(host, priority: int) -> str:
    return (
        "global_defs {\n  vrrp_version 3\n}\n"
        f"vrrp_instance VI_1 {{\n  state BACKUP\n  interface {host.ifname}\n  virtual_router_id 51\n"
        f"  priority {priority}\n  advert_int {ADVERT}\n  virtual_ipaddress {{\n    {VIP}/24\n  }}\n}}\n"
    )


def _start(kind: str, host, priority: int, workdir: Path):
    conf = workdir / f"{host.name}-{kind}.conf"
    conf.write_text(_config(host, priority))
    if kind == "keepalived":
        pids = [str(workdir / f"{host.name}.{n}.pid") for n in ("main", "vrrp", "check")]
        for pid in pids:
            Path(pid).unlink(missing_ok=True)
        argv = ["keepalived", "-f", str(conf), "-p", pids[0], "-r", pids[1], "-c", pids[2], "-n", "--vrrp"]
    else:
        argv = [sys.executable, "-m", "tandem.cli.tandemd", "-f", str(conf), "-n"]
    return host.spawn(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _wait(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("lab did not converge")
        time.sleep(0.01)


def _one(lab, kind: str, stop: str, workdir: Path) -> float:
    master_host, backup_host = lab.hosts
    master = _start("keepalived", master_host, 200, workdir)
    _wait(lambda: master_host.has_address(VIP))
    backup = _start(kind, backup_host, PRIORITY, workdir)
    time.sleep(1.0)
    capture = lab.capture("vrrp or arp")
    time.sleep(0.3)
    if stop == "kill":
        # keepalived's VRRP child would send priority 0 when its parent dies: kill the child itself
        os.kill(int((workdir / f"{master_host.name}.vrrp.pid").read_text()), signal.SIGKILL)
        master.kill()
    else:
        master.terminate()
    _wait(lambda: backup_host.has_address(VIP))
    time.sleep(0.2)
    packets = capture.stop()
    master.wait(5)
    backup.terminate()
    backup.wait(5)
    master_host.run(["ip", "addr", "flush", "dev", master_host.ifname, "to", f"{VIP}/32"], check=False)
    adverts = [
        (ts, p[VRRPv3].priority) for ts, p in packets if VRRPv3 in p and p.sniffed_on == master_host.name
    ]
    garp = min(
        ts for ts, p in packets if ARP in p and p[ARP].psrc == VIP and p.sniffed_on == backup_host.name
    )
    if stop == "kill":
        return garp - max(ts for ts, prio in adverts if prio > 0) - MDI
    return garp - min(ts for ts, prio in adverts if prio == 0) - SKEW


def run() -> str:
    results: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp, Lab(hosts=2) as lab:
        for stop in ("kill", "term"):
            for _ in range(REPS):
                for kind in ("tandemd", "keepalived"):
                    results.setdefault((stop, kind), []).append(_one(lab, kind, stop, Path(tmp)))
    rows = [
        "## VRRP takeover (VRRPv3, advert 0.1 s, backup priority 100)",
        "",
        f"ms past the RFC minimum: min / median / max over {REPS} runs each, daemons alternating.",
        "",
        "| scenario | tandemd | keepalived | median ratio |",
        "|---|---|---|---|",
    ]
    for stop, label in (
        ("kill", "SIGKILL master: GARP − last advert − MDI"),
        ("term", "SIGTERM: GARP − prio-0 − Skew"),
    ):
        cells = []
        for kind in ("tandemd", "keepalived"):
            ms = [v * 1000 for v in results[(stop, kind)]]
            cells.append(f"{min(ms):+.1f} / {statistics.median(ms):+.1f} / {max(ms):+.1f}")
        ratio = statistics.median(results[(stop, "tandemd")]) / statistics.median(
            results[(stop, "keepalived")]
        )
        rows.append(f"| {label} | {cells[0]} | {cells[1]} | {ratio:.2f} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(run())
