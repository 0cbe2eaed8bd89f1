"""The VRRP group model after expansion: every group and every VIP of an active-active set is one Instance.

An Instance is one VRID carrying one VIP set, seen from the whole inventory (all its members). The rules
check Instances; the plan turns each one into the per-host instances that tandemd runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface, IPv6Address, IPv6Interface
from typing import Any

IPAddress = IPv4Address | IPv6Address
IPInterface = IPv4Interface | IPv6Interface


@dataclass(frozen=True)
class Auth:
    type: str
    password: str


@dataclass(frozen=True)
class Settings:
    """What all members of an instance must agree on."""

    advert_int: float
    version: int
    auth: Auth | None
    unicast: bool


@dataclass(frozen=True)
class TrackScript:
    name: str
    script: str
    interval: float
    timeout: float | None
    fall: int
    rise: int
    weight: int
    user: str | None
    src: str | None = None  # shipped from the controller to ``script``'s path

    @property
    def detection_seconds(self) -> float:
        """How long a failing check takes to be noticed: ``fall`` consecutive failures."""
        return self.interval * self.fall


@dataclass(frozen=True)
class Member:
    host: str
    priority: int
    interface: str
    address: IPInterface | None  # the host's own address on the interface, of the instance's family
    unicast_src: IPAddress | None
    unicast_peers: tuple[IPAddress, ...] | None  # given explicitly; None means "all other members"


@dataclass(frozen=True)
class Instance:
    name: str  # the vrrp_instance name on every member
    source: str  # the VRRP group or active-active set it comes from
    vrid_field: str  # where its VRID comes from in the source, for messages
    vip_fields: tuple[str, ...]  # where each VIP is written in the source
    vrid: int
    vips: tuple[IPInterface, ...]
    members: tuple[Member, ...]  # highest priority first
    settings: Settings
    track_scripts: tuple[TrackScript, ...]
    notify: tuple[tuple[str, str], ...]
    segment: str | None
    preferred_master: str | None  # named explicitly by the operator
    sync_group: str | None = None
    nonlocal_bind: bool = False
    # Written as they are by every member (the runtime checks them): vip_options, excluded_vips,
    # preempt, preempt_delay, accept, garp, track_interfaces/_files/_processes, virtual_routes/_rules,
    # smtp_alert. Keys and shapes as in the plan (docs/inventory.md).
    options: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    track_files: tuple[dict, ...] = field(default=(), hash=False, compare=False)
    track_processes: tuple[dict, ...] = field(default=(), hash=False, compare=False)
    files: tuple[dict, ...] = field(
        default=(), hash=False, compare=False
    )  # scripts shipped from the controller: {src, dest, mode}

    @property
    def family(self) -> int:
        return self.vips[0].version

    @property
    def failover_seconds(self) -> float:
        """Worst time for the best backup to take over: its master-down interval (RFC 5798 6.1) when the
        master dies, or a track script's detection time plus one advert when a check fails."""
        advert = self.settings.advert_int
        backup = self.members[1].priority
        skew = (256 - backup) / 256 * (advert if self.settings.version == 3 else 1)
        detection = max((s.detection_seconds for s in self.track_scripts), default=0.0)
        return max(3 * advert + skew, detection + advert)

    def peers_of(self, member: Member) -> tuple[IPAddress, ...]:
        if member.unicast_peers is not None:
            return member.unicast_peers
        return tuple(m.unicast_src for m in self.members if m is not member and m.unicast_src is not None)


@dataclass(frozen=True)
class DnsRecordSet:
    source: str
    name: str
    zone: str
    ttl: int
    server: str | None
    addresses: tuple[IPAddress, ...]


@dataclass(frozen=True)
class ActiveActiveSet:
    name: str
    hosts: tuple[str, ...]
    instances: tuple[Instance, ...]  # instance i carries VIP i, mastered by hosts[i mod N]
