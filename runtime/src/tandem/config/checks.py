"""Semantic checks across a whole config: the mistakes no single statement shows.

Each check reads the typed model and reports at the position of the offending object, naming the
other object involved (with its position) where there is one. Checks never raise.
"""

from __future__ import annotations

import os
import pwd
from collections.abc import Iterable
from ipaddress import ip_address
from typing import Any

from tandem.config.findings import Findings
from tandem.config.model import (
    DEFAULT_PERSISTENCE,
    Config,
    FileCheck,
    HttpCheck,
    IPInterface,
    MiscCheck,
    TcpCheck,
    UdpCheck,
    VirtualServer,
    VrrpInstance,
    VrrpScript,
)

RULE_TABLE_NAMES = ("default", "main", "local")  # iproute2's own: tandem.vrrp.netlink.RT_TABLES
MAX_VIPS = 255  # the advert's address count is one byte
V3_MIN_ADVERT, V3_MAX_ADVERT = 0.01, 40.95  # 12-bit centiseconds


def _executable(path: str) -> bool:
    try:
        return os.access(path, os.X_OK)
    except ValueError:  # NUL or a lone surrogate in the name: no such file
        return False


def unrunnable_program(vrrp_script: VrrpScript) -> str | None:
    """The program of ``vrrp_script`` when it is an absolute path that is not an executable file here:
    keepalived then disables the script ("Disabling track script ... since not found/accessible") and
    its tracking instances ignore it; tandemd does the same (tandem.daemon.runners)."""
    try:
        program = vrrp_script.script.argv[0] if vrrp_script.script.argv else ""
    except ValueError:  # unbalanced quotes: reported where the script is run
        return None
    return program if program.startswith("/") and not _executable(program) else None


def _check_script_files(config: Config, findings: Findings) -> None:
    """The scripts ``unrunnable_program`` finds, said as a warning: it is about this host, not the text."""
    for vrrp_script in config.vrrp_scripts:
        if program := unrunnable_program(vrrp_script):
            findings.warning(
                vrrp_script.script.pos,
                f"vrrp_script {vrrp_script.name}: {program} is not an executable file here; "
                "keepalived disables the script (its tracking instances ignore it), and so does tandemd",
            )


def _check_host(config: Config, findings: Findings) -> None:
    """What keepalived finds wrong with this host rather than the text: warnings here."""
    defs = config.global_defs
    if defs.script_user:
        try:
            pwd.getpwnam(defs.script_user)
        except (KeyError, ValueError):  # ValueError: NUL or a lone surrogate in the name
            findings.warning(
                defs.pos, f"script_user {defs.script_user}: no such user here (keepalived: error setting uid)"
            )
    if defs.smtp_server:
        try:
            ip_address(defs.smtp_server)
        except ValueError:
            findings.warning(
                defs.pos,
                f"smtp_server {defs.smtp_server}: not an address; keepalived resolves the name when it reads "
                "the config and refuses it if that fails",
            )


def check_config(config: Config, findings: Findings, host_checks: bool = True) -> None:
    """``host_checks`` False leaves out what is about this host rather than the text (scripts present,
    users existing): the collection's planner checks configs on the controller for other hosts."""
    if host_checks:
        _check_script_files(config, findings)
        _check_host(config, findings)
    for kind, items in (  # vrrp_script, track_file...: the first definition wins (build.py)
        ("vrrp_instance", config.vrrp_instances),
        ("vrrp_sync_group", config.vrrp_sync_groups),
    ):
        _unique(findings, kind, ((item.name, item) for item in items))
    _unique(findings, "virtual_server", ((_service_key(vs), vs) for vs in config.virtual_servers))
    for instance in config.vrrp_instances:
        _check_instance(config, instance, findings)
    _check_vrids(config, findings)
    _check_vips(config, findings)
    _check_sync_groups(config, findings)
    for server in config.virtual_servers:
        _check_virtual_server(config, server, findings)
    _check_lb_plane(config, findings)
    _check_not_carried_out(config, findings)
    globals_ = config.global_defs
    alerting = [i for i in config.vrrp_instances if i.smtp_alert]
    if (alerting or globals_.smtp_alert) and not globals_.smtp_server:
        pos = globals_.pos if globals_.smtp_alert else alerting[0].pos
        findings.warning(pos, "smtp_alert is on but global_defs has no smtp_server")


def _unique(findings: Findings, kind: str, items: Iterable[tuple[Any, Any]]) -> None:
    seen: dict[Any, Any] = {}
    for key, item in items:
        if key in seen:
            findings.error(item.pos, f"{kind} {_show(key)} is already defined at {seen[key].pos}")
        else:
            seen[key] = item


def _show(key: Any) -> str:
    return " ".join(str(part) for part in key) if isinstance(key, tuple) else str(key)


def _service_key(server: VirtualServer) -> tuple[Any, ...]:
    if server.fwmark is not None:
        return ("fwmark", server.fwmark)
    if server.group is not None:
        return ("group", server.group)
    return (server.address, server.port, server.protocol)


def _check_instance(config: Config, instance: VrrpInstance, findings: Findings) -> None:
    name = f"vrrp_instance {instance.name}"
    pos = instance.pos
    version = config.effective_version(instance)
    strict = instance.strict_mode if instance.strict_mode is not None else config.global_defs.vrrp_strict
    family = instance.family
    if version == 2:
        if not 1 <= instance.advert_int <= 255:
            findings.error(
                pos, f"{name}: advert_int {instance.advert_int:g} must be 1..255 seconds for VRRPv2"
            )
        elif instance.advert_int != int(instance.advert_int):
            findings.warning(
                pos, f"{name}: VRRPv2 advert_int is whole seconds; {instance.advert_int:g} is rounded"
            )
        if family == 6:
            findings.error(pos, f"{name}: IPv6 needs VRRP version 3 (set version 3)")
    else:
        if not V3_MIN_ADVERT <= instance.advert_int <= V3_MAX_ADVERT:
            findings.error(
                pos, f"{name}: advert_int {instance.advert_int:g} must be 0.01..40.95 s for VRRPv3"
            )
        elif round(instance.advert_int * 100, 6) != int(round(instance.advert_int * 100, 6)):
            findings.warning(pos, f"{name}: VRRPv3 advert_int has centisecond resolution; rounded")
        if instance.auth_type:
            findings.warning(pos, f"{name}: authentication is VRRPv2 only; ignored with version 3")
    if bool(instance.auth_type) != bool(instance.auth_pass):
        findings.error(pos, f"{name}: authentication needs both auth_type and auth_pass")
    if instance.auth_type == "AH":
        findings.warning(
            pos,
            f"{name}: auth_type AH (IPsec AH) is not supported: adverts are sent and accepted without "
            "authentication, and a peer that uses AH is not heard (use PASS, or none)",
        )
        if instance.state == "MASTER":
            findings.warning(pos, f"{name}: initial state MASTER is incompatible with AH authentication")
    if strict:
        _check_strict(instance, name, version, findings)
    if instance.priority == 255 and instance.state == "BACKUP":
        findings.warning(pos, f"{name}: priority 255 means address owner; it starts as MASTER, not BACKUP")
    if instance.nopreempt and instance.preempt_delay:
        findings.warning(pos, f"{name}: preempt_delay does nothing with nopreempt (keepalived resets it)")
    if instance.nopreempt and instance.state == "MASTER":
        findings.warning(
            pos, f"{name}: nopreempt needs state BACKUP; with MASTER it is ignored (keepalived clears it)"
        )
    if version == 3 and not instance.virtual_ipaddresses:  # keepalived: "at least one is required"
        findings.error(pos, f"{name}: VRRPv3 needs at least one virtual_ipaddress")
    _check_addresses(instance, name, family, findings)
    _check_unicast(instance, name, findings)
    if instance.mcast_dst_ip is not None and instance.mcast_dst_ip.version != family:
        findings.error(pos, f"{name}: mcast_dst_ip {instance.mcast_dst_ip} is not IPv{family} as its adverts")
    for tracked in instance.track_scripts:
        if config.script(tracked.name) is None:
            findings.error(tracked.pos, f"{name}: track_script '{tracked.name}' is not a defined vrrp_script")
    _check_tracked_files(config, instance.track_files, name, findings)
    _check_tracked_processes(config, instance.track_processes, name, findings)


def _check_strict(instance: VrrpInstance, name: str, version: int, findings: Findings) -> None:
    """keepalived's vrrp_strict rules (vrrp_complete_instance): each is a configuration error there."""
    pos, owner = instance.pos, instance.priority == 255
    rules = [
        (instance.auth_type, "does not allow authentication"),
        (not instance.virtual_ipaddresses, "needs at least one virtual_ipaddress"),
        (
            (instance.state == "MASTER") != owner,
            "needs state MASTER exactly when priority is 255 (address owner)",
        ),
        (instance.preempt_delay, "does not allow preempt_delay"),
        (
            instance.garp_lower_prio_repeat,
            "does not allow garp_lower_prio_repeat (no GARP answers a lower priority)",
        ),
        (instance.garp_lower_prio_delay, "does not allow garp_lower_prio_delay"),
        (instance.lower_prio_no_advert is False, "does not allow lower_prio_no_advert off"),
        (instance.higher_prio_send_advert, "does not allow higher_prio_send_advert"),
        (instance.down_timer_adverts not in (None, 3), "does not allow down_timer_adverts other than 3"),
        (instance.use_vmac and instance.vmac_xmit_base, "does not allow vmac_xmit_base"),
        (
            instance.accept and version == 2 and not owner,
            "does not allow accept with VRRP version 2 (RFC 3768 has no Accept_Mode)",
        ),
    ]
    if instance.family == 6 and instance.virtual_ipaddresses and not instance.unicast_peers:
        first = instance.virtual_ipaddresses[0].address.ip
        rules.append((not first.is_link_local, f"needs a link-local first IPv6 VIP, not {first}"))
    for broken, message in rules:
        if broken:
            findings.error(pos, f"{name}: vrrp_strict {message}")


def _check_addresses(instance: VrrpInstance, name: str, family: int, findings: Findings) -> None:
    if not instance.virtual_ipaddresses:
        findings.warning(instance.pos, f"{name}: no virtual_ipaddress")
    if len(instance.virtual_ipaddresses) > MAX_VIPS:
        findings.error(
            instance.pos,
            f"{name}: more than {MAX_VIPS} virtual_ipaddress entries; use "
            "virtual_ipaddress_excluded for the rest",
        )
    for vip in instance.virtual_ipaddresses:
        problem = vip_address_problem(vip.address)
        if problem:
            findings.error(vip.pos, f"{name}: {problem}")
        if vip.address.version != family:
            findings.error(
                vip.pos,
                f"{name}: {vip.address.ip} is IPv{vip.address.version} but the instance "
                f"is IPv{family}; put it in virtual_ipaddress_excluded",
            )
    for vip in (*instance.virtual_ipaddresses, *instance.virtual_ipaddresses_excluded):
        dev = vip.dev or instance.interface
        if vip.label and not vip.label.startswith(dev):
            findings.warning(
                vip.pos,
                f"{name}: label '{vip.label}' does not start with the interface name '{dev}'; "
                "keepalived accepts it but the kernel refuses such an address",
            )


def vip_address_problem(vip: IPInterface, host_addresses: Iterable[IPInterface] = ()) -> str | None:
    """What is wrong with a VIP's own address, or None: the network or (IPv4) broadcast address of its
    own prefix or of a network the host is on, or an address the host already has. ``tandemd -t`` knows
    the VIP alone; the collection's planner also passes the host's addresses (tandem_addresses)."""
    for network, whose in ((vip.network, "its own"), *((a.network, "the host's") for a in host_addresses)):
        if vip.ip not in network or network.prefixlen >= network.max_prefixlen - 1:
            continue  # /31, /32, /127, /128 have no network or broadcast address to avoid
        if vip.ip == network.network_address:
            return f"virtual address {vip.ip} is the network address of {whose} network {network}"
        if network.version == 4 and vip.ip == network.broadcast_address:
            return f"virtual address {vip.ip} is the broadcast address of {whose} network {network}"
    for own in host_addresses:
        if own.ip == vip.ip:
            return (
                f"virtual address {vip.ip} is an address of the host itself ({own}); a VIP must be a new one"
            )
    return None


def _check_unicast(instance: VrrpInstance, name: str, findings: Findings) -> None:
    peers = instance.unicast_peers
    if instance.unicast_src_ip in peers:
        findings.warning(
            instance.pos, f"{name}: unicast_peer lists our own unicast_src_ip {instance.unicast_src_ip}"
        )
    families = {peer.version for peer in peers}
    if instance.unicast_src_ip is not None and peers:
        families.add(instance.unicast_src_ip.version)
    if len(families) > 1:
        findings.error(instance.pos, f"{name}: unicast_src_ip and unicast_peer mix IPv4 and IPv6")
    if len(set(peers)) != len(peers):
        findings.warning(instance.pos, f"{name}: unicast_peer lists an address twice")


def _check_tracked_files(config: Config, tracked: Iterable[Any], name: str, findings: Findings) -> None:
    defined = {track.name for track in config.track_files}
    for item in tracked:
        if item.name not in defined:
            findings.error(item.pos, f"{name}: track_file '{item.name}' is not a defined track_file")


def _check_tracked_processes(config: Config, tracked: Iterable[Any], name: str, findings: Findings) -> None:
    defined = {track.name for track in config.vrrp_track_processes}
    for item in tracked:
        if item.name not in defined:
            findings.error(
                item.pos, f"{name}: track_process '{item.name}' is not a defined vrrp_track_process"
            )


def _check_vrids(config: Config, findings: Findings) -> None:
    owners: dict[tuple[str, int, int], VrrpInstance] = {}
    for instance in config.vrrp_instances:
        key = (instance.interface, instance.family, instance.virtual_router_id)
        other = owners.setdefault(key, instance)
        if other is not instance:
            findings.error(
                instance.pos,
                f"vrrp_instance {instance.name}: virtual_router_id "
                f"{instance.virtual_router_id} on {instance.interface} (IPv{instance.family}) is "
                f"also used by vrrp_instance {other.name} at {other.pos}",
            )


def _check_vips(config: Config, findings: Findings) -> None:
    owners: dict[Any, tuple[VrrpInstance, Any]] = {}
    for instance in config.vrrp_instances:
        for vip in (*instance.virtual_ipaddresses, *instance.virtual_ipaddresses_excluded):
            owner, first = owners.setdefault(vip.address.ip, (instance, vip))
            if first is vip:
                continue
            message = f"virtual address {vip.address.ip} is also configured at {first.pos}"
            if owner is instance:
                findings.warning(vip.pos, f"vrrp_instance {instance.name}: {message} in the same instance")
            else:
                findings.warning(  # keepalived accepts it; both instances add the address when master
                    vip.pos, f"vrrp_instance {instance.name}: {message} (vrrp_instance {owner.name})"
                )


def _check_sync_groups(config: Config, findings: Findings) -> None:
    member_of: dict[str, Any] = {}
    for group in config.vrrp_sync_groups:
        name = f"vrrp_sync_group {group.name}"
        if not group.group:
            findings.error(group.pos, f"{name}: no instances listed in group {{ }}")
        elif len(group.group) == 1:
            findings.warning(group.pos, f"{name}: only one instance; a sync group needs at least two")
        for member in group.group:
            if config.instance(member) is None:
                findings.error(group.pos, f"{name}: '{member}' is not a defined vrrp_instance")
            elif member in member_of:
                where = member_of[member]
                findings.error(
                    group.pos,
                    f"{name}: vrrp_instance {member} is already in "
                    f"vrrp_sync_group {where.name} at {where.pos}",
                )
            else:
                member_of[member] = group
        for tracked in group.track_scripts:
            if config.script(tracked.name) is None:
                findings.error(
                    tracked.pos, f"{name}: track_script '{tracked.name}' is not a defined vrrp_script"
                )
        _check_tracked_files(config, group.track_files, name, findings)
        _check_tracked_processes(config, group.track_processes, name, findings)


def _check_lb_plane(config: Config, findings: Findings) -> None:
    """Say what the nftables plane cannot carry (an error when it is chosen, a warning under ``auto``,
    where IPVS may carry it) and what it only approximates; nothing when the plane is ``ipvs``."""
    plane = config.global_defs.tandem_lb_plane
    timeouts = any(seconds for _name, seconds in config.global_defs.lvs_timeouts)
    if timeouts and not config.virtual_servers:
        findings.warning(config.global_defs.pos, "lvs_timeouts: no virtual_server, so no plane sets them")
    if not config.virtual_servers or findings.has_errors or plane == "ipvs":
        return
    from tandem.lb.nftables import TIMEOUTS_NOT_CARRIED, approximations, unsupported
    from tandem.lb.params import lb_params

    where = "nftables plane" if plane == "nftables" else "nftables plane (used where the kernel has no IPVS)"
    refuse = findings.error if plane == "nftables" else findings.warning
    if timeouts:
        findings.warning(config.global_defs.pos, f"{where}: {TIMEOUTS_NOT_CARRIED}")
    for server, params in zip(config.virtual_servers, lb_params(config), strict=True):
        destinations = tuple(rs.destination(rs.weight) for rs in params.real_servers)
        if params.sorry_server is not None:
            destinations += (params.sorry_server,)
        for service in params.services(destinations):
            for problem in unsupported(service):
                refuse(server.pos, f"virtual_server {server.label}: {where}: {problem}")
            for note in approximations(service):
                findings.warning(server.pos, f"virtual_server {server.label}: {where}: {note}")


def _any_port(config: Config, server: VirtualServer) -> bool:
    """Whether the virtual server (or an address range of its group) has no port: all ports."""
    if server.group is None:
        return server.address is not None and server.port is None
    groups = (g for g in config.virtual_server_groups if g.name == server.group)
    return any(entry.address is not None and entry.port is None for g in groups for entry in g.entries)


def _has_fwmarks(config: Config, server: VirtualServer) -> bool:
    groups = (g for g in config.virtual_server_groups if g.name == server.group)
    return any(entry.fwmark is not None for group in groups for entry in group.entries)


def _check_virtual_server(config: Config, server: VirtualServer, findings: Findings) -> None:
    name = f"virtual_server {server.label}"
    persistent = server.persistence_timeout is not None or server.persistence_granularity is not None
    if not persistent and _any_port(config, server):
        findings.warning(
            server.pos,
            f"{name}: a service of every port (no port given) is persistent: persistence_timeout "
            f"{DEFAULT_PERSISTENCE} is used (as keepalived)",
        )
    if not server.real_servers and server.sorry_server is None:
        findings.warning(server.pos, f"{name}: no real_server")
    for real in server.real_servers:
        if server.address is not None and real.address.version != server.address.version:
            findings.error(
                real.pos,
                f"{name}: real_server {real.address} is IPv{real.address.version} but the virtual server "
                f"is IPv{server.address.version} (keepalived skips it)",
            )
    _unique(findings, f"{name}: real_server", (((rs.address, rs.port), rs) for rs in server.real_servers))
    weights = sum(rs.weight for rs in server.real_servers)
    quorum = server.quorum
    if server.real_servers and quorum > weights:
        findings.warning(
            server.pos,
            f"{name}: quorum {quorum} exceeds the real servers' total weight {weights}; using {weights}",
        )
        quorum = weights
    if server.hysteresis and server.hysteresis >= quorum:
        findings.warning(
            server.pos,
            f"{name}: hysteresis {server.hysteresis} >= quorum {quorum}; using {max(quorum - 1, 0)}",
        )
    if server.ha_suspend and (
        server.fwmark is not None or (server.group is not None and _has_fwmarks(config, server))
    ):
        findings.warning(server.pos, f"{name}: ha_suspend cannot apply to fwmark services; ignored")
    track_files = {track.name for track in config.track_files}
    for real in server.real_servers:
        method = real.lvs_method or server.lvs_method
        if method == "DR" and None not in (real.port, server.port) and real.port != server.port:
            findings.warning(real.pos, f"{name}: direct routing cannot change the port ({real.port} here)")
        for checker in real.checkers:
            ports = (checker.connect_port, real.port, server.port)
            needs_port = isinstance(checker, HttpCheck | TcpCheck | UdpCheck) and server.group is None
            if needs_port and ports == (None, None, None):
                findings.warning(
                    checker.pos,
                    f"{name}: {checker.kind} has no port to connect to (no connect_port, no port on the "
                    "real or virtual server): every check fails",
                )
            if isinstance(checker, HttpCheck) and not checker.urls:
                findings.error(checker.pos, f"{name}: {checker.kind} needs at least one url {{ }}")
            if isinstance(checker, MiscCheck) and checker.misc_path is None:
                findings.error(checker.pos, f"{name}: MISC_CHECK needs misc_path")
            if isinstance(checker, FileCheck) and checker.track_file not in track_files:
                findings.error(
                    checker.pos, f"{name}: FILE_CHECK track_file '{checker.track_file}' is not defined"
                )


def _check_not_carried_out(config: Config, findings: Findings) -> None:
    """Keywords tandemd reads but does not act on: said plainly, at their line (``-t`` and start-up)."""
    defs = config.global_defs
    if defs.vrrp_iptables is not None:
        findings.warning(
            defs.pos,
            "vrrp_iptables: tandemd protects VIPs with nftables (table inet tandem_vrrp); "
            "these iptables chains are not used",
        )
    if defs.max_auto_priority is not None:  # the other scheduling keys: tandem.daemon.scheduling
        findings.warning(
            defs.pos,
            "max_auto_priority: tandemd does not raise its processes to realtime scheduling when they run "
            "late; set vrrp_rt_priority / checker_rt_priority for realtime scheduling",
        )
    for kind, rules in (
        ("static_rules", config.static_rules),
        *((f"vrrp_instance {i.name}: virtual_rules", i.virtual_rules) for i in config.vrrp_instances),
    ):
        for rule in rules:  # what tandem.vrrp.netlink.rule_carried refuses
            if rule.action == "no_route":
                findings.warning(
                    rule.pos, f"{kind}: the no_route action is not carried out; this rule is not added"
                )
            elif rule.table is not None and not rule.table.isdigit() and rule.table not in RULE_TABLE_NAMES:
                findings.warning(
                    rule.pos,
                    f"{kind}: table {rule.table!r} by name is not looked up in rt_tables; "
                    "this rule is not added",
                )
    for kind, routes in (
        ("static_routes", config.static_routes),
        *((f"vrrp_instance {i.name}: virtual_routes", i.virtual_routes) for i in config.vrrp_instances),
    ):
        for route in routes:
            for problem in _route_not_carried_out(route):
                findings.warning(route.pos, f"{kind}: {route.destination}: {problem}")


def _route_not_carried_out(route: Any) -> list[str]:
    problems = []
    if route.type not in ("unicast", "blackhole", "unreachable", "prohibit", "throw"):  # vrrp.netlink
        problems.append(f"route type {route.type} is not carried out yet: added as a unicast route")
    if route.or_via is not None:
        problems.append(f"the second next hop ('or {route.or_via}') is not added")
    if route.table is not None and not route.table.isdigit():
        problems.append(f"table {route.table!r} by name is not looked up: the route goes to the main table")
    if route.options:
        names = ", ".join(name for name, _value in route.options)
        problems.append(f"route options not carried out yet: {names}")
    return problems
