"""From the syntax tree to a ``Config``: the top-level blocks and the names they define."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tandem.config.findings import Findings
from tandem.config.global_blocks import (
    build_global_defs,
    build_track_file,
    build_track_process,
    build_vrrp_script,
)
from tandem.config.lvs_blocks import build_ssl, build_virtual_server, build_virtual_server_group
from tandem.config.model import Config
from tandem.config.parser import Node
from tandem.config.schema import Block, Invalid, bare_flag, check, entries, not_in_table, seconds
from tandem.config.vrrp_blocks import (
    build_instance,
    build_sync_group,
    virtual_address,
    virtual_route,
    virtual_rule,
)


def _static(parse_entry: Callable[[Node, Findings], Any]) -> Callable[[Node, Findings], Any]:
    read = entries(parse_entry)

    def build(node: Node, findings: Findings) -> Any:
        if node.args:
            findings.error(node.pos, f"{node.keyword} takes no name")
        return read(node, findings)

    return build


def up_down_delay(node: Node, _findings: Findings) -> tuple[str, float, float]:
    """``IFNAME DOWN_DELAY [UP_DELAY]`` (seconds, at most 100; the up delay defaults to the down one)."""
    if not 1 <= len(node.args) <= 2:
        raise Invalid(f"{node.keyword}: expected a down delay and optionally an up delay (seconds)")
    down, *up = (check(seconds(0, 100), arg, "seconds 0..100") for arg in node.args)
    return node.keyword, down, up[0] if up else down


LINKBEAT_TYPES = ("MII", "ETHTOOL", "IOCTL")


def linkbeat_interface(node: Node, findings: Findings) -> tuple[str, ...]:
    """``IFNAME [MII|ETHTOOL|IOCTL]``: the interface whose link is polled, and how (default: the best the
    driver answers). tandemd reads ETHTOOL_GLINK and the interface flags; MII registers are not read."""
    if len(node.args) > 1 or (node.args and node.args[0] not in LINKBEAT_TYPES):
        raise Invalid(f"extra characters {' '.join(node.args)} in linkbeat interface (MII, ETHTOOL or IOCTL)")
    if tuple(node.args) == ("MII",):
        findings.warning(
            node.pos,
            f"linkbeat {node.keyword} MII: tandemd polls the link with ETHTOOL_GLINK and the interface "
            "flags, not the PHY's MII status register",
        )
    return (node.keyword, *node.args)


# keyword -> (Config field, builder, builder returns a tuple to append)
TOP_LEVEL: dict[str, tuple[str, Callable[[Node, Findings], Any], bool]] = {
    "global_defs": ("global_defs", build_global_defs, False),
    "vrrp_script": ("vrrp_scripts", build_vrrp_script, False),
    "track_file": ("track_files", build_track_file, False),
    "vrrp_track_file": ("track_files", build_track_file, False),
    "vrrp_track_process": ("vrrp_track_processes", build_track_process, False),
    "vrrp_instance": ("vrrp_instances", build_instance, False),
    "vrrp_sync_group": ("vrrp_sync_groups", build_sync_group, False),
    "static_ipaddress": ("static_ipaddresses", _static(virtual_address), True),
    "static_routes": ("static_routes", _static(virtual_route), True),
    "static_rules": ("static_rules", _static(virtual_rule), True),
    "interface_up_down_delays": ("interface_up_down_delays", _static(up_down_delay), True),
    "linkbeat_interfaces": ("linkbeat_interfaces", _static(linkbeat_interface), True),
    "virtual_server_group": ("virtual_server_groups", build_virtual_server_group, False),
    "virtual_server": ("virtual_servers", build_virtual_server, False),
    "SSL": ("ssl", build_ssl, False),
}
TOP_LEVEL_BLOCK = Block(
    "the top level",
    dict.fromkeys((*TOP_LEVEL, "linkbeat_use_polling")),  # only names matter: for "did you mean"
    frozenset(
        {
            "bfd_instance",
            "garp_group",
            "track_group",
            "net_namespace",
            "net_namespace_ipvs",
            "namespace_with_ipsets",
            "instance",
            "use_pid_dir",
            "child_wait_time",
        }
    ),
)


# keepalived accepts these defined twice and looks names up in definition order: the first wins
FIRST_DEFINITION_WINS = ("vrrp_scripts", "track_files", "vrrp_track_processes", "virtual_server_groups")


def _first_of_each_name(items: Any, findings: Findings) -> list[Any]:
    kept: dict[str, Any] = {}
    for item in items:
        if item.name in kept:
            first = kept[item.name]
            findings.warning(
                item.pos,
                f"{item.name} is already defined at {first.pos}; the first one is used (as keepalived)",
            )
        else:
            kept[item.name] = item
    return list(kept.values())


def build_config(tree: list[Node], findings: Findings) -> Config:
    """Build every top-level block; those with errors are reported and left out."""
    fields: dict[str, Any] = {}
    global_defs = [node for node in tree if node.keyword == "global_defs" and node.children is not None]
    if global_defs:  # keepalived merges repeated global_defs blocks
        merged = Node(
            "global_defs",
            global_defs[0].args,
            global_defs[0].pos,
            [child for node in global_defs for child in node.children],
        )
        fields["global_defs"] = build_global_defs(merged, findings)
    for node in tree:
        if node.keyword == "linkbeat_use_polling" and node.children is None:
            fields["linkbeat_use_polling"] = bare_flag(node, findings)  # keepalived reads no value
            continue
        entry = TOP_LEVEL.get(node.keyword)
        if entry is None:
            not_in_table(node, TOP_LEVEL_BLOCK, findings)
            continue
        field, builder, is_list = entry
        if node.children is None:
            findings.error(node.pos, f"{node.keyword} needs a {{ }} block")
            continue
        if field == "global_defs":
            continue
        built = builder(node, findings)
        if built is None:
            continue
        if is_list:
            fields.setdefault(field, []).extend(built)
        else:
            fields.setdefault(field, []).append(built)
    if fields.get("global_defs", ()) is None:
        del fields["global_defs"]
    for field in FIRST_DEFINITION_WINS:
        fields[field] = _first_of_each_name(fields.get(field, ()), findings)
    groups = {group.name for group in fields["virtual_server_groups"]}
    servers = fields.get("virtual_servers", ())
    for server in servers:
        if server.group is not None and server.group not in groups:
            findings.warning(  # keepalived accepts it and serves nothing for it
                server.pos,
                f"virtual_server group {server.group}: '{server.group}' is not a defined "
                "virtual_server_group; nothing is served (as keepalived)",
            )
    fields["virtual_servers"] = [s for s in servers if s.group is None or s.group in groups]
    scalars = ("global_defs", "linkbeat_use_polling")
    return Config(**{name: value if name in scalars else tuple(value) for name, value in fields.items()})
