"""Voluptuous schemas of the inventory design: VRRP groups, active-active sets and the per-host vars.

Each schema checks one definition on its own (types, ranges, duplicates inside it) and fills defaults;
everything that needs more than one definition or the hosts' vars lives in ``rules/``.

A field that becomes a keepalived keyword is judged by that keyword's own reader in the runtime's
keyword tables (``keyword``): the value is written as the renderer writes it and read as ``tandemd -t``
reads it, so the inventory never takes what the config refuses, and a limit changed there applies here.
The inventory may narrow a reader's range (``within``), never widen it.
"""

from __future__ import annotations

import ipaddress
import math
import re
import reprlib
from decimal import Decimal
from typing import Any as AnyValue

from voluptuous import All, Any, Invalid, Length, Match, Optional, Range, Required, Schema

from tandem.config import schema as config
from tandem.config.dump import quote
from tandem.config.findings import Findings
from tandem.config.global_blocks import GLOBAL_DEFS, SMTP_PORT, VRRP_SCRIPT
from tandem.config.global_blocks import TRACK_FILE as TRACK_FILE_BLOCK
from tandem.config.global_blocks import TRACK_PROCESS as TRACK_PROCESS_BLOCK
from tandem.config.lexer import Reader
from tandem.config.model import Position
from tandem.config.parser import Node
from tandem.config.vrrp_blocks import AUTHENTICATION, VRRP_INSTANCE, read_scope

DEFAULT_PRIORITY_TOP = 150
DEFAULT_PRIORITY_STEP = 10
DEFAULT_DNS_TTL = 30
NOTIFY_EVENTS = ("master", "backup", "fault", "stop", "deleted", "any")
# garp: {key: value} -> keepalived's instance keyword (gratuitous ARP / unsolicited NA cadence)
GARP_KEYWORDS = {
    "master_delay": "garp_master_delay",
    "master_repeat": "garp_master_repeat",
    "master_refresh": "garp_master_refresh",
    "master_refresh_repeat": "garp_master_refresh_repeat",
    "lower_prio_delay": "garp_lower_prio_delay",
    "lower_prio_repeat": "garp_lower_prio_repeat",
    "interval": "garp_interval",
    "gna_interval": "gna_interval",
    "lower_prio_no_advert": "lower_prio_no_advert",
    "higher_prio_send_advert": "higher_prio_send_advert",
}


# Values in messages: shown within bounds. The inventory's YAML may share one node under many anchors
# (a "billion laughs" document: 10 lists of 10 lists... 9 deep is 10**9 leaves in a few lines), and a
# message with repr() or str() of such a value never ended.
_SHOWN = reprlib.Repr()
_SHOWN.maxlevel, _SHOWN.maxlist, _SHOWN.maxdict, _SHOWN.maxstring, _SHOWN.maxother = 3, 4, 4, 60, 60


def shown(value: AnyValue) -> str:
    return _SHOWN.repr(value)


def _text(value: AnyValue, expected: str) -> str:
    """A scalar as text for a parser; a list or mapping is refused before str() walks it."""
    if isinstance(value, list | dict | tuple | set):
        raise Invalid(f"{expected}, got {shown(value)}")
    return str(value)


_TRUE, _FALSE = ("1", "true", "yes", "on", "enable"), ("0", "false", "no", "off", "disable")


def boolean(value: AnyValue) -> bool:
    """true/false (YAML's, voluptuous Boolean's words, 0 or 1); voluptuous' Boolean() took any other
    value as bool(value), so ``unicast: {a: 1}`` or ``[0]`` was silently true."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in (*_TRUE, *_FALSE):
        return value.lower() in _TRUE
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise Invalid("expected boolean")  # voluptuous Boolean's words (the kind is added by load.py)


def _integer(value: AnyValue) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise Invalid(f"expected an integer, got {shown(value)}")


def _number(value: AnyValue) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise Invalid(f"expected a number, got {shown(value)}")
    try:
        return float(value)
    except ValueError:
        raise Invalid(f"expected a number, got {shown(value)}") from None


def integer(low: int, high: int):
    return All(_integer, Range(low, high, msg=f"expected an integer from {low} to {high}"))


def config_word(value: AnyValue) -> str:
    """A value as the renderer writes it in tandemd.conf (true/false as on/off, 2.0 as 2, a float with
    its shortest digits and no exponent: YAML's 0.000001 is the float 1e-06, keepalived reads 0.000001)."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, float) and math.isfinite(value):
        return format(Decimal(repr(value)), "f")
    return str(value)


def _scalar(value: AnyValue) -> AnyValue:
    _text(value, "expected a single value")
    return value


def _writable(text: str) -> str:
    """Text the config writer writes as one word that the config reader reads back as it is (the
    writer's quote, the reader's preprocessing): a line break or a backslash would come back as
    something else, or as an error at a line of tandemd.conf naming no field."""
    findings = Findings()
    reader = Reader(findings, "inventory")
    reader.read_text(f"k {quote(text)}\n", "inventory", "/")
    if findings.has_errors or [line.tokens for line in reader.lines] != [("k", text)]:
        raise Invalid(f"cannot be written in tandemd.conf as it is (line break, backslash?): {shown(text)}")
    return text


def _string(value: AnyValue) -> str:
    if not isinstance(value, str):  # str(value) of a shared YAML node may never end
        raise Invalid(f"expected a string, got {shown(value)}")
    return _writable(value)


TEXT = Schema(_string)  # any text written to tandemd.conf


def _shown_bound(bound: float) -> str:
    return f"{bound:.6f}".rstrip("0").rstrip(".")


_AT = Position(file="inventory", line=0)


def reader(convert: AnyValue, name: str, within: tuple = (None, None), base: AnyValue = None):
    """The validator of an inventory field written as keepalived's ``name`` and read by ``convert`` (a
    converter of the runtime's keyword tables): the value, of the inventory's type ``base`` (by default
    the reader's: a number for seconds, an integer for counts, else one scalar), is written as the
    renderer writes it and read by ``convert``; what it refuses is refused with its words. ``within``
    narrows a numeric reader's range (None: the reader's bound); a bound outside it is a ValueError here.
    The validator's ``limits`` are the range the inventory takes."""
    limits = config.limits_of(convert)
    low, high = within
    if low is not None or high is not None:
        if limits is None:
            raise ValueError(f"{name}: its reader has no numeric range to narrow")
        low = limits.low if low is None else low
        high = limits.high if high is None else high
        if not limits.low <= low <= high <= limits.high:
            raise ValueError(f"{name}: {low}..{high} is wider than its reader's {limits.low}..{limits.high}")
        limits = limits._replace(low=low, high=high)
    if base is None:
        base = _scalar if limits is None else _number if limits.seconds else _integer
    what = None
    if limits is not None:
        unit = ("whole seconds" if limits.places == 0 else "seconds") if limits.seconds else "an integer"
        what = f"expected {unit} {_shown_bound(limits.low)}..{_shown_bound(limits.high)}"

    def validate(value: AnyValue) -> AnyValue:
        value = base(value)
        if what and not limits.low <= value <= limits.high:  # the narrowed range, in the reader's words
            raise Invalid(f"{what}, got {config_word(value)!r}")
        try:
            convert(Node(name, (config_word(value),), _AT, None), Findings())
        except config.Invalid as error:
            raise Invalid(str(error)) from None
        return value

    validate.limits = limits
    return validate


def keyword(block: config.Block, name: str, within: tuple = (None, None), base: AnyValue = None):
    """``reader`` of keyword ``name`` of the runtime's keyword table ``block``."""
    return reader(block.keys[name].convert, name, within, base)


def vip(value: AnyValue) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface:
    try:
        return ipaddress.ip_interface(
            _text(value, "expected an IPv4 or IPv6 address with an optional /prefix")
        )
    except ValueError:
        raise Invalid(
            f"expected an IPv4 or IPv6 address with an optional /prefix, got {shown(value)}"
        ) from None


def vip_entry(value: AnyValue) -> tuple:
    """A VIP, ``address[/prefix]`` or ``{address, dev?, label?, scope?, no_track?}``: (interface, options)."""
    if isinstance(value, dict):
        options = Schema({Required("address"): vip, **ADDRESS_OPTIONS})(value)
        return options.pop("address"), options
    return vip(value), {}


def host_address(value: AnyValue) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface:
    if "/" not in _text(value, "expected address/prefix such as 198.51.100.11/24"):
        raise Invalid(f"expected address/prefix such as 198.51.100.11/24, got {shown(value)}")
    return vip(value)


def address(value: AnyValue) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(_text(value, "expected an IPv4 or IPv6 address without prefix"))
    except ValueError:
        raise Invalid(f"expected an IPv4 or IPv6 address without prefix, got {shown(value)}") from None


def _address_list(value: AnyValue) -> list:
    return [host_address(item) for item in (value if isinstance(value, list) else [value])]


NAME = All(
    str, Match(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", msg="expected a name of letters, digits, '_', '.', '-'")
)
HOST = All(str, Length(min=1, msg="expected an inventory host name"))
INTERFACE = All(
    _string, Match(r"^[^\s/:]{1,15}$", msg="expected a Linux interface name (at most 15 characters)")
)
VRID = keyword(VRRP_INSTANCE, "virtual_router_id")
PRIORITY = keyword(VRRP_INSTANCE, "priority", within=(1, 254))  # 255: the address owner, not planned


def auth_type(value: AnyValue) -> str:
    """PASS only: tandemd parses keepalived's AH but does not implement it (its adverts would carry no
    authentication at all, and keepalived peers using AH would drop them)."""
    if value == "AH":
        raise Invalid("AH is not implemented by tandemd (its adverts would go unauthenticated): use PASS")
    if value != "PASS":
        raise Invalid(f"expected PASS, got {shown(value)}")
    return value


AUTH = Schema(
    {
        Required("type"): keyword(AUTHENTICATION, "auth_type", base=auth_type),
        Required("password"): keyword(AUTHENTICATION, "auth_pass", base=_string),
    }
)

# Settings every member of a VRRP instance must agree on; hosts may set defaults for them.
SETTINGS = {
    # VRRPv3's 0.01 to VRRPv2's 255 (the runtime's checks hold each version to its own range)
    "advert_int": keyword(VRRP_INSTANCE, "advert_int", within=(0.01, 255)),
    "version": keyword(VRRP_INSTANCE, "version", base=integer(2, 3)),
    "auth": AUTH,
    "unicast": boolean,
}

COMMAND = All(_string, Length(min=1))
# A script shipped from the controller by the tandemd role: src (controller path) and optional args.
SHIPPED = {Required("src"): COMMAND, Optional("args"): TEXT}


def _script_given(definition: dict) -> dict:
    if ("script" in definition) == ("src" in definition):
        raise Invalid(
            "give either script (a command on the host) or src (a file shipped from the controller)"
        )
    if "args" in definition and "src" not in definition:
        raise Invalid("args go with src; put them into script", path=["args"])
    return definition


# track_* weights, as the runtime reads them after the name in a track_* entry
WEIGHT = reader(config.one(config.WEIGHT, "a weight -254..254"), "weight")
TRACK_SCRIPT = Schema(
    All(
        {
            Required("name"): NAME,
            Optional("script"): COMMAND,
            Optional("src"): COMMAND,
            Optional("args"): TEXT,
            Optional("interval", default=1): keyword(VRRP_SCRIPT, "interval"),
            # 0 is 1 there, with a warning: the inventory says what it means
            Optional("timeout"): keyword(VRRP_SCRIPT, "timeout", within=(1, None)),
            Optional("fall", default=1): keyword(VRRP_SCRIPT, "fall", within=(1, 1000)),
            Optional("rise", default=1): keyword(VRRP_SCRIPT, "rise", within=(1, 1000)),
            Optional("weight", default=0): WEIGHT,
            Optional("user"): TEXT,
        },
        _script_given,
    )
)
TRACK_INTERFACE = Schema(
    All(
        lambda v: {"name": v} if isinstance(v, str) else v,
        {Required("name"): INTERFACE, Optional("weight", default=0): WEIGHT, Optional("reverse"): boolean},
    )
)
TRACK_FILE = Schema(
    {
        Required("name"): NAME,
        Required("file"): All(_string, Match(r"^/", msg="expected an absolute path")),
        Optional("weight", default=1): WEIGHT,
        Optional("reverse"): boolean,
        Optional("init_file"): keyword(TRACK_FILE_BLOCK, "init_file"),
    }
)
TRACK_PROCESS = Schema(
    {
        Required("name"): NAME,
        Required("process"): COMMAND,
        Optional("args", default=list): [TEXT],
        Optional("param_match"): Match(
            r"^(exact|initial|partial)$", msg="expected exact, initial or partial"
        ),
        Optional("full_command"): boolean,
        Optional("weight", default=0): WEIGHT,
        Optional("reverse"): boolean,
        Optional("quorum"): keyword(TRACK_PROCESS_BLOCK, "quorum"),
        Optional("quorum_max"): keyword(TRACK_PROCESS_BLOCK, "quorum_max"),
        Optional("fork_delay"): keyword(TRACK_PROCESS_BLOCK, "fork_delay"),
        Optional("terminate_delay"): keyword(TRACK_PROCESS_BLOCK, "terminate_delay"),
    }
)
# A notify script: a command, or {script | src [args], user?, group?} (run as that user, as keepalived's
# "notify_master COMMAND USER GROUP"; without one as global script_user, else root).
NOTIFY_SCRIPT = Schema(
    Any(
        COMMAND,
        All(
            {
                Optional("script"): COMMAND,
                Optional("src"): COMMAND,
                Optional("args"): TEXT,
                Optional("user"): All(_string, Length(min=1)),
                Optional("group"): All(_string, Length(min=1)),
            },
            _script_given,
        ),
        msg="expected a command, or {script or src, args?, user?, group?}",
    )
)
SCOPE = reader(lambda node, _findings: read_scope(node.args[0]), "scope", base=_string)
ADDRESS_OPTIONS = {
    Optional("dev"): INTERFACE,
    Optional("label"): All(_string, Length(min=1, max=15)),
    Optional("scope"): SCOPE,
    Optional("no_track"): boolean,
}


_DNS_NAME = re.compile(r"^([a-z0-9_*]([a-z0-9_-]*[a-z0-9_])?\.)*[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?\.?$")


def _fqdn(value: AnyValue) -> str:
    name = _text(value, "expected a DNS name such as www.example.com.").strip().lower()
    if not _DNS_NAME.match(name):
        raise Invalid(f"expected a DNS name such as www.example.com., got {shown(value)}")
    return name if name.endswith(".") else name + "."


DNS = Schema(
    {
        Required("name"): _fqdn,
        Required("zone"): _fqdn,
        Optional("ttl", default=DEFAULT_DNS_TTL): integer(1, 2**31 - 1),
        Optional("server"): str,
    }
)


def _member(value: AnyValue) -> dict:
    return MEMBER({"host": value} if isinstance(value, str) else value)


MEMBER = Schema(
    {
        Required("host"): HOST,
        Optional("priority"): PRIORITY,
        Optional("unicast_src"): address,
        Optional("unicast_peers"): [address],
    }
)


def _vmac(value: AnyValue) -> bool | str:
    """``use_vmac``: true (the interface is named vrrp.VRID), false, or the interface's name."""
    if isinstance(value, bool):
        return value
    return Schema(INTERFACE)(value)


_COMMON = {
    Required("name"): NAME,
    Required("vips"): All([vip_entry], Length(min=1, msg="expected at least one VIP")),
    Optional("excluded_vips", default=list): [vip_entry],
    Optional("interface"): INTERFACE,
    Optional("segment"): All(str, Length(min=1)),
    **{Optional(key): validator for key, validator in SETTINGS.items()},
    Optional("priority_top", default=DEFAULT_PRIORITY_TOP): PRIORITY,
    Optional("priority_step", default=DEFAULT_PRIORITY_STEP): integer(1, 253),
    Optional("preempt", default=True): boolean,
    Optional("preempt_delay"): keyword(VRRP_INSTANCE, "preempt_delay"),
    Optional("accept"): boolean,
    Optional("garp", default=dict): {
        Optional(key): keyword(VRRP_INSTANCE, name, base=boolean if key.endswith("advert") else None)
        for key, name in GARP_KEYWORDS.items()
    },
    Optional("track_scripts", default=list): [TRACK_SCRIPT],
    Optional("track_interfaces", default=list): [TRACK_INTERFACE],
    Optional("track_files", default=list): [TRACK_FILE],
    Optional("track_processes", default=list): [TRACK_PROCESS],
    # ip route / ip rule words, as keepalived's virtual_routes / virtual_rules (checked by the runtime)
    Optional("virtual_routes", default=list): [COMMAND],
    Optional("virtual_rules", default=list): [COMMAND],
    Optional("notify", default=dict): {Optional(event): NOTIFY_SCRIPT for event in NOTIFY_EVENTS},
    Optional("smtp_alert"): boolean,
    # adverts and VIPs on a macvlan interface with the VRRP virtual MAC (keepalived's use_vmac)
    Optional("use_vmac"): _vmac,
    Optional("vmac_xmit_base"): boolean,  # with use_vmac: adverts leave through the base interface
    Optional("unicast_ttl"): keyword(VRRP_INSTANCE, "unicast_ttl"),  # with unicast: the adverts' TTL
    # the members bind services to the VIPs while backups too (sets net.ipv4/ipv6 ip_nonlocal_bind)
    Optional("nonlocal_bind", default=False): boolean,
    Optional("dns"): DNS,
}


def _unique(items: list, what: str, field: str) -> None:
    seen = set()
    for index, item in enumerate(items):
        if item in seen:
            raise Invalid(f"{what} {item} is listed twice", path=[field, index])
        seen.add(item)


def _split_vips(definition: dict) -> None:
    """(interface, options) entries -> ``vips`` (interfaces) and ``vip_options`` (mappings)."""
    for key, options_key in (("vips", "vip_options"), ("excluded_vips", "excluded_vip_options")):
        entries = definition[key]
        definition[key] = [address for address, _ in entries]
        definition[options_key] = [options for _, options in entries]


def _check_common(definition: dict) -> None:
    _split_vips(definition)
    if definition.get("vmac_xmit_base") and not definition.get("use_vmac"):
        raise Invalid("vmac_xmit_base goes with use_vmac", path=["vmac_xmit_base"])
    if "unicast_ttl" in definition and definition.get("unicast") is not True:
        raise Invalid("unicast_ttl needs unicast: true", path=["unicast_ttl"])
    vips = definition["vips"]
    _unique([v.ip for v in vips], "VIP", "vips")
    for index, item in enumerate(vips):
        if item.version != vips[0].version:
            raise Invalid(
                f"VIP {item} is IPv{item.version} but vips[0] is IPv{vips[0].version}: "
                "one VRRP instance carries one address family; make two groups",
                path=["vips", index],
            )
    for field, what in (
        ("track_scripts", "track script"),
        ("track_files", "track file"),
        ("track_processes", "track process"),
        ("track_interfaces", "tracked interface"),
    ):
        _unique([item["name"] for item in definition[field]], what, field)
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
            # groups of one sync group change state together (keepalived's vrrp_sync_group)
            Optional("sync_group"): NAME,
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
    # this host's own values in a group or set, by its name (as keepalived users keep them in host_vars)
    "tandem_vrrp_overrides": Schema(
        {
            NAME: {
                Optional("priority"): PRIORITY,
                Optional("interface"): INTERFACE,
                Optional("unicast_src"): address,
            }
        }
    ),
}


MAIL = Schema(
    {
        Required("to"): All(
            [All(_string, Length(min=3))], Length(min=1, msg="expected at least one address")
        ),
        Optional("from"): keyword(GLOBAL_DEFS, "notification_email_from", base=All(_string, Length(min=3))),
        Required("server"): keyword(GLOBAL_DEFS, "smtp_server", base=_string),
        Optional("port"): reader(config.one(SMTP_PORT, "a port 1..65535"), "smtp_server port"),
        Optional("helo_name"): keyword(GLOBAL_DEFS, "smtp_helo_name", base=_string),
        Optional("connect_timeout"): keyword(GLOBAL_DEFS, "smtp_connect_timeout"),
        Optional("starttls"): boolean,
        Optional("auth_user"): keyword(GLOBAL_DEFS, "smtp_auth_user", base=_string),
        Optional("auth_password"): All(str, Length(min=1)),
        Optional("alert"): boolean,  # smtp_alert for every instance that does not say
    }
)
FIFO = All(_string, Match(r"^/", msg="expected an absolute path"))
GLOBAL = Schema(
    {
        Optional("mail"): MAIL,
        # FIFOs tandemd writes state changes to (all, VRRP only, checkers only), and the scripts it starts
        # to read them (a command or {script | src, args?, user?, group?}, as notify scripts)
        Optional("notify_fifo"): FIFO,
        Optional("vrrp_notify_fifo"): FIFO,
        Optional("lvs_notify_fifo"): FIFO,
        Optional("notify_fifo_script"): NOTIFY_SCRIPT,
        Optional("vrrp_notify_fifo_script"): NOTIFY_SCRIPT,
        Optional("script_user"): TEXT,
        Optional("enable_script_security"): boolean,
    }
)


def _field_names(*schemas: AnyValue) -> tuple[str, ...]:
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
    VRRP_GROUP,
    ACTIVE_ACTIVE_SET,
    MEMBER,
    TRACK_SCRIPT,
    TRACK_INTERFACE,
    TRACK_FILE,
    TRACK_PROCESS,
    DNS,
    AUTH,
    *HOST_VARS.values(),
    _COMMON,
    ADDRESS_OPTIONS,
    {key: None for key in GARP_KEYWORDS},
    MAIL,
    GLOBAL,
    {"vrrp_group": None, "real_servers": None, "checkers": None},
)
