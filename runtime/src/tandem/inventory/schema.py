"""Voluptuous schemas of the inventory design: VRRP groups, active-active sets and the per-host vars.

Each schema checks one definition on its own (types, ranges, duplicates inside it) and fills defaults;
everything that needs more than one definition or the hosts' vars lives in ``rules/``.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from voluptuous import All, Boolean, Invalid, Length, Match, Optional, Range, Required, Schema

DEFAULT_PRIORITY_TOP = 150
DEFAULT_PRIORITY_STEP = 10
DEFAULT_DNS_TTL = 30
NOTIFY_EVENTS = ("master", "backup", "fault", "stop", "any")


def _integer(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise Invalid(f"expected an integer, got {value!r}")


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise Invalid(f"expected a number, got {value!r}")
    try:
        return float(value)
    except ValueError:
        raise Invalid(f"expected a number, got {value!r}") from None


def integer(low: int, high: int):
    return All(_integer, Range(low, high, msg=f"expected an integer from {low} to {high}"))


def number(low: float, high: float):
    return All(_number, Range(low, high, msg=f"expected a number from {low} to {high}"))


def vip(value: Any) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface:
    try:
        return ipaddress.ip_interface(str(value))
    except ValueError:
        raise Invalid(f"expected an IPv4 or IPv6 address with an optional /prefix, got {value!r}") from None


def host_address(value: Any) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface:
    if "/" not in str(value):
        raise Invalid(f"expected address/prefix such as 198.51.100.11/24, got {value!r}")
    return vip(value)


def address(value: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(str(value))
    except ValueError:
        raise Invalid(f"expected an IPv4 or IPv6 address without prefix, got {value!r}") from None


def _address_list(value: Any) -> list:
    return [host_address(item) for item in (value if isinstance(value, list) else [value])]


NAME = All(
    str, Match(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", msg="expected a name of letters, digits, '_', '.', '-'")
)
HOST = All(str, Length(min=1, msg="expected an inventory host name"))
INTERFACE = All(str, Match(r"^[^\s/:]{1,15}$", msg="expected a Linux interface name (at most 15 characters)"))
VRID = integer(1, 255)
PRIORITY = integer(1, 254)

AUTH = Schema(
    {Required("type"): All(str, Match(r"^(PASS|AH)$", msg="expected PASS or AH")), Required("password"): str}
)

# Settings every member of a VRRP instance must agree on; hosts may set defaults for them.
SETTINGS = {
    "advert_int": number(0.01, 255),
    "version": integer(2, 3),
    "auth": AUTH,
    "unicast": Boolean(),
}

TRACK_SCRIPT = Schema(
    {
        Required("name"): NAME,
        Required("script"): All(str, Length(min=1)),
        Optional("interval", default=1): number(0.01, 86400),
        Optional("timeout"): number(0.01, 86400),
        Optional("fall", default=1): integer(1, 1000),
        Optional("rise", default=1): integer(1, 1000),
        Optional("weight", default=0): integer(-254, 254),
        Optional("user"): str,
    }
)


_DNS_NAME = re.compile(r"^([a-z0-9_*]([a-z0-9_-]*[a-z0-9_])?\.)*[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?\.?$")


def _fqdn(value: Any) -> str:
    name = str(value).strip().lower()
    if not _DNS_NAME.match(name):
        raise Invalid(f"expected a DNS name such as www.example.com., got {value!r}")
    return name if name.endswith(".") else name + "."


DNS = Schema(
    {
        Required("name"): _fqdn,
        Required("zone"): _fqdn,
        Optional("ttl", default=DEFAULT_DNS_TTL): integer(1, 2**31 - 1),
        Optional("server"): str,
    }
)


def _member(value: Any) -> dict:
    return MEMBER({"host": value} if isinstance(value, str) else value)


MEMBER = Schema(
    {
        Required("host"): HOST,
        Optional("priority"): PRIORITY,
        Optional("unicast_src"): address,
        Optional("unicast_peers"): [address],
    }
)

_COMMON = {
    Required("name"): NAME,
    Required("vips"): All([vip], Length(min=1, msg="expected at least one VIP")),
    Optional("interface"): INTERFACE,
    Optional("segment"): All(str, Length(min=1)),
    **{Optional(key): validator for key, validator in SETTINGS.items()},
    Optional("priority_top", default=DEFAULT_PRIORITY_TOP): PRIORITY,
    Optional("priority_step", default=DEFAULT_PRIORITY_STEP): integer(1, 253),
    Optional("track_scripts", default=list): [TRACK_SCRIPT],
    Optional("notify", default=dict): {Optional(event): All(str, Length(min=1)) for event in NOTIFY_EVENTS},
    Optional("dns"): DNS,
}


def _unique(items: list, what: str, field: str) -> None:
    seen = set()
    for index, item in enumerate(items):
        if item in seen:
            raise Invalid(f"{what} {item} is listed twice", path=[field, index])
        seen.add(item)


def _check_common(definition: dict) -> None:
    vips = definition["vips"]
    _unique([v.ip for v in vips], "VIP", "vips")
    for index, item in enumerate(vips):
        if item.version != vips[0].version:
            raise Invalid(
                f"VIP {item} is IPv{item.version} but vips[0] is IPv{vips[0].version}: "
                "one VRRP instance carries one address family; make two groups",
                path=["vips", index],
            )
    names = [script["name"] for script in definition["track_scripts"]]
    _unique(names, "track script", "track_scripts")
    dns = definition.get("dns")
    if dns and dns["name"] != dns["zone"] and not dns["name"].endswith("." + dns["zone"]):
        raise Invalid(f"DNS name {dns['name']} is not inside zone {dns['zone']}", path=["dns", "name"])


def _check_priority_room(definition: dict, count: int) -> None:
    lowest = definition["priority_top"] - definition["priority_step"] * (count - 1)
    if lowest < 1:
        raise Invalid(
            f"{count} members from priority_top {definition['priority_top']} in steps of "
            f"{definition['priority_step']} would reach priority {lowest}; the lowest allowed is 1",
            path=["priority_step"],
        )


def _check_group(group: dict) -> dict:
    _check_common(group)
    _unique([m["host"] for m in group["members"]], "member", "members")
    with_priority = [m for m in group["members"] if "priority" in m]
    if with_priority and len(with_priority) != len(group["members"]):
        index = next(i for i, m in enumerate(group["members"]) if "priority" not in m)
        raise Invalid(
            "give every member a priority, or none (priorities then follow the order)",
            path=["members", index],
        )
    if not with_priority:
        _check_priority_room(group, len(group["members"]))
    if "master" in group and group["master"] not in {m["host"] for m in group["members"]}:
        raise Invalid(f"preferred master {group['master']} is not a member of the group", path=["master"])
    for index, member in enumerate(group["members"]):
        if ("unicast_src" in member or "unicast_peers" in member) and group.get("unicast") is not True:
            raise Invalid(
                "unicast_src/unicast_peers need unicast: true on the group", path=["members", index]
            )
    return group


def _check_active_active(aa_set: dict) -> dict:
    _check_common(aa_set)
    _unique(aa_set["hosts"], "host", "hosts")
    _check_priority_room(aa_set, len(aa_set["hosts"]))
    last = aa_set["vrid_base"] + len(aa_set["vips"]) - 1
    if last > 255:
        raise Invalid(
            f"{len(aa_set['vips'])} VIPs from vrid_base {aa_set['vrid_base']} need VRIDs up to {last}; "
            "the highest is 255",
            path=["vrid_base"],
        )
    return aa_set


VRRP_GROUP = Schema(
    All(
        {
            **_COMMON,
            Required("vrid"): VRID,
            Required("members"): All([_member], Length(min=2, msg="expected at least two members")),
            Optional("master"): HOST,
        },
        _check_group,
    )
)

ACTIVE_ACTIVE_SET = Schema(
    All(
        {
            **_COMMON,
            Required("vrid_base"): VRID,
            Required("hosts"): All([HOST], Length(min=2, msg="expected at least two hosts")),
        },
        _check_active_active,
    )
)

HOST_VARS = {
    "tandem_interface": Schema(INTERFACE),
    "tandem_addresses": Schema({INTERFACE: _address_list}),
    "tandem_vrrp_defaults": Schema({Optional(key): validator for key, validator in SETTINGS.items()}),
}


def _field_names(*schemas: Any) -> tuple[str, ...]:
    names = set()
    for schema in schemas:
        mapping = schema.schema if isinstance(schema, Schema) else schema
        if isinstance(mapping, All):
            mapping = mapping.validators[0]
        if isinstance(mapping, dict):
            names |= {str(key) for key in mapping if isinstance(getattr(key, "schema", key), str)}
    return tuple(sorted(names))


# Every field name of the design, for "did you mean" on an unknown one.
FIELD_NAMES = _field_names(
    VRRP_GROUP, ACTIVE_ACTIVE_SET, MEMBER, TRACK_SCRIPT, DNS, AUTH, *HOST_VARS.values(), _COMMON
)
