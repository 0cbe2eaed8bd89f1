"""Keyword tables of global_defs, vrrp_script, vrrp_track_process and track_file (old spelling
vrrp_track_file)."""

from __future__ import annotations

import re
import socket
from ipaddress import ip_address
from typing import Any

import voluptuous as vol

from tandem.config.findings import Findings
from tandem.config.model import GlobalDefs, Script, TrackFile, TrackProcess, VrrpScript
from tandem.config.parser import Node
from tandem.config.schema import (
    IP,
    PORT,
    UINT_MAX,
    WORD,
    Block,
    Invalid,
    Key,
    bare_flag,
    block_name,
    check,
    count_key,
    flag,
    garp_extra_if,
    integer,
    limits_of,
    make,
    one,
    one_address,
    read_block,
    script,
    seconds,
    user_group,
    weight,
    whole_seconds,
    whole_seconds_key,
    words,
)

_HOST_NAME = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_.-]{0,252})")


def multicast(version: int, what: str) -> Any:
    """``vrrp_mcast_group4/6``: a multicast address of that family (keepalived: "is not multicast"),
    read as keepalived reads addresses (socket_address)."""
    read = one_address(what)

    def convert(node: Node, findings: Findings) -> Any:
        address = read(node, findings)
        if address.version != version or not address.is_multicast:
            raise Invalid(f"expected {what}, got {node.args[0]!r}")
        return address

    return convert


SMTP_PORT = integer(1, 65535)


def smtp_server(node: Node, findings: Findings) -> dict[str, Any]:
    if not node.args:
        raise Invalid("expected an address or host name and optionally a port")
    if len(node.args) > 2:  # keepalived reads two words
        findings.warning(node.pos, f"smtp_server: {' '.join(node.args[2:])[:40]!r} after the port is ignored")
    name = node.args[0]
    if not _HOST_NAME.fullmatch(name) or name.replace(".", "").isdigit():
        try:  # getaddrinfo's forms: 192.168.200 is 192.168.0.200 there
            socket.inet_aton(name) if ":" not in name else ip_address(name)
        except (OSError, ValueError):  # keepalived: "Invalid smtp server" (no address, no host name)
            raise Invalid(f"expected an address or host name, got {name!r}") from None
    values: dict[str, Any] = {"smtp_server": name}
    if len(node.args) == 2:
        values["smtp_port"] = check(SMTP_PORT, node.args[1], "a port 1..65535")
    return values


def listen_address(node: Node, _findings: Findings) -> str:
    """``ADDRESS:PORT`` (IPv6 as ``[ADDRESS]:PORT``), normalized."""
    if len(node.args) != 1:
        raise Invalid("expected ADDRESS:PORT")
    host, _, port = node.args[0].rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not host:
        raise Invalid("expected ADDRESS:PORT")
    address, port = check(IP, host, "an IP address"), check(PORT, port, "a port")
    return f"[{address}]:{port}" if address.version == 6 else f"{address}:{port}"


def lvs_timeouts(node: Node, _findings: Findings) -> tuple[tuple[str, int], ...]:
    if not node.args or len(node.args) % 2:
        raise Invalid("expected pairs: tcp|tcpfin|udp SECONDS")
    pairs = list(zip(node.args[::2], node.args[1::2], strict=True))
    return tuple(
        (
            check(vol.In(("tcp", "tcpfin", "udp")), name, "tcp, tcpfin or udp"),
            check(integer(0, 2**31 - 1), value, "seconds"),
        )
        for name, value in pairs
    )


def dynamic_interfaces(node: Node, _findings: Findings) -> bool:
    """``dynamic_interfaces [allow_if_changes]`` (keepalived: "Unknown dynamic_interfaces option")."""
    if node.args not in ((), ("allow_if_changes",)):
        raise Invalid(f"expected nothing or allow_if_changes, got {' '.join(node.args)[:40]!r}")
    return True


def optional_priority(node: Node, _findings: Findings) -> int:
    if not node.args:
        return 99
    return one(integer(-1, 99), "a realtime priority -1..99")(node, _findings)


def realtime_priority(node: Node, findings: Findings) -> int:
    """``vrrp_rt_priority N`` / ``checker_rt_priority N``: a SCHED_RR priority; outside 1..99 the nearest
    one is used, with a warning, as keepalived does."""
    value = one(integer(-(2**31), 2**31 - 1), "a realtime priority 1..99")(node, findings)
    used = min(max(value, 1), 99)
    if used != value:
        findings.warning(node.pos, f"{node.keyword} {value} is outside 1..99: {used} is used")
    return used


def cpu_list(node: Node, _findings: Findings) -> tuple[int, ...]:
    """``vrrp_cpu_affinity CPU...`` / ``checker_cpu_affinity CPU...``: the CPUs the process may run on."""
    if not node.args:
        raise Invalid("expected CPU numbers")
    return tuple(check(integer(0, 4095), word, "a CPU number") for word in node.args)


# keepalived: [0.000001, 4294.967295] seconds (0 is an error there)
GARP_INTERVAL = one(seconds(0.000001, 4294.967295), "seconds 0.000001..4294.967295")

# global_defs keywords keepalived knows and tandemd does not carry out: warned, ignored
GLOBAL_UNSUPPORTED_BARE = frozenset(
    [
        "bfd_no_swap",
        "checker_log_all_failures",
        "data_use_instance",
        "disable_local_igmp",
        "enable_dbus",
        "enable_snmp_checker",
        "enable_snmp_keepalived",
        "enable_snmp_rfc",
        "enable_snmp_rfcv2",
        "enable_snmp_rfcv3",
        "enable_snmp_vrrp",
        "enable_traps",
        "include_check",
        "lvs_flush",
        "lvs_flush_on_stop",
        "lvs_flush_onstop",
        "lvs_netlink_cmd_rcv_bufs_force",
        "lvs_netlink_monitor_rcv_bufs_force",
        "nftables",
        "nftables_counters",
        "nftables_ifindex",
        "nftables_ipvs",
        "no_checker_emails",
        "process_monitor_rcv_bufs_force",
        "process_names",
        "reload_check_config",
        "reload_file",
        "reload_repeat",
        "rs_init_notifies",
        "vrrp_netlink_cmd_rcv_bufs_force",
        "vrrp_netlink_monitor_rcv_bufs_force",
    ]
)
# ... and those keepalived refuses without a value (an error there and here)
GLOBAL_UNSUPPORTED_VALUED = frozenset(
    [
        "bfd_cpu_affinity",
        "bfd_priority",
        "bfd_process_name",
        "bfd_rlimit_rtime",
        "bfd_rlimit_rttime",
        "bfd_rt_priority",
        "checker_process_name",
        "config_save_dir",
        "dbus_service_name",
        "lvs_netlink_cmd_rcv_bufs",
        "lvs_netlink_monitor_rcv_bufs",
        "lvs_notify_fifo_script",
        "lvs_process_name",
        "lvs_sync_daemon",
        "min_auto_priority_delay",
        "nftables_ipvs_priority",
        "nftables_ipvs_start_fwmark",
        "nftables_priority",
        "process_monitor_rcv_bufs",
        "process_name",
        "random_seed",
        "reload_time_file",
        "shutdown_script",
        "shutdown_script_timeout",
        "snmp_socket",
        "startup_script",
        "startup_script_timeout",
        "tmp_config_directory",
        "umask",
        "vmac_addr_prefix",
        "vmac_prefix",
        "vrrp_netlink_cmd_rcv_bufs",
        "vrrp_netlink_monitor_rcv_bufs",
        "vrrp_process_name",
        "vrrp_rx_bufs_multiplier",
        "vrrp_rx_bufs_policy",
        "vrrp_vmac_garp_intvl",
    ]
)

GLOBAL_DEFS = Block(
    "global_defs",
    {
        "router_id": Key("router_id", one(WORD, "a name")),
        "notification_email": Key("notification_email", words, block=True),
        "notification_email_from": Key("notification_email_from", one(WORD, "an e-mail address")),
        "smtp_server": Key(None, smtp_server),
        "smtp_helo_name": Key("smtp_helo_name", one(WORD, "a host name")),
        "smtp_connect_timeout": whole_seconds_key("smtp_connect_timeout", 1, 4294),
        "smtp_alert": Key("smtp_alert", flag),
        "smtp_alert_vrrp": Key("smtp_alert_vrrp", flag),
        "smtp_alert_checker": Key("smtp_alert_checker", flag),
        "smtp_starttls": Key("smtp_starttls", flag),
        "smtp_auth_user": Key("smtp_auth_user", one(WORD, "a user name")),
        "smtp_auth_password_file": Key("smtp_auth_password_file", one(WORD, "a file path")),
        "tandem_metrics_listen": Key("tandem_metrics_listen", listen_address),
        "tandem_lb_plane": Key(
            "tandem_lb_plane", one(vol.In(("auto", "ipvs", "nftables")), "auto, ipvs or nftables")
        ),
        "script_user": Key(None, user_group("script_")),
        "enable_script_security": Key("enable_script_security", bare_flag),
        "notify_fifo": Key("notify_fifo", one(WORD, "a FIFO path"), once=True),
        "vrrp_notify_fifo": Key("vrrp_notify_fifo", one(WORD, "a FIFO path"), once=True),
        "lvs_notify_fifo": Key("lvs_notify_fifo", one(WORD, "a FIFO path"), once=True),
        "notify_fifo_script": Key("notify_fifo_script", script, once=True),
        "vrrp_notify_fifo_script": Key("vrrp_notify_fifo_script", script, once=True),
        "vrrp_notify_priority_changes": Key("vrrp_notify_priority_changes", flag),
        "vrrp_version": Key("vrrp_version", one(vol.All(vol.Coerce(int), vol.In((2, 3))), "2 or 3")),
        "vrrp_strict": Key("vrrp_strict", bare_flag),
        "vrrp_iptables": Key("vrrp_iptables", lambda node, _f: " ".join(node.args)),
        "default_interface": Key("default_interface", one(WORD, "an interface name")),
        "vrrp_mcast_group4": Key("vrrp_mcast_group4", multicast(4, "an IPv4 multicast address")),
        "vrrp_mcast_group6": Key("vrrp_mcast_group6", multicast(6, "an IPv6 multicast address")),
        "vrrp_garp_master_delay": whole_seconds_key("vrrp_garp_master_delay", 0, 4294),
        "vrrp_garp_master_repeat": count_key("vrrp_garp_master_repeat", 1, UINT_MAX),
        "vrrp_garp_master_refresh": whole_seconds_key("vrrp_garp_master_refresh", 0, UINT_MAX),
        "vrrp_garp_master_refresh_repeat": count_key("vrrp_garp_master_refresh_repeat", 1, UINT_MAX),
        "vrrp_garp_lower_prio_delay": whole_seconds_key("vrrp_garp_lower_prio_delay", 0, 4294),
        "vrrp_garp_lower_prio_repeat": count_key("vrrp_garp_lower_prio_repeat", 0, 2**31 - 1),
        "vrrp_garp_interval": Key("vrrp_garp_interval", GARP_INTERVAL),
        "vrrp_gna_interval": Key("vrrp_gna_interval", GARP_INTERVAL),
        "vrrp_garp_extra_if": Key(None, garp_extra_if("vrrp_garp_extra_if", 1)),
        "vrrp_lower_prio_no_advert": Key("vrrp_lower_prio_no_advert", flag),
        "fifo_write_vrrp_states_on_reload": Key("fifo_write_vrrp_states_on_reload", bare_flag),
        "no_email_faults": Key("no_email_faults", bare_flag),
        "vrrp_startup_delay": Key(
            "vrrp_startup_delay", one(seconds(0.001, 4294.967295), "seconds 0.001..4294")
        ),
        "vrrp_down_timer_adverts": count_key("vrrp_down_timer_adverts", 1, 100),
        "vrrp_higher_prio_send_advert": Key("vrrp_higher_prio_send_advert", flag),
        "vrrp_skip_check_adv_addr": Key("vrrp_skip_check_adv_addr", bare_flag),
        "vrrp_check_unicast_src": Key("vrrp_check_unicast_src", bare_flag),
        "log_unknown_vrids": Key("log_unknown_vrids", bare_flag),
        "vrrp_min_garp": Key("vrrp_min_garp", flag),
        # each child process's scheduling (tandem.daemon.scheduling)
        "vrrp_priority": count_key("vrrp_priority", -20, 19),
        "checker_priority": count_key("checker_priority", -20, 19),
        "vrrp_rt_priority": Key("vrrp_rt_priority", realtime_priority),
        "checker_rt_priority": Key("checker_rt_priority", realtime_priority),
        "vrrp_rlimit_rttime": count_key("vrrp_rlimit_rttime", 1, UINT_MAX),
        "vrrp_rlimit_rtime": count_key("vrrp_rlimit_rttime", 1, UINT_MAX),  # keepalived's older spelling
        "checker_rlimit_rttime": count_key("checker_rlimit_rttime", 1, UINT_MAX),
        "checker_rlimit_rtime": count_key("checker_rlimit_rttime", 1, UINT_MAX),
        "vrrp_no_swap": Key("vrrp_no_swap", bare_flag),
        "checker_no_swap": Key("checker_no_swap", bare_flag),
        "vrrp_cpu_affinity": Key("vrrp_cpu_affinity", cpu_list),
        "checker_cpu_affinity": Key("checker_cpu_affinity", cpu_list),
        "max_auto_priority": Key("max_auto_priority", optional_priority),
        "dynamic_interfaces": Key("dynamic_interfaces", dynamic_interfaces),
        "lvs_timeouts": Key("lvs_timeouts", lvs_timeouts),
    },
    GLOBAL_UNSUPPORTED_BARE | GLOBAL_UNSUPPORTED_VALUED,
    GLOBAL_UNSUPPORTED_VALUED,
)


_SCRIPT_TIMEOUT = one(whole_seconds(0, 4294), "whole seconds 1..4294")


def script_timeout(node: Node, findings: Findings) -> float:
    """vrrp_script ``timeout``: whole seconds 0..4294; 0 is read as 1 with a warning, as keepalived
    ("vrrp script timeout must be greater than 0, setting to 1")."""
    value = _SCRIPT_TIMEOUT(node, findings)
    if value == 0:
        findings.warning(node.pos, "timeout 0: 1 second is used (as keepalived)")
        return 1.0
    return value


script_timeout.limits = limits_of(_SCRIPT_TIMEOUT)


VRRP_SCRIPT = Block(
    "vrrp_script",
    {
        "script": Key("script", script),
        "interval": whole_seconds_key("interval", 1, 4294),
        "timeout": Key("timeout", script_timeout),
        "weight": Key(None, weight),
        "rise": count_key("rise", 1),
        "fall": count_key("fall", 1),
        "user": Key(None, user_group("")),
        "init_fail": Key("init_fail", flag),
    },
)


def process(node: Node, _findings: Findings) -> dict[str, Any]:
    """``process NAME [ARG ...]``: arguments make keepalived compare the whole command line."""
    if not node.args:
        raise Invalid("expected a process name or path, optionally followed by its arguments")
    values: dict[str, Any] = {"process": node.args[0], "params": tuple(node.args[1:])}
    if len(node.args) > 1:
        values["full_command"] = True
    return values


def param_match(node: Node, _findings: Findings) -> dict[str, Any]:
    """``param_match [initial|partial]`` (bare: exact); it compares the command line, so full_command."""
    if len(node.args) > 1 or (node.args and node.args[0] not in ("initial", "partial")):
        raise Invalid("expected nothing (exact match), 'initial' or 'partial'")
    return {"param_match": node.args[0] if node.args else "exact", "full_command": True}


PROCESS_DELAY = one(seconds(0.000001, 3600), "seconds 0.000001..3600")

TRACK_PROCESS = Block(
    "vrrp_track_process",
    {
        "process": Key(None, process, once=True),
        "param_match": Key(None, param_match),
        "weight": Key(None, weight),
        "quorum": count_key("quorum", 1, 65535),
        "quorum_max": count_key("quorum_max", 0, 65535),
        "delay": Key(
            None, lambda node, f: dict.fromkeys(("fork_delay", "terminate_delay"), PROCESS_DELAY(node, f))
        ),
        "fork_delay": Key("fork_delay", PROCESS_DELAY),
        "terminate_delay": Key("terminate_delay", PROCESS_DELAY),
        "full_command": Key("full_command", bare_flag),
    },
)


_FILE_VALUE = integer(-254, 254)


def init_file(node: Node, _findings: Findings) -> dict[str, Any]:
    args = list(node.args)
    overwrite = bool(args) and args[-1] == "overwrite"
    if overwrite:
        args.pop()
    if len(args) > 1:
        raise Invalid("expected an optional integer value and optionally 'overwrite'")
    value = check(_FILE_VALUE, args[0], "an integer -254..254") if args else 0
    return {"init_file": value, "init_file_overwrite": overwrite}


init_file.limits = limits_of(_FILE_VALUE)


TRACK_FILE = Block(
    "track_file",
    {
        "file": Key("file", one(WORD, "a file path"), once=True),
        "weight": Key(None, weight, once=True),
        "init_file": Key(None, init_file),
    },
)


def build_global_defs(node: Node, findings: Findings) -> GlobalDefs | None:
    if node.args:
        findings.error(node.pos, "global_defs takes no name")
    values = read_block(node.children, GLOBAL_DEFS, findings)
    return make(GlobalDefs, values, node.pos, "global_defs", findings)


def build_vrrp_script(node: Node, findings: Findings) -> VrrpScript | None:
    name = block_name(node, findings, "vrrp_script")
    values = read_block(node.children, VRRP_SCRIPT, findings)
    user, group = values.pop("user", None), values.pop("group", None)
    if "script" in values and user:
        command: Script = values["script"]
        values["script"] = Script(command=command.command, user=user, group=group, pos=command.pos)
    if name is None:
        return None
    return make(VrrpScript, {"name": name, **values}, node.pos, f"vrrp_script {name}", findings)


def build_track_file(node: Node, findings: Findings) -> TrackFile | None:
    name = block_name(node, findings, node.keyword)
    values = read_block(node.children, TRACK_FILE, findings)
    if node.keyword == "vrrp_track_file":
        findings.warning(node.pos, "vrrp_track_file is the old spelling of track_file")
    if name is None:
        return None
    return make(TrackFile, {"name": name, **values}, node.pos, f"track_file {name}", findings)


def build_track_process(node: Node, findings: Findings) -> TrackProcess | None:
    name = block_name(node, findings, "vrrp_track_process")
    values = read_block(node.children, TRACK_PROCESS, findings)
    if values.get("params") and "param_match" not in values:
        values["param_match"] = "exact"
    quorum_max = values.get("quorum_max")
    if quorum_max == 0 and "quorum" not in values:
        values["quorum"] = 0  # "no such process runs" is the wanted state
    elif quorum_max is not None and quorum_max < values.get("quorum", 1):
        findings.error(node.pos, f"vrrp_track_process {name}: quorum_max {quorum_max} is less than quorum")
        return None
    if name is None:
        return None
    return make(TrackProcess, {"name": name, **values}, node.pos, f"vrrp_track_process {name}", findings)
