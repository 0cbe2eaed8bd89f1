"""The data-plane contract: what the load balancer asks the kernel for, whichever plane carries it.

A plane is told the whole desired state, every service it owns with its destinations, and makes the
kernel match it with the fewest changes it can (a weight change is an edit, not delete + add; one
atomic transaction where the plane allows it). It owns only what it created: a service or table made
by someone else is never touched, and :meth:`DataPlane.close` removes exactly what it made.

Quorum, sorry servers and inhibit_on_failure are decided before this point (``tandem.lb``'s state
machine): a plane only sees destinations and weights. Weight 0 means "present, takes no new
connections" (IPVS weight 0; nftables leaves it out of the choice but keeps established flows).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from tandem.config.model import IPAddress


@dataclass(frozen=True, slots=True, order=True)
class ServiceKey:
    """How a virtual service is addressed: protocol + address + port, or a firewall mark (per family)."""

    family: int  # 4 or 6
    protocol: str = "TCP"  # TCP, UDP, SCTP; ignored for fwmark services
    address: IPAddress | None = None
    port: int | None = None  # None or 0: all ports (keepalived's "virtual_server IP" form)
    fwmark: int | None = None

    def __str__(self) -> str:
        if self.fwmark is not None:
            return f"FWM {self.fwmark}" + ("" if self.family == 4 else " inet6")
        return f"{self.protocol} [{self.address}]:{self.port or 0}"


@dataclass(frozen=True, slots=True, order=True)
class Destination:
    """A real server (or the sorry server) as the plane sees it."""

    address: IPAddress
    port: int | None  # None: the service's port
    weight: int = 1  # 0: keep, but send no new connections
    method: str = "NAT"  # NAT, DR, TUN
    tunnel_type: str | None = None  # TUN: ipip (default), gue, gre
    tunnel_port: int | None = None  # TUN gue
    tunnel_flags: tuple[str, ...] = ()  # TUN: nocsum, csum, remcsum
    upper_threshold: int = 0  # uthreshold (0: none)
    lower_threshold: int = 0  # lthreshold


@dataclass(frozen=True, slots=True)
class Service:
    """One virtual service and the destinations it should have now."""

    key: ServiceKey
    scheduler: str = "wlc"  # lb_algo / lvs_sched
    scheduler_flags: tuple[str, ...] = ()  # e.g. sh-port, sh-fallback, mh-port, mh-fallback, flag-1..3
    persistence_timeout: int | None = None  # seconds; None: not persistent
    persistence_granularity: IPAddress | None = None  # netmask of persistence
    ops: bool = False  # one-packet scheduling (UDP)
    destinations: tuple[Destination, ...] = ()


@dataclass(frozen=True, slots=True)
class Timeouts:
    """``global_defs { lvs_timeouts tcp N tcpfin N udp N }``: how long the plane keeps an idle
    connection (seconds, for every service); 0: the kernel's own value."""

    tcp: int = 0
    tcpfin: int = 0
    udp: int = 0


@dataclass(frozen=True, slots=True)
class DestinationCounters:
    """What the plane counted for one destination since it was created."""

    packets: int = 0
    bytes: int = 0
    connections: int = 0


class PlaneError(Exception):
    """The kernel refused a change (the message says which and why); the previous state is kept."""


class DataPlane(Protocol):
    name: str  # "ipvs" or "nftables"

    def apply(self, services: tuple[Service, ...]) -> None:
        """Make the kernel hold exactly ``services`` (of those this plane owns). Raises PlaneError."""
        ...

    def set_timeouts(self, timeouts: Timeouts) -> None:
        """Take ``timeouts``; ``Timeouts()`` gives the kernel's own back. A plane that cannot carry
        them says so. Raises PlaneError."""
        ...

    def counters(self) -> dict[tuple[ServiceKey, IPAddress, int | None], DestinationCounters]:
        """Counters by (service, destination address, destination port)."""
        ...

    def close(self) -> None:
        """Remove everything this plane created (services, tables) and give back the timeouts it
        changed; leave everything else."""
        ...
