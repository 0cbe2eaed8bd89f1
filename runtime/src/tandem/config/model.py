"""Typed, immutable model of a keepalived.conf-compatible configuration.

Every object carries ``pos`` (the file and line it came from) so run-time errors can point at the
config. Field defaults are keepalived's defaults; ``None`` means "not set" where keepalived has no
value of its own (or inherits one from ``global_defs``, see the field comments). Durations are
float seconds. Scripts are kept as written (``command``) and split into ``argv`` the shell way.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, IPv4Network, IPv6Address, IPv6Interface, IPv6Network

IPAddress = IPv4Address | IPv6Address
IPInterface = IPv4Interface | IPv6Interface
IPNetwork = IPv4Network | IPv6Network

_FROZEN = {"frozen": True, "slots": True, "kw_only": True}


@dataclass(frozen=True, slots=True)
class Position:
    """Where a config element was written: file name and 1-based line (0 for built-in defaults)."""

    file: str = "<default>"
    line: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


NOWHERE = Position()
VRRP_MCAST4 = IPv4Address("224.0.0.18")
VRRP_MCAST6 = IPv6Address("ff02::12")
# s: keepalived's IPVS_SVC_PERSISTENT_TIMEOUT, for persistence asked for without a timeout (a
# persistence_granularity alone, or a service of every port)
DEFAULT_PERSISTENCE = 360


@dataclass(**_FROZEN)
class Script:
    """A command line to run (notify scripts, vrrp_script, MISC_CHECK) and the user/group to run it as."""

    command: str
    user: str | None = None
    group: str | None = None
    pos: Position = NOWHERE

    @property
    def argv(self) -> tuple[str, ...]:
        return tuple(shlex.split(self.command))


@dataclass(**_FROZEN)
class GlobalDefs:
    """``global_defs``: identity, notification e-mail, script security and VRRP defaults for instances."""

    router_id: str | None = None  # keepalived uses the host name when unset
    notification_email: tuple[str, ...] = ()
    notification_email_from: str | None = None  # keepalived: keepalived@<hostname>
    smtp_server: str | None = None  # address or host name
    smtp_port: int = 25
    smtp_helo_name: str | None = None
    smtp_connect_timeout: float = 30.0
    smtp_alert: bool | None = None  # None: alert where notification_email is set
    smtp_alert_vrrp: bool | None = None
    smtp_alert_checker: bool | None = None
    # Tandem extensions (keepalived lacks them): STARTTLS and AUTH for smtp_alert, the Prometheus endpoint
    smtp_starttls: bool = False
    smtp_auth_user: str | None = None
    smtp_auth_password_file: str | None = None  # the password stays out of the config
    tandem_metrics_listen: str | None = None  # "ADDRESS:PORT" ("[v6]:PORT"); None: no metrics endpoint
    tandem_lb_plane: str = "auto"  # auto (IPVS where the kernel has it, else nftables), ipvs, nftables
    script_user: str | None = None
    script_group: str | None = None
    enable_script_security: bool = False
    notify_fifo: str | None = None
    vrrp_notify_fifo: str | None = None
    lvs_notify_fifo: str | None = None
    notify_fifo_script: Script | None = None  # run at start with the FIFO's path as its last argument
    vrrp_notify_fifo_script: Script | None = None
    vrrp_notify_priority_changes: bool = False  # FIFO lines for priority changes (… MASTER_PRIORITY N)
    vrrp_version: int = 2
    vrrp_strict: bool = False
    vrrp_iptables: str | None = None
    default_interface: str | None = None  # of static addresses without dev (keepalived's default: eth0)
    vrrp_mcast_group4: IPv4Address = VRRP_MCAST4
    vrrp_mcast_group6: IPv6Address = VRRP_MCAST6
    vrrp_garp_master_delay: float = 5.0
    vrrp_garp_master_repeat: int = 5
    vrrp_garp_master_refresh: float = 0.0
    vrrp_garp_master_refresh_repeat: int = 1
    vrrp_garp_lower_prio_delay: float | None = None  # None: same as vrrp_garp_master_delay
    vrrp_garp_lower_prio_repeat: int | None = None  # None: same as vrrp_garp_master_repeat
    vrrp_garp_interval: float = 0.0
    vrrp_gna_interval: float = 0.0
    vrrp_garp_extra_if: float = 0.0  # s between GARP/NA refreshes on VIP interfaces adverts do not use
    vrrp_garp_extra_if_all: bool = False  # False: only on vmacs
    vrrp_lower_prio_no_advert: bool = False
    fifo_write_vrrp_states_on_reload: bool = False  # a reload writes every instance's and group's state
    no_email_faults: bool = False  # smtp_alert sends no mail for FAULT transitions
    vrrp_startup_delay: float | None = None  # s the instances wait in INIT after the VRRP process started
    vrrp_down_timer_adverts: int = 3  # adverts missed before Master_Down (RFC: 3)
    vrrp_higher_prio_send_advert: bool = False
    vrrp_skip_check_adv_addr: bool = False
    vrrp_check_unicast_src: bool = False
    log_unknown_vrids: bool = False  # an advert for a VRID no instance has is logged (it is counted anyway)
    vrrp_min_garp: bool = False
    vrrp_priority: int | None = None  # nice value of the VRRP process (tandem.daemon.scheduling)
    checker_priority: int | None = None
    vrrp_rt_priority: int | None = None  # SCHED_RR priority 1..99 (then the nice value is not used)
    checker_rt_priority: int | None = None
    vrrp_rlimit_rttime: int | None = None  # µs of realtime CPU without blocking; None: 10,000 with RR
    checker_rlimit_rttime: int | None = None
    vrrp_no_swap: bool = False  # memory locked (mlockall)
    checker_no_swap: bool = False
    vrrp_cpu_affinity: tuple[int, ...] = ()  # CPUs it may run on; (): any
    checker_cpu_affinity: tuple[int, ...] = ()
    max_auto_priority: int | None = None  # None: realtime scheduling not raised automatically
    dynamic_interfaces: bool = False
    lvs_timeouts: tuple[tuple[str, int], ...] = ()  # (tcp|tcpfin|udp, seconds)
    pos: Position = NOWHERE

    @property
    def metrics_listen(self) -> tuple[str, int] | None:
        """``tandem_metrics_listen`` as (host, port), already validated at load."""
        if self.tandem_metrics_listen is None:
            return None
        host, _, port = self.tandem_metrics_listen.rpartition(":")
        return host.strip("[]"), int(port)


DEFAULT_GLOBAL_DEFS = GlobalDefs()


@dataclass(**_FROZEN)
class VrrpScript:
    """``vrrp_script NAME``: a periodic check whose result moves tracking instances' priority or state."""

    name: str
    script: Script
    interval: float = 1.0
    timeout: float | None = None  # None: interval
    weight: int = 0  # 0: failure puts tracking instances in FAULT
    weight_reverse: bool = False
    rise: int = 1
    fall: int = 1
    init_fail: bool = False
    pos: Position = NOWHERE


@dataclass(**_FROZEN)
class TrackFile:
    """``track_file NAME`` (old spelling ``vrrp_track_file``): a file whose integer content is a weight."""

    name: str
    file: str
    weight: int = 1
    weight_reverse: bool = False
    init_file: int | None = None  # create the file with this value when missing (None: don't)
    init_file_overwrite: bool = False
    pos: Position = NOWHERE


@dataclass(**_FROZEN)
class TrackProcess:
    """``vrrp_track_process NAME``: how many processes match decides up/down for tracking instances.

    Up while ``quorum`` ≤ matching processes ≤ ``quorum_max``. A process matches by its comm (the
    kernel's 15-character name) or, with ``full_command``, by its command line's first word; with
    ``param_match`` its further arguments are compared too (exact, initial: the last one given may be
    a prefix, partial: those given are the first ones).
    """

    name: str
    process: str
    params: tuple[str, ...] = ()  # the arguments given after the process on the ``process`` line
    param_match: str | None = None  # exact, initial, partial; None: arguments are not compared
    full_command: bool = False
    weight: int = 0  # 0: not enough (or too many) processes put tracking instances in FAULT
    weight_reverse: bool = False
    quorum: int = 1
    quorum_max: int | None = None  # None: no upper bound
    fork_delay: float = 0.0  # how long a gained quorum must last before it counts
    terminate_delay: float = 0.0  # how long a lost quorum must last before it counts
    pos: Position = NOWHERE


@dataclass(**_FROZEN)
class TrackedInterface:
    """An entry of ``track_interface``: link down lowers priority by ``weight`` (0: FAULT)."""

    name: str
    weight: int = 0
    weight_reverse: bool = False
    pos: Position = NOWHERE


@dataclass(**_FROZEN)
class TrackedScript:
    """An entry of ``track_script``: ``weight`` None means the script's own weight."""

    name: str
    weight: int | None = None
    weight_reverse: bool = False
    pos: Position = NOWHERE


@dataclass(**_FROZEN)
class TrackedFile:
    """An entry of ``track_file``: ``weight`` None means the track file's own weight."""

    name: str
    weight: int | None = None
    weight_reverse: bool = False
    pos: Position = NOWHERE


@dataclass(**_FROZEN)
class TrackedProcess:
    """An entry of ``track_process``: ``weight`` None means the track process's own weight."""

    name: str
    weight: int | None = None
    weight_reverse: bool = False
    pos: Position = NOWHERE


@dataclass(**_FROZEN)
class VirtualAddress:
    """An entry of ``virtual_ipaddress`` (or ``static_ipaddress``): address/prefix and its options."""

    address: IPInterface  # a bare address gets /32 or /128
    dev: str | None = None  # None: the instance's interface
    label: str | None = None
    scope: str | None = None
    brd: IPv4Address | None = None
    peer: IPAddress | None = None
    no_track: bool = False
    pos: Position = NOWHERE


@dataclass(**_FROZEN)
class VirtualRoute:
    """An entry of ``virtual_routes`` (or ``static_routes``): ``ip route`` syntax, options kept by name."""

    destination: IPNetwork
    type: str = "unicast"  # unicast, blackhole, unreachable, prohibit, throw, ...
    src: IPAddress | None = None
    via: IPAddress | None = None
    or_via: IPAddress | None = None
    dev: str | None = None
    scope: str | None = None
    table: str | None = None
    metric: int | None = None
    options: tuple[tuple[str, str], ...] = ()  # further keyword/value pairs (flags: value ""), normalized
    no_track: bool = False  # keepalived: a deleted route is not a fault
    pos: Position = NOWHERE


@dataclass(**_FROZEN)
class VirtualRule:
    """An entry of ``virtual_rules`` (or ``static_rules``): ``ip rule`` syntax."""

    from_: IPNetwork | None = None
    to: IPNetwork | None = None
    table: str | None = None
    priority: int | None = None
    fwmark: int | None = None
    iif: str | None = None
    oif: str | None = None
    action: str | None = None  # goto, no_route, blackhole, ... when not a table lookup
    options: tuple[tuple[str, str], ...] = ()
    no_track: bool = False
    pos: Position = NOWHERE


@dataclass(**_FROZEN)
class Notify:
    """The notify scripts of an instance or sync group (``notify`` is called for every transition)."""

    master: Script | None = None
    backup: Script | None = None
    fault: Script | None = None
    stop: Script | None = None
    deleted: Script | None = None
    any: Script | None = None  # keyword ``notify``
    # a Master heard a lower-priority advert (vrrp_instance only, as keepalived); run with no arguments
    master_rx_lower_pri: Script | None = None


NO_NOTIFY = Notify()


@dataclass(**_FROZEN)
class VrrpInstance:
    """``vrrp_instance NAME``: one virtual router. ``None`` fields inherit from ``global_defs``."""

    name: str
    interface: str
    virtual_router_id: int
    state: str = "BACKUP"  # initial state wanted: MASTER or BACKUP
    priority: int = 100
    advert_int: float = 1.0
    version: int | None = None  # None: global_defs.vrrp_version
    nopreempt: bool = False
    preempt_delay: float = 0.0
    unicast_src_ip: IPAddress | None = None
    unicast_peers: tuple[IPAddress, ...] = ()
    unicast_ttl: int = 255
    mcast_src_ip: IPAddress | None = None
    mcast_dst_ip: IPAddress | None = (
        None  # where its multicast adverts go, and are heard; None: the global group
    )
    kernel_rx_buf_size: int | None = None  # bytes: its share of its VRRP socket's SO_RCVBUF
    auth_type: str | None = None  # PASS or AH (VRRPv2 only)
    auth_pass: str | None = None
    virtual_ipaddresses: tuple[VirtualAddress, ...] = ()
    virtual_ipaddresses_excluded: tuple[VirtualAddress, ...] = ()
    virtual_routes: tuple[VirtualRoute, ...] = ()
    virtual_rules: tuple[VirtualRule, ...] = ()
    track_interfaces: tuple[TrackedInterface, ...] = ()
    track_scripts: tuple[TrackedScript, ...] = ()
    track_files: tuple[TrackedFile, ...] = ()
    track_processes: tuple[TrackedProcess, ...] = ()
    dont_track_primary: bool = False
    linkbeat_use_polling: bool | None = None  # its interface's link is polled (keepalived: deprecated form)
    notify: Notify = NO_NOTIFY
    smtp_alert: bool | None = None  # None: global_defs.smtp_alert(_vrrp)
    notify_priority_changes: bool | None = None  # None: its sync group's, else global_defs'
    garp_master_delay: float | None = None  # None: global_defs.vrrp_garp_master_delay (5)
    garp_master_repeat: int | None = None  # None: global_defs.vrrp_garp_master_repeat (5)
    garp_master_refresh: float | None = None  # None: global_defs.vrrp_garp_master_refresh (0)
    garp_master_refresh_repeat: int | None = None
    garp_lower_prio_delay: float | None = None
    garp_lower_prio_repeat: int | None = None
    garp_interval: float | None = None
    gna_interval: float | None = None
    garp_extra_if: float | None = None  # None: global_defs.vrrp_garp_extra_if
    garp_extra_if_all: bool = False
    lower_prio_no_advert: bool | None = None
    down_timer_adverts: int | None = None  # None: global_defs vrrp_down_timer_adverts
    promote_secondaries: bool = False  # sets the interface's promote_secondaries sysctl while it runs
    unicast_fault_no_peer: bool = False  # no unicast peers: FAULT, not multicast
    higher_prio_send_advert: bool | None = None
    use_vmac: bool = False
    vmac_name: str | None = None  # name given after use_vmac; None: vrrp.<vrid>
    vmac_xmit_base: bool = False
    accept: bool | None = None  # None: off with vrrp_strict, else on (keepalived's rule)
    native_ipv6: bool = False
    strict_mode: bool | None = None  # None: global_defs.vrrp_strict
    skip_check_adv_addr: bool | None = None
    check_unicast_src: bool | None = None
    old_unicast_checksum: str | None = None  # "config" (the keyword alone) or "never"; None: not written
    debug: int = 0
    pos: Position = NOWHERE

    @property
    def family(self) -> int:
        """4 or 6: the address family of the adverts (from VIPs, unicast, or native_ipv6)."""
        if self.native_ipv6:
            return 6
        for address in (self.unicast_src_ip, *self.unicast_peers):
            if address is not None:
                return address.version
        for vip in self.virtual_ipaddresses:
            return vip.address.version
        return 4


@dataclass(**_FROZEN)
class VrrpSyncGroup:
    """``vrrp_sync_group NAME``: instances that change state together."""

    name: str
    group: tuple[str, ...]
    track_interfaces: tuple[TrackedInterface, ...] = ()
    track_scripts: tuple[TrackedScript, ...] = ()
    track_files: tuple[TrackedFile, ...] = ()
    track_processes: tuple[TrackedProcess, ...] = ()
    notify: Notify = NO_NOTIFY
    smtp_alert: bool | None = None
    notify_priority_changes: bool | None = None  # None: global_defs.vrrp_notify_priority_changes
    sync_group_tracking_weight: bool = False
    pos: Position = NOWHERE


@dataclass(**_FROZEN)
class CheckerUrl:
    """A ``url`` block of HTTP_GET/SSL_GET: path and the expected digest and/or status code."""

    path: str
    digest: str | None = None
    status_code: tuple[int, ...] = ()  # empty: any 2xx
    virtualhost: str | None = None
    regex: str | None = None
    regex_no_match: bool = False  # up when the regex does NOT match
    regex_options: tuple[str, ...] = ()  # PCRE2 option names (caseless, multiline, dotall, extended)
    regex_min_offset: int = 0  # the match must start at or after this body offset
    regex_max_offset: int | None = None  # ... and at or before this one
    pos: Position = NOWHERE


@dataclass(**_FROZEN)
class Checker:
    """Keys every health checker shares; ``kind`` is the block keyword (TCP_CHECK, HTTP_GET, ...)."""

    kind: str
    connect_ip: IPAddress | None = None  # None: the real server's address
    connect_port: int | None = None  # None: the real server's port
    bindto: IPAddress | None = None
    bind_port: int | None = None
    bind_if: str | None = None
    # None: inherited from the real server, then the virtual server (see tandem.lb.params)
    connect_timeout: float | None = None
    retry: int | None = None  # keepalived's nb_get_retry
    delay_before_retry: float | None = None
    warmup: float | None = None
    delay_loop: float | None = None
    alpha: bool | None = None
    fwmark: int | None = None
    pos: Position = NOWHERE


@dataclass(**_FROZEN)
class HttpCheck(Checker):
    """HTTP_GET / SSL_GET."""

    urls: tuple[CheckerUrl, ...] = ()
    virtualhost: str | None = None
    http_protocol: str | None = None  # 1.0, 1.0C, 1.1
    enable_sni: bool = False
    fast_recovery: bool = False


@dataclass(**_FROZEN)
class TcpCheck(Checker):
    """TCP_CHECK: a connect succeeds."""


@dataclass(**_FROZEN)
class MiscCheck(Checker):
    """MISC_CHECK: a script's exit code (and, with misc_dynamic, the weight it returns)."""

    misc_path: Script | None = None
    misc_timeout: float | None = None
    misc_dynamic: bool = False


@dataclass(**_FROZEN)
class SmtpCheck(Checker):
    """SMTP_CHECK: the server answers HELO."""

    helo_name: str | None = None


@dataclass(**_FROZEN)
class DnsCheck(Checker):
    """DNS_CHECK: a query of ``type`` for ``name`` gets an answer."""

    type: str = "SOA"
    name: str = "."


@dataclass(**_FROZEN)
class PingCheck(Checker):
    """PING_CHECK: ICMP echo."""


@dataclass(**_FROZEN)
class UdpCheck(Checker):
    """UDP_CHECK: a datagram gets no ICMP error (or a matching reply)."""

    payload: bytes | None = None
    require_reply: bytes | None = None
    min_reply_length: int | None = None
    max_reply_length: int | None = None


@dataclass(**_FROZEN)
class FileCheck(Checker):
    """FILE_CHECK: a track_file's value decides the real server's weight (0: down)."""

    track_file: str = ""
    weight: int | None = None  # None: the track_file's weight and reverse
    weight_reverse: bool = False


@dataclass(**_FROZEN)
class Tunnel:
    """``TUN [type ipip|gue|gre] [port N] [nocsum|csum|remcsum]``: the encapsulation of a TUN server."""

    type: str = "ipip"
    port: int | None = None  # gue's UDP port (gue needs one; the others take none)
    checksum: str = "nocsum"  # csum: gue and gre; remcsum: gue


@dataclass(**_FROZEN)
class RealServer:
    """``real_server IP [PORT]``: a backend of a virtual server and its health checkers."""

    address: IPAddress
    port: int | None = None
    weight: int = 1
    inhibit_on_failure: bool | None = None  # None: the virtual server's setting
    notify_up: Script | None = None
    notify_down: Script | None = None
    lvs_method: str | None = None  # None: the virtual server's (and its tunnel)
    tunnel: Tunnel | None = None  # with lvs_method TUN
    checkers: tuple[Checker, ...] = ()
    # None: the virtual server's (checker values inherit these, see tandem.lb.params)
    delay_loop: float | None = None
    connect_timeout: float | None = None
    retry: int | None = None
    delay_before_retry: float | None = None
    warmup: float | None = None
    alpha: bool | None = None
    smtp_alert: bool | None = None  # None: global_defs smtp_alert_checker, smtp_alert, else on
    virtualhost: str | None = None  # HTTP checkers' Host when theirs is unset
    uthreshold: int = 0  # most connections the plane sends it (0: no limit)
    lthreshold: int = 0  # it takes new connections again below this
    pos: Position = NOWHERE


@dataclass(**_FROZEN)
class VirtualServer:
    """``virtual_server IP PORT`` | ``fwmark N`` | ``group NAME``: an LVS service and its backends."""

    address: IPAddress | None = None
    port: int | None = None
    fwmark: int | None = None
    group: str | None = None
    delay_loop: float = 60.0
    lvs_sched: str = "wlc"  # keepalived's default when lb_algo/lvs_sched is absent
    # IP_VS_SVC_F_SCHED1..3: flag-1..3; sh-port/sh-fallback with sh, mh-port/mh-fallback with mh
    scheduler_flags: tuple[str, ...] = ()
    lvs_method: str = "NAT"
    tunnel: Tunnel | None = None  # with lvs_method TUN (real servers without their own inherit it)
    protocol: str = "TCP"
    persistence_timeout: int | None = None
    persistence_granularity: IPAddress | None = None
    virtualhost: str | None = None
    sorry_server: tuple[IPAddress, int | None] | None = None
    sorry_server_inhibit: bool = False
    sorry_server_lvs_method: str | None = None  # None: the virtual server's lvs_method (and tunnel)
    sorry_server_tunnel: Tunnel | None = None  # with sorry_server_lvs_method TUN
    ip_family: str | None = None  # inet or inet6: a fwmark service's family (else its servers')
    inhibit_on_failure: bool = False
    quorum: int = 1
    hysteresis: int = 0
    quorum_up: Script | None = None
    quorum_down: Script | None = None
    alpha: bool = False
    omega: bool = False
    ha_suspend: bool = False
    ops: bool = False
    connect_timeout: float = 5.0
    retry: int | None = None  # None: each checker kind's default (1; MISC_CHECK 0, DNS_CHECK 3)
    delay_before_retry: float | None = None  # None: the checker kind's default (1 s; DNS_CHECK delay_loop)
    warmup: float | None = None  # None: the checker's delay_loop
    smtp_alert: bool | None = None  # None: global_defs smtp_alert_checker, else smtp_alert, else off
    real_servers: tuple[RealServer, ...] = ()
    pos: Position = NOWHERE

    @property
    def label(self) -> str:
        """How keepalived names the service in logs: ``[IP]:PORT``, ``FWM N`` or ``group NAME``."""
        if self.fwmark is not None:
            return f"FWM {self.fwmark}"
        if self.group is not None:
            return f"group {self.group}"
        return f"[{self.address}]:{self.port or 0}"


@dataclass(**_FROZEN)
class VirtualServerGroupEntry:
    """A member of a ``virtual_server_group``: an address range with port, or a fwmark."""

    address: IPAddress | None = None
    last: IPAddress | None = None  # end of an ``IP-N`` range, inclusive
    port: int | None = None
    fwmark: int | None = None
    pos: Position = NOWHERE


@dataclass(**_FROZEN)
class VirtualServerGroup:
    """``virtual_server_group NAME``: services addressed together by ``virtual_server group NAME``."""

    name: str
    entries: tuple[VirtualServerGroupEntry, ...] = ()
    pos: Position = NOWHERE


@dataclass(**_FROZEN)
class CheckerSsl:
    """The top-level ``SSL`` block: SSL_GET's client certificate (keepalived never verifies servers)."""

    password: str | None = None  # of the key
    ca: str | None = None
    certificate: str | None = None
    key: str | None = None
    pos: Position = NOWHERE


@dataclass(**_FROZEN)
class Config:
    """A whole configuration. Names are unique within each kind (checked at load time)."""

    global_defs: GlobalDefs = DEFAULT_GLOBAL_DEFS
    vrrp_scripts: tuple[VrrpScript, ...] = ()
    track_files: tuple[TrackFile, ...] = ()
    vrrp_track_processes: tuple[TrackProcess, ...] = ()
    vrrp_instances: tuple[VrrpInstance, ...] = ()
    vrrp_sync_groups: tuple[VrrpSyncGroup, ...] = ()
    static_ipaddresses: tuple[VirtualAddress, ...] = ()
    static_routes: tuple[VirtualRoute, ...] = ()
    static_rules: tuple[VirtualRule, ...] = ()
    # interface_up_down_delays: (interface, down delay, up delay) in seconds before a link change counts
    interface_up_down_delays: tuple[tuple[str, float, float], ...] = ()
    # linkbeat_interfaces: (interface,) or (interface, MII|ETHTOOL|IOCTL) whose link is polled each second
    linkbeat_interfaces: tuple[tuple[str, ...], ...] = ()
    linkbeat_use_polling: bool | None = None  # top level: every instance's interface is polled (None: off)
    virtual_server_groups: tuple[VirtualServerGroup, ...] = ()
    virtual_servers: tuple[VirtualServer, ...] = ()
    ssl: tuple[CheckerSsl, ...] = ()  # ``SSL { }``; the last one counts

    def instance(self, name: str) -> VrrpInstance | None:
        return _by_name(self.vrrp_instances).get(name)

    def script(self, name: str) -> VrrpScript | None:
        return _by_name(self.vrrp_scripts).get(name)

    def effective_version(self, instance: VrrpInstance) -> int:
        """The instance's version, else 3 for IPv6 (keepalived switches to it), else global_defs'."""
        if instance.version is not None:
            return instance.version
        return 3 if instance.family == 6 else self.global_defs.vrrp_version


# name -> first item of a tuple of named items, by the tuple's identity (the entry keeps the tuple, so
# its id is not reused): Config.instance/script were a scan each, and checking 16,000 instances that
# each track a script took 5.2 s of CPU (quadratic; 35,000 fit in the lexer's budget).
_INDEXES: dict[int, tuple[tuple, dict]] = {}


def _by_name(items: tuple) -> dict:
    entry = _INDEXES.get(id(items))
    if entry is None or entry[0] is not items:
        index: dict = {}
        for item in items:
            index.setdefault(item.name, item)
        if len(_INDEXES) >= 8:
            _INDEXES.pop(next(iter(_INDEXES)))
        entry = _INDEXES[id(items)] = (items, index)
    return entry[1]
