"""FRR's VRRP daemon (``vrrpd``, with the ``zebra`` it needs) on a lab host: an independent VRRP peer.

FRR does not add or remove addresses: the VIPs live on a macvlan in bridge mode carrying the virtual
router MAC (``00:00:5e:00:01:VRID`` for IPv4, ``00:00:5e:00:02:VRID`` for IPv6, created here before
vrrpd starts), and vrrpd keeps that macvlan in ``protodown`` (no carrier) unless it is Master. So "FRR
holds the VIP" means, over netlink, the VIP is on an interface that is up with carrier
(:meth:`tandemlab.topology.Host.serves`).

Each host gets its own zebra and vrrpd with every path (config, pid files, zserv socket, vty sockets,
logs) in a private directory, and no TCP vty (``-P 0``): any number of labs run side by side, and
nothing touches /etc/frr or /var/run/frr. The daemons drop to the ``frr`` user, so that directory is a
``mkdtemp`` owned by it (pytest's tmp_path is not traversable by other users); its logs are copied to
the test's workdir when the host's FRR is closed. zebra runs for the life of the lab host; vrrpd is
started, killed and restarted by the tests like any other peer (:meth:`FrrHost.start_vrrpd` returns
its :class:`~tandemlab.process.LabProcess`). A SIGKILLed vrrpd leaves its macvlan as it was: a killed
Master keeps a live VIP until vrrpd runs again (as a SIGKILLed keepalived keeps its VIP).
"""

from __future__ import annotations

import ipaddress
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tandemlab.process import LabProcess

ZEBRA = "/usr/lib/frr/zebra"
VRRPD = "/usr/lib/frr/vrrpd"


def available() -> bool:
    return os.access(VRRPD, os.X_OK) and os.access(ZEBRA, os.X_OK)


def virtual_mac(vrid: int, family: int) -> str:
    """The virtual router MAC of ``vrid`` (RFC 5798 §7.3): 00:00:5e:00:01:VRID (IPv4), …:02:VRID (IPv6)."""
    return f"00:00:5e:00:0{1 if family == 4 else 2}:{vrid:02x}"


def macvlan_name(vrid: int, family: int) -> str:
    return f"vrrp{family}-{vrid}"


@dataclass(frozen=True)
class VrrpRouter:
    """One FRR virtual router: what ``vrrpd.conf`` says about a VRID on the host's interface."""

    vrid: int
    version: int
    priority: int
    advert_ms: int  # FRR's unit: milliseconds, a multiple of 10 (of 1000 for VRRPv2)
    vips: tuple[str, ...]  # address/prefixlen, one family
    preempt: bool = True

    @property
    def family(self) -> int:
        return ipaddress.ip_interface(self.vips[0]).version

    def config(self, ifname: str) -> str:
        vrid = self.vrid
        lines = [
            f"interface {ifname}",
            f" vrrp {vrid} version {self.version}",
            f" vrrp {vrid} priority {self.priority}",
            f" vrrp {vrid} advertisement-interval {self.advert_ms}",
        ]
        if not self.preempt:
            lines.append(f" no vrrp {vrid} preempt")
        keyword = "ip" if self.family == 4 else "ipv6"
        # the first address line starts the virtual router: it comes after everything else
        lines += [f" vrrp {vrid} {keyword} {ipaddress.ip_interface(v).ip}" for v in self.vips]
        return "\n".join([*lines, ""])


class FrrHost:
    """zebra and vrrpd on one lab host."""

    def __init__(self, host, logdir: Path) -> None:
        self.host = host
        self.logdir = Path(logdir)
        self.dir = Path(tempfile.mkdtemp(prefix=f"tandemlab-frr-{host.name}-"))
        frr = pwd.getpwnam("frr")
        os.chown(self.dir, frr.pw_uid, frr.pw_gid)
        self.dir.chmod(0o755)
        self.zebra: LabProcess | None = None
        self.vrrpd: LabProcess | None = None
        self.macvlans: set[str] = set()
        self.runs = 0

    def _argv(self, daemon: str, name: str, config: str) -> list[str]:
        conf = self.dir / f"{name}.conf"
        conf.write_text(config)
        return [
            daemon,
            *("-f", str(conf), "-i", str(self.dir / f"{name}.pid")),
            *("-z", str(self.dir / "zserv.api"), "--vty_socket", str(self.dir)),
            *("--log", f"file:{self.dir / name}.log", "-P", "0"),
        ]

    def _start_zebra(self, timeout: float = 10.0) -> None:
        argv = self._argv(ZEBRA, "zebra", f"hostname {self.host.name}\n")
        self.zebra = self.host.spawn(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while not (self.dir / "zserv.api").exists():
            if not self.zebra.alive or time.monotonic() > deadline:
                raise RuntimeError(f"zebra on {self.host.name} did not start: {self.log('zebra')}")
            time.sleep(0.02)

    def add_macvlan(self, router: VrrpRouter) -> str:
        """The macvlan vrrpd wants for ``router`` (bridge mode, the virtual MAC, the VIPs, a random
        link-local address: one derived from the MAC would be the same on every peer)."""
        name = macvlan_name(router.vrid, router.family)
        if name not in self.macvlans:
            ip = self.host.ip
            ip("link", "add", name, "link", self.host.ifname, "type", "macvlan", "mode", "bridge")
            ip("link", "set", name, "addrgenmode", "random")
            ip("link", "set", name, "address", virtual_mac(router.vrid, router.family))
            nodad = ["nodad"] if router.family == 6 else []
            for vip in router.vips:
                ip("addr", "add", vip, "dev", name, *nodad)
            ip("link", "set", name, "up")
            self.macvlans.add(name)
        return name

    def start_vrrpd(self, router: VrrpRouter) -> LabProcess:
        """Start vrrpd (and zebra, the first time) with ``router`` on the host's interface."""
        self.add_macvlan(router)
        if self.zebra is None or not self.zebra.alive:
            self._start_zebra()
        self.runs += 1
        argv = self._argv(VRRPD, "vrrpd", router.config(self.host.ifname))
        self.vrrpd = self.host.spawn(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return self.vrrpd

    def log(self, name: str = "vrrpd") -> str:
        path = self.dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def close(self) -> None:
        """Stop vrrpd and zebra (by pid), remove the macvlans, keep the logs in ``logdir``."""
        for process in (self.vrrpd, self.zebra):
            if process is not None:
                process.stop(timeout=5)
        for name in self.macvlans:
            self.host.run(["ip", "link", "del", name], check=False)
        self.macvlans.clear()
        self.logdir.mkdir(parents=True, exist_ok=True)
        for log in self.dir.glob("*.log"):
            shutil.copyfile(log, self.logdir / f"{self.host.name}-frr-{log.name}")
        shutil.rmtree(self.dir, ignore_errors=True)
