"""Running tandemd and keepalived 2.2.7 on lab hosts with one shared keepalived.conf-syntax config."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

KEEPALIVED = "/usr/sbin/keepalived"
TANDEMD = [sys.executable, "-m", "tandem.cli.tandemd"]


@dataclass(frozen=True)
class Group:
    """One VRRP group as both daemons read it; each node overrides priority / preempt / state."""

    vrid: int = 51
    version: int = 3
    advert_int: float = 0.1
    vips: tuple[str, ...] = ("198.51.100.100/24",)
    password: str | None = None
    unicast: bool = False
    options: tuple[str, ...] = ()  # more lines of the vrrp_instance (use_vmac, no_accept, …)
    global_options: tuple[str, ...] = ()  # more lines of global_defs (vrrp_strict, …)

    def config(self, host, peers, priority: int, nopreempt: bool = False, vips=None) -> str:
        lines = [
            "global_defs {",
            f"  vrrp_version {self.version}",
            "  vrrp_garp_master_delay 1",
            *(f"  {line}" for line in self.global_options),
            "}",
            "vrrp_instance VI_1 {",
            "  state BACKUP",
            f"  interface {host.ifname}",
            f"  virtual_router_id {self.vrid}",
            f"  priority {priority}",
            f"  advert_int {self.advert_int:g}",
        ]
        if nopreempt:
            lines.append("  nopreempt")
        lines += [f"  {line}" for line in self.options]
        if self.password is not None:
            lines += ["  authentication {", "    auth_type PASS", f"    auth_pass {self.password}", "  }"]
        ipv6 = ":" in (vips or self.vips)[0]
        if self.unicast:
            lines.append(f"  unicast_src_ip {host.ipv6 if ipv6 else host.ipv4}")
            lines.append("  unicast_peer {")
            lines += [f"    {p.ipv6 if ipv6 else p.ipv4}" for p in peers]
            lines.append("  }")
        lines.append("  virtual_ipaddress {")
        lines += [f"    {vip}" for vip in vips or self.vips]
        lines += ["  }", "}", ""]
        return "\n".join(lines)


def start(kind: str, host, config: str, workdir: Path, extra: list[str] = ()):
    """Start ``kind`` ("tandemd" or "keepalived") on ``host`` with ``config`` (and ``extra`` arguments);
    returns the LabProcess."""
    base = workdir / f"{host.name}-{kind}"
    conf = base.with_suffix(".conf")
    conf.write_text(config)
    pids = [base.with_suffix(s) for s in (".pid", ".vrrp.pid", ".check.pid")]
    for pid in pids:
        pid.unlink(missing_ok=True)
    log = open(base.with_suffix(".log"), "ab")  # noqa: SIM115 - handed to the child process
    if kind == "keepalived":
        argv = [KEEPALIVED, "-f", str(conf), "-p", str(pids[0]), "-r", str(pids[1]), "-c", str(pids[2])]
        argv += ["-l", "-D", "-n", "--vrrp"]
    else:
        argv = [*TANDEMD, "-f", str(conf), "-p", str(pids[0]), "-r", str(pids[1]), "-l", "-D", "-n"]
    return host.spawn([*argv, *extra], stdout=log, stderr=subprocess.STDOUT)


def vrrp_pid_file(host, kind: str, workdir: Path) -> Path:
    """Where :func:`start` has ``kind`` write the pid of its VRRP process (-r)."""
    return workdir / f"{host.name}-{kind}.vrrp.pid"


def holders(hosts, vip: str) -> list[str]:
    address = vip.split("/")[0]
    return [h.name for h in hosts if h.has_address(address)]
