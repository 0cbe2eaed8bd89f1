"""What one VRRP instance runs with: the config model's ``vrrp_instance`` with global defaults resolved."""

from __future__ import annotations

from dataclasses import dataclass

from tandem.config.model import (
    VRRP_MCAST4,
    VRRP_MCAST6,
    Config,
    IPAddress,
    VirtualAddress,
    VirtualRoute,
    VirtualRule,
    VrrpInstance,
)
from tandem.vrrp.netlink import rule_carried

OWNER_PRIORITY = 255  # the address owner (RFC 5798 §5.2.4)


@dataclass(frozen=True, slots=True, kw_only=True)
class InstanceParams:
    """Everything the state machine and the driver need to know about one instance. Times in seconds."""

    name: str
    interface: str
    vrid: int
    version: int = 3
    family: int = 4
    priority: int = 100
    advert_int: float = 1.0
    preempt: bool = True
    preempt_delay: float = 0.0
    auth_pass: str | None = None  # VRRPv2 PASS authentication
    vips: tuple[VirtualAddress, ...] = ()  # advertised and added on Master
    excluded_vips: tuple[VirtualAddress, ...] = ()  # added on Master, not advertised
    routes: tuple[VirtualRoute, ...] = ()
    rules: tuple[VirtualRule, ...] = ()  # virtual_rules: added after the addresses, removed before
    source: IPAddress | None = None  # unicast_src_ip or mcast_src_ip; None: the interface's address
    unicast_peers: tuple[IPAddress, ...] = ()  # non-empty: unicast, never multicast
    # check_unicast_src: a unicast advert from an address not in unicast_peers is dropped (keepalived
    # accepts it otherwise)
    check_unicast_src: bool = False
    # old_unicast_checksum (VRRPv3 over IPv4 unicast only): the multicast group keepalived 1.3.6 and older
    # put in the checksum's pseudo-header instead of the peer's address; None: not applicable
    old_checksum_dst: IPAddress | None = None
    old_checksum: str | None = (
        None  # "config": always the old form; "never": not even when heard; None: when heard
    )
    mcast_group: IPAddress | None = None  # mcast_dst_ip, else global_defs'; None: 224.0.0.18 / ff02::12
    rcvbuf: int | None = None  # kernel_rx_buf_size: its share of the VRRP socket's SO_RCVBUF
    garp_delay: float = 5.0  # second burst of GARP/NA this long after becoming Master (0: none)
    garp_repeat: int = 5  # GARP/NA per address per burst
    garp_lower_prio_repeat: int = 5  # GARP/NA per address when a Master hears a lower priority (0: none)
    garp_lower_prio_delay: float = 5.0  # and again this long after (0: no second burst)
    garp_interval: float = 0.0  # s between gratuitous ARPs on an interface (0: back to back)
    gna_interval: float = 0.0  # s between unsolicited NAs on an interface
    garp_extra_if: float = 0.0  # s between GARP/NA refreshes of VIPs on other interfaces (0: none)
    garp_extra_if_all: bool = False  # False: only VIPs on the vmac; True: on any interface but the adverts'
    garp_refresh: float = 0.0  # periodic GARP/NA while Master (0: none)
    garp_refresh_repeat: int = 1
    lower_prio_no_advert: bool = False  # keepalived option: don't answer a lower-priority advert
    higher_prio_send_advert: bool = False  # a Master yielding to a higher priority advertises once first
    skip_check_adv_addr: bool = False  # a Backup does not check the VIP list of its master's adverts
    down_timer_adverts: int = 3  # Master_Down_Interval = this × Master_Adver_Interval + Skew_Time
    ttl: int = 255  # of the adverts sent (unicast_ttl with unicast peers; IPv4)
    vmac: str | None = None  # use_vmac: the macvlan with the virtual MAC (tandem.vrrp.vmac); None: none
    vmac_xmit_base: bool = False  # with a vmac: adverts are sent and received on the base interface
    accept: bool = True  # False: as Master, traffic to the VIPs is dropped (tandem.vrrp.protect)

    @property
    def advert_cs(self) -> int:
        """The advert interval in centiseconds, as VRRPv3 puts it on the wire."""
        return round(self.advert_int * 100)

    @property
    def unicast(self) -> bool:
        return bool(self.unicast_peers)

    @property
    def group(self) -> IPAddress:
        if self.mcast_group is not None:
            return self.mcast_group
        return VRRP_MCAST4 if self.family == 4 else VRRP_MCAST6

    @property
    def socket_interface(self) -> str:
        """Where adverts are sent and received: the vmac, unless vmac_xmit_base (or no vmac)."""
        return self.vmac if self.vmac is not None and not self.vmac_xmit_base else self.interface

    @property
    def vip_interface(self) -> str:
        """Where a VIP without ``dev`` goes: the vmac if there is one."""
        return self.vmac if self.vmac is not None else self.interface

    @property
    def advertised(self) -> tuple[IPAddress, ...]:
        """The addresses carried in adverts: the VIPs of the advert family, as keepalived sends them."""
        return tuple(v.address.ip for v in self.vips if v.address.version == self.family)


def params_from_config(config: Config, instance: VrrpInstance) -> InstanceParams:
    """Resolve ``instance``'s unset fields from ``global_defs`` the way keepalived does."""
    defs = config.global_defs

    def pick(value, default):
        return default if value is None else value

    family = instance.family
    version = config.effective_version(instance)
    strict = pick(instance.strict_mode, defs.vrrp_strict)
    # vrrp_min_garp: one GARP/NA per burst and no second burst, unless the instance says otherwise
    min_garp = defs.vrrp_min_garp
    global_repeat = 1 if min_garp else defs.vrrp_garp_master_repeat
    global_delay = 0.0 if min_garp else defs.vrrp_garp_master_delay
    garp_repeat = pick(instance.garp_master_repeat, global_repeat)
    # the lower-priority burst falls back to global_defs, never to the instance's garp_master_* (as
    # keepalived's vrrp_complete_instance: its dump shows 5 s for an instance with garp_master_delay 1)
    garp_delay = pick(instance.garp_master_delay, global_delay)
    return InstanceParams(
        name=instance.name,
        interface=instance.interface,
        vrid=instance.virtual_router_id,
        version=version,
        family=family,
        priority=instance.priority,
        advert_int=instance.advert_int,
        preempt=not instance.nopreempt or instance.state == "MASTER",  # keepalived clears it then
        preempt_delay=instance.preempt_delay,
        auth_pass=instance.auth_pass if instance.auth_type == "PASS" else None,
        vips=instance.virtual_ipaddresses,
        excluded_vips=instance.virtual_ipaddresses_excluded,
        routes=instance.virtual_routes,
        rules=tuple(rule for rule in instance.virtual_rules if rule_carried(rule)),  # else warned (-t)
        source=instance.unicast_src_ip or instance.mcast_src_ip,
        unicast_peers=instance.unicast_peers,
        check_unicast_src=bool(instance.check_unicast_src) or defs.vrrp_check_unicast_src,
        old_checksum_dst=defs.vrrp_mcast_group4 or VRRP_MCAST4
        if version == 3 and family == 4 and instance.unicast_peers
        else None,
        old_checksum=instance.old_unicast_checksum,
        mcast_group=mcast_group(config, instance),
        rcvbuf=instance.kernel_rx_buf_size or None,  # 0: keepalived's "not set"
        garp_delay=garp_delay,
        garp_repeat=garp_repeat,
        # vrrp_strict: no GARP and no advert in answer to a lower priority (keepalived's strict rules)
        garp_lower_prio_repeat=0
        if strict
        else pick(instance.garp_lower_prio_repeat, pick(defs.vrrp_garp_lower_prio_repeat, global_repeat)),
        garp_lower_prio_delay=0.0
        if strict
        else pick(instance.garp_lower_prio_delay, pick(defs.vrrp_garp_lower_prio_delay, global_delay)),
        garp_interval=pick(instance.garp_interval, defs.vrrp_garp_interval),
        gna_interval=pick(instance.gna_interval, defs.vrrp_gna_interval),
        garp_extra_if=pick(instance.garp_extra_if, defs.vrrp_garp_extra_if),
        garp_extra_if_all=instance.garp_extra_if_all
        if instance.garp_extra_if is not None
        else defs.vrrp_garp_extra_if_all,
        garp_refresh=pick(instance.garp_master_refresh, defs.vrrp_garp_master_refresh),
        garp_refresh_repeat=pick(instance.garp_master_refresh_repeat, defs.vrrp_garp_master_refresh_repeat),
        lower_prio_no_advert=strict or pick(instance.lower_prio_no_advert, defs.vrrp_lower_prio_no_advert),
        higher_prio_send_advert=pick(instance.higher_prio_send_advert, defs.vrrp_higher_prio_send_advert),
        skip_check_adv_addr=pick(instance.skip_check_adv_addr, defs.vrrp_skip_check_adv_addr),
        # vrrp_strict: the RFC's 3 (keepalived resets it)
        down_timer_adverts=3 if strict else pick(instance.down_timer_adverts, defs.vrrp_down_timer_adverts),
        ttl=instance.unicast_ttl if instance.unicast_peers else 255,
        vmac=vmac_names(config).get(instance.name),
        vmac_xmit_base=instance.use_vmac and instance.vmac_xmit_base and not strict,
        accept=accept_mode(instance, strict, version),
    )


def mcast_group(config: Config, instance: VrrpInstance) -> IPAddress | None:
    """Where the instance's multicast adverts go and are heard: its mcast_dst_ip (one of another family
    than its adverts is a config error), else global_defs' group."""
    if instance.mcast_dst_ip is not None and instance.mcast_dst_ip.version == instance.family:
        return instance.mcast_dst_ip
    defs = config.global_defs
    return defs.vrrp_mcast_group4 if instance.family == 4 else defs.vrrp_mcast_group6


def accept_mode(instance: VrrpInstance, strict: bool, version: int) -> bool:
    """Whether a Master accepts traffic to its VIPs, as keepalived decides: the address owner always
    does; otherwise ``accept``/``no_accept``, by default on unless vrrp_strict; never for VRRPv2 under
    vrrp_strict (RFC 3768 has no Accept_Mode)."""
    if instance.priority == OWNER_PRIORITY:
        return True
    if strict and version == 2:
        return False
    return instance.accept if instance.accept is not None else not strict


def vmac_names(config: Config) -> dict[str, str]:
    """The vmac interface of each use_vmac instance: its own name, else keepalived's choice: vrrp.VRID,
    then (IPv6) vrrp6.VRID, then vrrp1.VRID, vrrp2.VRID, … whichever another instance does not use."""
    users = [i for i in config.vrrp_instances if i.use_vmac]
    names = {i.name: i.vmac_name for i in users if i.vmac_name}
    taken = set(names.values())
    for instance in users:
        if instance.name in names:
            continue
        vrid = instance.virtual_router_id
        numbers = [6] if instance.family == 6 else []
        candidates = [f"vrrp.{vrid}", *(f"vrrp{n}.{vrid}" for n in dict.fromkeys([*numbers, *range(1, 100)]))]
        name = next(c for c in candidates if c not in taken)
        names[instance.name] = name
        taken.add(name)
    return names
