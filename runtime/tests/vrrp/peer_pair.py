"""Two lab hosts in one VRRP group, each running tandemd, keepalived 2.2.7 or FRR's vrrpd 8.4: the
failover steps the interop tests are made of, checked by netlink (who serves the VIP) and by a capture
at the switch (who announced it, who still sends live adverts once it settled)."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from contextlib import contextmanager

from scapy.layers.inet6 import ICMPv6ND_NA
from scapy.layers.l2 import ARP
from scapy.layers.vrrp import VRRP, VRRPv3
from tandem.control.client import ControlError, request
from tandemlab.frr import FrrHost, VrrpRouter
from tandemlab.polling import wait_for
from vrrp_lab import Group, start, vrrp_pid_file


def announced_by(packets, vip: str) -> set[str]:
    """Hosts that sent a GARP or an unsolicited NA for ``vip``."""
    address = vip.split("/")[0]
    found = set()
    for _, pkt in packets:
        if (ARP in pkt and pkt[ARP].psrc == address) or (
            ICMPv6ND_NA in pkt and pkt[ICMPv6ND_NA].tgt == address
        ):
            found.add(pkt.sniffed_on)
    return found


def adverts(packets):
    """(capture time, host, VRRP layer) of every advert (not one quoted inside an ICMP error)."""
    for ts, pkt in packets:
        layer = pkt.payload.payload  # Ether / IP / VRRP
        if isinstance(layer, VRRP | VRRPv3):
            yield ts, pkt.sniffed_on, layer


def live_advertisers(packets, since: float) -> set[str]:
    """Hosts that sent adverts with a non-zero priority after ``since`` (wall-clock capture time)."""
    return {host for ts, host, layer in adverts(packets) if ts >= since and layer.priority > 0}


class Pair:
    """h1 and h2 of a lab, each running tandemd, keepalived or FRR from the same group; :meth:`close`
    stops FRR's daemons and removes their macvlans (the lab stops the rest)."""

    def __init__(self, lab, group: Group, workdir) -> None:
        self.lab, self.group, self.workdir = lab, group, workdir
        self.h1, self.h2 = lab.hosts
        self.vip = group.vips[0]
        self.address = self.vip.split("/")[0]
        self.procs = {}
        self.kinds: dict[str, str] = {}
        self.slowest = group.advert_int  # the longest advert interval any member was configured with
        self.frr: dict[str, FrrHost] = {}
        # tandemd starts its VRRP child after loading the config itself: seconds on a loaded machine
        self.timeout = 10 + 5 * group.advert_int

    def run(self, host, kind: str, priority: int, **options) -> None:
        self.kinds[host.name] = kind
        if kind == "frr":
            self.procs[host.name] = self.frr_host(host).start_vrrpd(self.router(priority, **options))
            return
        peer = self.h2 if host is self.h1 else self.h1
        config = self.group.config(host, [peer], priority, **options)
        extra = ["--control-socket", str(self.control_socket(host))] if kind == "tandemd" else []
        self.procs[host.name] = start(kind, host, config, self.workdir, extra)

    def control_socket(self, host):
        return self.workdir / f"{host.name}-tandemd.sock"

    def started(self, host) -> bool:
        """Whether ``host``'s daemon runs VRRP: its VRRP process wrote its pid (tandemd: and answers)."""
        kind = self.kinds[host.name]
        if kind == "frr":
            return (self.frr[host.name].dir / "vrrpd.pid").exists()
        if not vrrp_pid_file(host, kind, self.workdir).exists():
            return False
        if kind == "tandemd":
            try:
                request(str(self.control_socket(host)), "status", timeout=2)
            except (ControlError, OSError):
                return False
        return True

    def router(self, priority: int, nopreempt: bool = False, advert_int: float | None = None) -> VrrpRouter:
        group = self.group
        advert_ms = round((advert_int or group.advert_int) * 1000)
        self.slowest = max(self.slowest, advert_ms / 1000)
        return VrrpRouter(group.vrid, group.version, priority, advert_ms, group.vips, preempt=not nopreempt)

    def frr_host(self, host) -> FrrHost:
        if host.name not in self.frr:
            self.frr[host.name] = FrrHost(host, self.workdir)
        return self.frr[host.name]

    def close(self) -> None:
        for frr in self.frr.values():
            frr.close()
        self.frr.clear()

    def serving(self) -> list[str]:
        return [h.name for h in self.lab.hosts if h.serves(self.address)]

    def sole_holder(self, host) -> bool:
        return self.serving() == [host.name]

    def crash(self, host, process) -> None:
        """SIGKILL ``host``'s VRRP process, then its parent (tandemd's supervisor, keepalived's): the
        Master dies without a goodbye (a child whose parent dies first gets SIGTERM and sends one)."""
        kind = self.kinds[host.name]
        if kind != "frr":
            pid_file = vrrp_pid_file(host, kind, self.workdir)
            with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
                os.kill(int(pid_file.read_text()), signal.SIGKILL)
        process.kill()

    def failover(self, stop: str, victim, winner) -> list:
        """Stop ``victim`` (crash: SIGKILL; or SIGTERM): ``winner`` takes over, announces, and is the
        only master.

        After SIGKILL the victim keeps its stale VIP (keepalived's and FRR's do too) until it restarts.
        """
        process = self.procs.pop(victim.name)
        with self.watch(winner, announces=True) as seen:
            time.sleep(1.5 * self.slowest)  # the capture sees the victim's last adverts
            if stop == "kill":
                self.crash(victim, process)
                assert wait_for(lambda: winner.serves(self.address), self.timeout)
            else:
                process.terminate()
                assert wait_for(lambda: self.sole_holder(winner), self.timeout)
            process.wait(10)
        return seen

    def rejoin(self, host, kind: str, priority: int, holder, **options) -> list:
        """Start ``kind`` on ``host``; ``holder`` ends up the only master (preempting when it is ``host``)."""
        with self.watch(holder, announces=holder is host) as seen:
            self.run(host, kind, priority, **options)
            assert wait_for(lambda: self.started(host), self.timeout), f"{kind} did not start on {host.name}"
            assert wait_for(lambda: self.sole_holder(holder), self.timeout)
            time.sleep(3 * self.slowest + 0.3)
            assert self.sole_holder(holder)
        return seen

    @contextmanager
    def watch(self, winner, announces: bool):
        """Capture while the block runs and settles; the packets are added to the list it yields."""
        capture = self.lab.capture("vrrp or ip6 proto 112 or arp or icmp6")
        seen: list = []
        try:
            yield seen
            settled = time.time() + self.slowest
            time.sleep(max(0.5, 3 * self.slowest))
        finally:
            packets = capture.stop()
            seen += packets
        if announces:
            assert winner.name in announced_by(packets, self.vip)
        assert live_advertisers(packets, settled) == {winner.name}

    def nopreempt_both_ways(self, peer: str) -> None:
        """``peer`` (keepalived or FRR) Master on h2; tandemd joins higher with nopreempt and stays
        Backup; the peer stops, tandemd takes over; the peer returns higher with nopreempt, stays Backup."""
        h1, h2 = self.h1, self.h2
        self.run(h2, peer, 100)
        assert wait_for(lambda: self.sole_holder(h2), self.timeout)
        self.rejoin(h1, "tandemd", 150, holder=h2, nopreempt=True)
        self.failover("term", h2, h1)
        self.rejoin(h2, peer, 200, holder=h1, nopreempt=True)
