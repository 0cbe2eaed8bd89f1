"""Keyword tables of the VRRP side: vrrp_instance, vrrp_sync_group and the lists inside them
(virtual_ipaddress, virtual_routes, virtual_rules, track_*, unicast_peer), also used by the
top-level static_ipaddress / static_routes / static_rules blocks."""

from __future__ import annotations

from typing import Any

import voluptuous as vol

from tandem.config.findings import Findings
from tandem.config.global_blocks import GARP_INTERVAL
from tandem.config.model import (
    Notify,
    TrackedFile,
    TrackedInterface,
    TrackedProcess,
    TrackedScript,
    VirtualAddress,
    VirtualRoute,
    VirtualRule,
    VrrpInstance,
    VrrpSyncGroup,
)
from tandem.config.parser import Node
from tandem.config.schema import (
    IP,
    IP_INTERFACE,
    IPV4,
    NETWORK,
    UINT_MAX,
    WEIGHT,
    WORD,
    Block,
    Invalid,
    Key,
    bare_flag,
    bare_negated,
    block_name,
    check,
    count_key,
    entries,
    flag,
    garp_extra_if,
    integer,
    make,
    one,
    one_address,
    pairs,
    read_block,
    script,
    socket_address,
    timer_key,
    whole_seconds_key,
    words,
)

SCOPES = ("global", "site", "link", "host", "nowhere")
ROUTE_TYPES = ("unicast", "blackhole", "unreachable", "prohibit", "throw", "local", "broadcast", "nat")
RULE_ACTIONS = ("blackhole", "prohibit", "unreachable", "no_route")
RULE_OPTIONS = (
    "from",
    "to",
    "priority",
    "preference",
    "fwmark",
    "table",
    "lookup",
    "goto",
    "iif",
    "oif",
)
ADDRESS_OPTIONS = ("dev", "brd", "broadcast", "scope", "label", "peer", "preferred_lft")


def read_scope(text: str) -> str:
    return check(vol.Any(vol.In(SCOPES), vol.All(vol.Coerce(int), vol.Range(0, 255), str)), text, "a scope")


def virtual_address(node: Node, findings: Findings) -> VirtualAddress:
    """``IP[/LEN] [dev IF] [brd IP] [scope S] [label L] [peer IP] [no_track] ...``"""
    address = check(IP_INTERFACE, node.keyword, "an IP address with optional /prefix")
    values: dict[str, Any] = {}
    args = list(node.args)
    if "no_track" in args:
        args.remove("no_track")
        values["no_track"] = True
    for flag_word in ("home", "-nodad", "nodad", "noprefixroute", "autojoin"):
        if flag_word in args:
            args.remove(flag_word)
            findings.warning(node.pos, f"address option '{flag_word}' is not supported yet; ignored")
    for name, value in pairs(args, node.keyword, ADDRESS_OPTIONS):
        if name == "dev":
            values["dev"] = value
        elif name in ("brd", "broadcast"):
            if value == "+":  # keepalived (as ip address): the prefix's broadcast address
                values["brd"] = address.network.broadcast_address if address.version == 4 else None
            elif value != "-":  # "-": no broadcast address
                values["brd"] = check(IPV4, value, "an IPv4 broadcast address, + or -")
        elif name == "scope":
            values["scope"] = read_scope(value)
        elif name == "label":
            values["label"] = value
        elif name == "peer":
            values["peer"] = check(IP, value, "a peer address")
        else:
            findings.warning(node.pos, f"address option '{name}' is not supported yet; ignored")
    if address.version == 6 and values.get("brd") is not None:
        raise Invalid(f"{node.keyword}: brd applies to IPv4 addresses only")
    return VirtualAddress(address=address, pos=node.pos, **values)


# ip route options keepalived reads with a value (a few take "lock" before it) and as flags
_ROUTE_VALUE_OPTIONS = (
    "proto", "protocol", "realms", "mtu", "advmss", "tos", "pref", "initcwnd", "rto_min", "rtt", "rttvar",
    "reordering", "window", "cwnd", "ssthresh", "initrwnd", "features", "quickack", "congctl",
    "fastopen_no_cookie", "expires", "hoplimit", "dsfield",
)  # fmt: skip
_ROUTE_FLAGS = ("onlink", "pervasive")
_FAMILIES = ("inet", "inet6")


def virtual_route(node: Node, findings: Findings) -> VirtualRoute:
    """``[TYPE] [src IP] [to] DEST [via IP] [or IP] [dev IF] [scope S] [table T] [metric N] ...``"""
    words_ = list(node.words)
    values: dict[str, Any] = {}
    if words_[0] in ROUTE_TYPES:
        values["type"] = words_.pop(0)
    extra = []
    destination = None
    items = iter(words_)
    for word in items:
        if word == "to":
            continue
        if word == "no_track":
            values["no_track"] = True
            continue
        if word in _ROUTE_FLAGS:
            extra.append((word, ""))
            continue
        if word in ("src", "via", "gw", "or", "dev", "scope", "table", "metric", *_ROUTE_VALUE_OPTIONS):
            value = next(items, None)
            if value in _FAMILIES and word in ("via", "gw", "or"):  # via inet6 ADDRESS
                value = next(items, None)
            elif value == "lock" and word in _ROUTE_VALUE_OPTIONS:  # mtu lock 1400
                value = f"lock {next(items, '')}".strip()
            if value is None:
                raise Invalid(f"route option '{word}' needs a value")
            if word in ("gw", "or"):
                findings.warning(node.pos, f"'{word}' in routes is deprecated; use 'via'")
            if word in ("src", "via", "gw"):
                values["via" if word == "gw" else word] = check(IP, value, f"an address after {word}")
            elif word == "or":
                values["or_via"] = check(IP, value, "an address after or")
            elif word == "scope":
                values["scope"] = read_scope(value)
            elif word == "metric":
                values["metric"] = check(integer(0, 2**32 - 1), value, "a metric")
            elif word in ("dev", "table"):
                values[word] = value
            else:
                extra.append((word, value))
        elif destination is None:
            destination = check(NETWORK, "0.0.0.0/0" if word == "default" else word, "a destination prefix")
        else:
            raise Invalid(f"unexpected '{word}' in route")
    if destination is None:
        raise Invalid("route without a destination")
    return VirtualRoute(destination=destination, options=tuple(extra), pos=node.pos, **values)


def virtual_rule(node: Node, findings: Findings) -> VirtualRule:
    """``[from P] [to P] [table T | goto N | ACTION] [priority N] [fwmark N] [iif IF] [oif IF]``"""
    values: dict[str, Any] = {}
    words_ = list(node.words)
    for action in RULE_ACTIONS:
        if action in words_:
            words_.remove(action)
            values["action"] = action
    if "no_track" in words_:
        words_.remove("no_track")
        values["no_track"] = True
    if "l3mdev" in words_:
        words_.remove("l3mdev")
        findings.warning(node.pos, "rule option 'l3mdev' is not supported yet; ignored")
    for name, value in pairs(words_, "rule", RULE_OPTIONS):
        if name in ("from", "to"):
            if value != "all":  # all: any address, as no prefix
                key = name + "_" if name == "from" else name
                values[key] = check(NETWORK, value, f"a prefix (or all) after {name}")
        elif name in ("priority", "preference"):
            values["priority"] = check(integer(0, 2**32 - 1), value, "a rule priority")
        elif name == "fwmark":
            values["fwmark"] = check(integer(0, 2**32 - 1), value.split("/")[0], "a fwmark")
        elif name in ("table", "lookup"):
            values["table"] = value
        elif name == "goto":
            values["action"] = f"goto {check(integer(1, 2**32 - 1), value, 'a rule priority')}"
        else:
            values[name] = value
    if "priority" not in values:
        findings.warning(node.pos, "rule has no priority; keepalived picks one (probably not what you want)")
    return VirtualRule(pos=node.pos, **values)


def _tracked(cls: type) -> Any:
    """``NAME [weight N [reverse]]`` entries of track_interface/_script/_file/_process."""

    def parse(node: Node, _findings: Findings) -> Any:
        values: dict[str, Any] = {}
        args = list(node.args)
        if args and args[-1] == "reverse":
            values["weight_reverse"] = True
            args.pop()
        if args:
            if len(args) != 2 or args[0] != "weight":
                raise Invalid(f"{node.keyword}: expected 'weight N [reverse]' after the name")
            values["weight"] = check(WEIGHT, args[1], "a weight -254..254")
        return cls(name=node.keyword, pos=node.pos, **values)

    return parse


def unicast_peer(node: Node, findings: Findings) -> Any:
    if node.args and (len(node.args) % 2 or any(a not in ("min_ttl", "max_ttl") for a in node.args[::2])):
        raise Invalid(f"{node.keyword}: expected an address, optionally min_ttl N / max_ttl N")
    if node.args:
        findings.warning(
            node.pos,
            f"unicast_peer {node.keyword}: min_ttl/max_ttl are not carried out yet; "
            "the TTL of its adverts is not checked",
        )
    return socket_address(node, findings, node.keyword, "a peer address")


def unicast_peers(node: Node, findings: Findings) -> tuple[Any, ...]:
    if not node.children:
        raise Invalid("empty block; the instance would silently use multicast")
    return _unicast_entries(node, findings)


_unicast_entries = entries(unicast_peer)


def authentication(node: Node, findings: Findings) -> dict[str, Any]:
    values = read_block(node.children, AUTHENTICATION, findings)
    if values.get("auth_pass") and len(values["auth_pass"]) > 8:
        findings.warning(node.pos, "auth_pass is longer than 8 characters; only the first 8 are used")
        values["auth_pass"] = values["auth_pass"][:8]
    return values


def deprecated_linkbeat(node: Node, findings: Findings) -> bool:
    """vrrp_instance ``linkbeat_use_polling``: on (keepalived reads no value), deprecated there."""
    findings.warning(
        node.pos,
        "linkbeat_use_polling in vrrp_instance is deprecated (keepalived); use a linkbeat_interfaces block",
    )
    return bare_flag(node, findings)


def deprecated_global_tracking(node: Node, findings: Findings) -> bool:
    """vrrp_sync_group ``global_tracking``: keepalived's old name of sync_group_tracking_weight."""
    findings.warning(
        node.pos, "global_tracking is deprecated (keepalived); it means sync_group_tracking_weight"
    )
    return bare_flag(node, findings)


def old_unicast_checksum(node: Node, _findings: Findings) -> str:
    """``old_unicast_checksum [never]``: "config" alone (keepalived's name of that mode), or "never"."""
    if node.args and list(node.args) != ["never"]:
        raise Invalid(f"unknown old_unicast_checksum mode {node.args[0]}; expected nothing or never")
    return "never" if node.args else "config"


def use_vmac(node: Node, _findings: Findings) -> dict[str, Any]:
    if len(node.args) > 1:
        raise Invalid("expected at most an interface name")
    return {"use_vmac": True, "vmac_name": node.args[0] if node.args else None}


AUTHENTICATION = Block(
    "authentication",
    {
        "auth_type": Key("auth_type", one(vol.In(("PASS", "AH")), "PASS or AH")),
        "auth_pass": Key("auth_pass", one(WORD, "a password")),
    },
)

TRACKING = {
    "track_interface": Key("track_interfaces", entries(_tracked(TrackedInterface)), block=True, repeat=True),
    "track_script": Key("track_scripts", entries(_tracked(TrackedScript)), block=True, repeat=True),
    "track_file": Key("track_files", entries(_tracked(TrackedFile)), block=True, repeat=True),
    "track_process": Key("track_processes", entries(_tracked(TrackedProcess)), block=True, repeat=True),
    "notify_master": Key("notify_master", script, once=True),
    "notify_backup": Key("notify_backup", script, once=True),
    "notify_fault": Key("notify_fault", script, once=True),
    "notify_stop": Key("notify_stop", script, once=True),
    "notify_deleted": Key("notify_deleted", script, once=True),
    "notify": Key("notify_any", script, once=True),
    "smtp_alert": Key("smtp_alert", flag),
    "notify_priority_changes": Key("notify_priority_changes", flag),
}
TRACKING_UNSUPPORTED = {"track_bfd"}


def take_notify(values: dict[str, Any]) -> Notify:
    """Move the notify_* values read with ``TRACKING`` into one ``Notify``."""
    return Notify(
        **{
            event: values.pop(f"notify_{event}")
            for event in Notify.__dataclass_fields__
            if f"notify_{event}" in values
        }
    )


VRRP_INSTANCE = Block(
    "vrrp_instance",
    {
        **TRACKING,
        "state": Key("state", one(vol.In(("MASTER", "BACKUP")), "MASTER or BACKUP")),
        "interface": Key("interface", one(WORD, "an interface name")),
        "virtual_router_id": count_key("virtual_router_id", 1, 255),
        "priority": count_key("priority", 1, 255),
        "advert_int": timer_key("advert_int"),
        "version": Key("version", one(vol.All(vol.Coerce(int), vol.In((2, 3))), "2 or 3")),
        "nopreempt": Key("nopreempt", bare_flag),
        "preempt": Key("nopreempt", bare_negated),
        "preempt_delay": timer_key("preempt_delay", 0, 1000),
        "unicast_src_ip": Key("unicast_src_ip", one_address()),
        "unicast_peer": Key("unicast_peers", unicast_peers, block=True, repeat=True),
        "unicast_ttl": count_key("unicast_ttl", 1, 255),
        "mcast_src_ip": Key("mcast_src_ip", one_address()),
        "mcast_dst_ip": Key("mcast_dst_ip", one_address()),
        "kernel_rx_buf_size": count_key("kernel_rx_buf_size", 0, 2**32 - 1),
        "authentication": Key(None, authentication, block=True),
        "virtual_ipaddress": Key("virtual_ipaddresses", entries(virtual_address), block=True, repeat=True),
        "virtual_ipaddress_excluded": Key(
            "virtual_ipaddresses_excluded", entries(virtual_address), block=True, repeat=True
        ),
        "virtual_routes": Key("virtual_routes", entries(virtual_route), block=True, repeat=True),
        "virtual_rules": Key("virtual_rules", entries(virtual_rule), block=True, repeat=True),
        "dont_track_primary": Key("dont_track_primary", bare_flag),
        "linkbeat_use_polling": Key("linkbeat_use_polling", deprecated_linkbeat),
        "garp_master_delay": whole_seconds_key("garp_master_delay", 0, 4294),
        "garp_master_repeat": count_key("garp_master_repeat", 1, UINT_MAX),
        "garp_master_refresh": whole_seconds_key("garp_master_refresh", 0, UINT_MAX),
        "garp_master_refresh_repeat": count_key("garp_master_refresh_repeat", 1, UINT_MAX),
        "garp_lower_prio_delay": whole_seconds_key("garp_lower_prio_delay", 0, 4294),
        "garp_lower_prio_repeat": count_key("garp_lower_prio_repeat", 0, 2**31 - 1),
        "garp_interval": Key("garp_interval", GARP_INTERVAL),
        "gna_interval": Key("gna_interval", GARP_INTERVAL),
        "garp_extra_if": Key(None, garp_extra_if("garp_extra_if")),
        "lower_prio_no_advert": Key("lower_prio_no_advert", flag),
        "down_timer_adverts": count_key("down_timer_adverts", 1, 100),
        "promote_secondaries": Key("promote_secondaries", bare_flag),
        "unicast_fault_no_peer": Key("unicast_fault_no_peer", bare_flag),
        "higher_prio_send_advert": Key("higher_prio_send_advert", flag),
        "use_vmac": Key(None, use_vmac),
        "vmac_xmit_base": Key("vmac_xmit_base", bare_flag),
        "accept": Key("accept", bare_flag),
        "no_accept": Key("accept", bare_negated),
        "native_ipv6": Key("native_ipv6", bare_flag),
        "strict_mode": Key("strict_mode", flag),
        "skip_check_adv_addr": Key("skip_check_adv_addr", flag),
        "check_unicast_src": Key("check_unicast_src", flag),
        "old_unicast_checksum": Key("old_unicast_checksum", old_unicast_checksum),
        "debug": count_key("debug", 0, 4),
        "notify_master_rx_lower_pri": Key("notify_master_rx_lower_pri", script, once=True),
    },
    frozenset(
        {
            *TRACKING_UNSUPPORTED,
            "track_src_ip",
            "use_ipvlan",
            "use_vmac_addr",
            "vrf",
            "lvs_sync_daemon_interface",
        }
    ),
)

VRRP_SYNC_GROUP = Block(
    "vrrp_sync_group",
    {
        **TRACKING,
        "group": Key("group", words, block=True),
        "global_tracking": Key("sync_group_tracking_weight", deprecated_global_tracking),
        "sync_group_tracking_weight": Key("sync_group_tracking_weight", bare_flag),
    },
    frozenset(TRACKING_UNSUPPORTED),
)


def _build_named(cls: type, block: Block, node: Node, findings: Findings) -> Any:
    name = block_name(node, findings, block.title)
    values = read_block(node.children, block, findings)
    if name is None:
        return None
    values.update(name=name, notify=take_notify(values))
    return make(cls, values, node.pos, f"{block.title} {name}", findings)


def build_instance(node: Node, findings: Findings) -> VrrpInstance | None:
    return _build_named(VrrpInstance, VRRP_INSTANCE, node, findings)


def build_sync_group(node: Node, findings: Findings) -> VrrpSyncGroup | None:
    return _build_named(VrrpSyncGroup, VRRP_SYNC_GROUP, node, findings)
