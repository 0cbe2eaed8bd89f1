"""Virtual-server values resolved once: what each real server's checkers and state machine run with.

keepalived lets a checker inherit delay_loop, retry, delay_before_retry, connect_timeout, warmup and
alpha from its real_server, which inherits them from its virtual_server; what is still unset takes the
checker kind's default (keepalived's check/check_data.c, ``validate_check_config``):

================== ====================================================================
retry              1; MISC_CHECK and FILE_CHECK 0; DNS_CHECK 3
delay_before_retry 1 s; DNS_CHECK the checker's delay_loop
connect_timeout    5 s (0 means 1 s, as keepalived)
delay_loop         60 s
warmup             the checker's delay_loop (the first check runs at a random time within it)
alpha              off (real servers start up; with alpha they start down until checked)
================== ====================================================================

The check's target is connect_ip/connect_port, else the real server's address and port (else the
virtual server's port). A ``virtual_server group NAME`` is expanded into one
:class:`~tandem.lb.plane.ServiceKey` per address of each range and per fwmark. Everything is
resolved here, so checkers and the state machine never look further up the config.

Each check has a stable ``id``: the virtual server, the real server, the kind and a digest of every
resolved value (positions excluded). An unchanged checker keeps its id across reloads (and so its
state); a changed one gets a new id and starts afresh.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

from tandem.config.model import (
    DEFAULT_PERSISTENCE,
    Checker,
    CheckerSsl,
    Config,
    IPAddress,
    RealServer,
    Script,
    TrackFile,
    Tunnel,
    VirtualServer,
    VirtualServerGroup,
)
from tandem.lb.plane import Destination, Service, ServiceKey, Timeouts
from tandem.notify.scripts import ScriptPolicy

DEFAULT_SCRIPT_POLICY = ScriptPolicy()

DEFAULT_RETRY = {"MISC_CHECK": 0, "FILE_CHECK": 0, "DNS_CHECK": 3}  # other kinds: 1
DELAY_BEFORE_RETRY_IS_DELAY_LOOP = frozenset({"DNS_CHECK"})  # other kinds: 1 s


@dataclass(frozen=True, slots=True)
class CheckParams:
    """One checker of one real server, with every inherited value resolved."""

    id: str  # stable across reloads while the checker's config is unchanged
    checker: Checker  # the model object: kind-specific keys (urls, misc_path, type/name, payload, ...)
    address: IPAddress  # connect_ip, else the real server's address
    port: int | None  # connect_port, else the real server's port, else the virtual server's
    bindto: IPAddress | None = None
    bind_port: int | None = None
    bind_if: str | None = None
    connect_timeout: float = 5.0
    delay_loop: float = 60.0
    retry: int = 1
    delay_before_retry: float = 1.0
    warmup: float = 0.0
    alpha: bool = False
    virtualhost: str | None = None  # the checker's, else the real server's, else the virtual server's
    weight: int = 1  # the real server's configured weight (FILE_CHECK offsets it)
    script_policy: ScriptPolicy = DEFAULT_SCRIPT_POLICY  # global_defs' script user and security (MISC_CHECK)
    track_file: TrackFile | None = None  # FILE_CHECK: the track_file it names
    ssl: CheckerSsl | None = None  # SSL_GET: the top-level SSL block (client certificate)

    @property
    def kind(self) -> str:
        return self.checker.kind


@dataclass(frozen=True, slots=True)
class RealServerParams:
    """A real server of one virtual server: where the plane sends traffic and how it is checked."""

    id: str  # "[address]:port", unique within its virtual server
    address: IPAddress
    port: int | None  # None: the service's port
    weight: int = 1
    method: str = "NAT"
    tunnel: Tunnel | None = None  # TUN: the encapsulation (None: IPIP)
    inhibit_on_failure: bool = False  # down: weight 0 instead of removal
    alpha: bool = False  # starts down (a real server without checkers is always up)
    notify_up: Script | None = None
    notify_down: Script | None = None
    smtp_alert: bool = True
    upper_threshold: int = 0
    lower_threshold: int = 0
    checks: tuple[CheckParams, ...] = ()

    def destination(self, weight: int) -> Destination:
        return Destination(
            self.address,
            self.port,
            weight,
            self.method,
            **_tunnel_fields(self.tunnel),
            upper_threshold=self.upper_threshold,
            lower_threshold=self.lower_threshold,
        )


def _tunnel_fields(tunnel: Tunnel | None) -> dict:
    """A Destination's tunnel_type/tunnel_port/tunnel_flags for ``tunnel`` (None: IPIP, no options)."""
    if tunnel is None:
        return {}
    flags = () if tunnel.checksum == "nocsum" else (tunnel.checksum,)
    return {"tunnel_type": tunnel.type, "tunnel_port": tunnel.port, "tunnel_flags": flags}


@dataclass(frozen=True, slots=True)
class VirtualServerParams:
    """A ``virtual_server`` block resolved: its services (several for a group) and real servers."""

    name: str  # keepalived's label: "[IP]:PORT", "FWM N" or "group NAME"
    keys: tuple[ServiceKey, ...]
    real_servers: tuple[RealServerParams, ...] = ()
    scheduler: str = "wlc"
    scheduler_flags: tuple[str, ...] = ()
    persistence_timeout: int | None = None
    persistence_granularity: IPAddress | None = None
    ops: bool = False
    sorry_server: Destination | None = None
    sorry_server_inhibit: bool = False  # the sorry server stays in with weight 0 while not needed
    quorum: int = 1
    hysteresis: int = 0
    quorum_up: Script | None = None
    quorum_down: Script | None = None
    omega: bool = False  # stop/removal runs quorum_down and the live real servers' notify_down
    ha_suspend: bool = False  # checks pause while none of ``keys``' addresses is local
    smtp_alert: bool = False

    @property
    def addresses(self) -> tuple[IPAddress, ...]:
        """The virtual addresses (ha_suspend watches whether they are local)."""
        return tuple(dict.fromkeys(k.address for k in self.keys if k.address is not None))

    def services(self, destinations: tuple[Destination, ...]) -> tuple[Service, ...]:
        """This virtual server's services, each with ``destinations``."""
        return tuple(
            Service(
                key,
                scheduler=self.scheduler,
                scheduler_flags=self.scheduler_flags,
                persistence_timeout=self.persistence_timeout,
                persistence_granularity=self.persistence_granularity,
                ops=self.ops,
                destinations=destinations,
            )
            for key in self.keys
        )


def lb_params(config: Config) -> tuple[VirtualServerParams, ...]:
    """Every virtual server of ``config`` resolved (a checked config: groups exist, ports are set)."""
    defs = config.global_defs
    context = _Context(
        groups={group.name: group for group in config.virtual_server_groups},
        track_files={track.name: track for track in config.track_files},
        checker_alert=_pick(defs.smtp_alert_checker, defs.smtp_alert),
        script_policy=ScriptPolicy.from_global_defs(defs),
        ssl=config.ssl[-1] if config.ssl else None,
    )
    return tuple(_virtual_server(vs, context) for vs in config.virtual_servers)


def lb_timeouts(config: Config) -> Timeouts:
    """global_defs' lvs_timeouts for the plane (what is not given: the kernel's own, as keepalived)."""
    return Timeouts(**dict(config.global_defs.lvs_timeouts))


@dataclass(frozen=True, slots=True)
class _Context:
    """What resolving a virtual server needs from the rest of the config."""

    groups: dict[str, VirtualServerGroup]
    track_files: dict[str, TrackFile]
    checker_alert: bool | None  # global_defs smtp_alert_checker, else smtp_alert
    script_policy: ScriptPolicy
    ssl: CheckerSsl | None = None


def _virtual_server(vs: VirtualServer, context: _Context) -> VirtualServerParams:
    keys = _keys(vs, context.groups)
    port = next((k.port for k in keys if k.port), None)
    weights = sum(rs.weight for rs in vs.real_servers)
    # as keepalived: a quorum above the total weight could never be met; hysteresis stays below it
    quorum = min(vs.quorum, weights) if vs.real_servers else vs.quorum
    sorry = None
    if vs.sorry_server is not None:
        address, sorry_port = vs.sorry_server
        method, tunnel = vs.lvs_method, vs.tunnel
        if vs.sorry_server_lvs_method is not None:
            method, tunnel = vs.sorry_server_lvs_method, vs.sorry_server_tunnel
        sorry_port = sorry_port if method == "NAT" else None
        sorry = Destination(address, sorry_port, 1, method, **_tunnel_fields(tunnel))
    return VirtualServerParams(
        name=vs.label,
        keys=keys,
        real_servers=tuple(_real_server(vs, rs, port, context) for rs in vs.real_servers),
        scheduler=vs.lvs_sched,
        scheduler_flags=vs.scheduler_flags,
        persistence_timeout=_persistence(vs, keys),
        persistence_granularity=vs.persistence_granularity,
        ops=vs.ops,
        sorry_server=sorry,
        sorry_server_inhibit=vs.sorry_server_inhibit,
        quorum=quorum,
        hysteresis=min(vs.hysteresis, max(quorum - 1, 0)),
        quorum_up=vs.quorum_up,
        quorum_down=vs.quorum_down,
        omega=vs.omega,
        ha_suspend=vs.ha_suspend and all(k.fwmark is None for k in keys),  # keepalived clears it too
        smtp_alert=_pick(vs.smtp_alert, context.checker_alert, False),
    )


def _persistence(vs: VirtualServer, keys: tuple[ServiceKey, ...]) -> int | None:
    """persistence_timeout; as keepalived, a persistence_granularity alone or a service of every port
    (an address without a port) is persistent for DEFAULT_PERSISTENCE seconds."""
    if vs.persistence_timeout is not None:
        return vs.persistence_timeout
    every_port = any(key.fwmark is None and not key.port for key in keys)
    return DEFAULT_PERSISTENCE if vs.persistence_granularity is not None or every_port else None


def _keys(vs: VirtualServer, groups: dict[str, VirtualServerGroup]) -> tuple[ServiceKey, ...]:
    if vs.group is None:
        if vs.fwmark is not None:
            return (ServiceKey(_fwmark_family(vs), fwmark=vs.fwmark),)
        return (ServiceKey(vs.address.version, vs.protocol, vs.address, vs.port),)
    keys: list[ServiceKey] = []
    for entry in groups[vs.group].entries:
        if entry.fwmark is not None:
            keys.append(ServiceKey(_fwmark_family(vs), fwmark=entry.fwmark))
            continue
        first, last = int(entry.address), int(entry.last or entry.address)
        for number in range(first, last + 1):
            address = IPv4Address(number) if entry.address.version == 4 else IPv6Address(number)
            keys.append(ServiceKey(entry.address.version, vs.protocol, address, entry.port))
    return tuple(dict.fromkeys(keys))


def _fwmark_family(vs: VirtualServer) -> int:
    """A fwmark service's family: ip_family's, else its real servers' (keepalived's default is IPv4;
    with ip_family, TUN real servers may be of the other family)."""
    if vs.ip_family is not None:
        return 4 if vs.ip_family == "inet" else 6
    return next((rs.address.version for rs in vs.real_servers), 4)


def _real_server(
    vs: VirtualServer, rs: RealServer, vs_port: int | None, context: _Context
) -> RealServerParams:
    method = rs.lvs_method or vs.lvs_method
    tunnel = rs.tunnel if rs.lvs_method else vs.tunnel
    port = rs.port if method == "NAT" else None  # DR/TUN cannot change the port
    rs_id = f"[{rs.address}]:{rs.port or vs_port or 0}"
    checks: list[CheckParams] = []
    seen: dict[str, int] = {}
    for checker in rs.checkers:
        check = _check(vs, rs, checker, rs.port or vs_port, context)
        digest = _digest(check)
        seen[digest] = seen.get(digest, 0) + 1
        suffix = f"#{seen[digest]}" if seen[digest] > 1 else ""
        checks.append(dataclasses.replace(check, id=f"{vs.label} {rs_id} {checker.kind} {digest}{suffix}"))
    return RealServerParams(
        id=rs_id,
        address=rs.address,
        port=port,
        weight=rs.weight,
        method=method,
        tunnel=tunnel,
        inhibit_on_failure=_pick(rs.inhibit_on_failure, vs.inhibit_on_failure),
        alpha=_pick(rs.alpha, vs.alpha),
        notify_up=rs.notify_up,
        notify_down=rs.notify_down,
        # keepalived's real-server default is on (kept for compatibility, unlike its other alerts)
        smtp_alert=_pick(rs.smtp_alert, context.checker_alert, True),
        upper_threshold=rs.uthreshold,
        lower_threshold=rs.lthreshold,
        checks=tuple(checks),
    )


def _check(
    vs: VirtualServer, rs: RealServer, checker: Checker, port: int | None, context: _Context
) -> CheckParams:
    kind = checker.kind
    delay_loop = _pick(checker.delay_loop, rs.delay_loop, vs.delay_loop)
    default_delay_before_retry = delay_loop if kind in DELAY_BEFORE_RETRY_IS_DELAY_LOOP else 1.0
    return CheckParams(
        id="",
        checker=checker,
        address=checker.connect_ip or rs.address,
        port=checker.connect_port or port,
        bindto=checker.bindto,
        bind_port=checker.bind_port,
        bind_if=checker.bind_if,
        connect_timeout=_pick(checker.connect_timeout, rs.connect_timeout, vs.connect_timeout) or 1.0,
        delay_loop=delay_loop,
        retry=_pick(checker.retry, rs.retry, vs.retry, DEFAULT_RETRY.get(kind, 1)),
        delay_before_retry=_pick(
            checker.delay_before_retry,
            rs.delay_before_retry,
            vs.delay_before_retry,
            default_delay_before_retry,
        ),
        warmup=_pick(checker.warmup, rs.warmup, vs.warmup, delay_loop),
        alpha=_pick(checker.alpha, rs.alpha, vs.alpha),
        virtualhost=_pick(getattr(checker, "virtualhost", None), rs.virtualhost, vs.virtualhost),
        weight=rs.weight,
        script_policy=context.script_policy,
        track_file=context.track_files.get(getattr(checker, "track_file", None)),
        ssl=context.ssl,
    )


def _pick(*values):
    """The first value that is set (not None)."""
    return next((value for value in values if value is not None), None)


# not part of a check's identity: where it was written, and the real server's weight (a weight
# change is applied to the running check, not a reason to restart it)
UNDIGESTED = frozenset({"pos", "id", "weight"})


def _digest(check: CheckParams) -> str:
    """A short digest of every resolved value of ``check`` except where it was written."""
    return hashlib.sha256(repr(_stable(check)).encode()).hexdigest()[:12]


def _stable(value):
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = (f.name for f in dataclasses.fields(value) if f.name not in UNDIGESTED)
        return (type(value).__name__, *((name, _stable(getattr(value, name))) for name in fields))
    if isinstance(value, tuple):
        return tuple(_stable(item) for item in value)
    return value
