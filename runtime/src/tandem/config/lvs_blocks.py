"""Keyword tables of the LVS side: virtual_server_group, virtual_server, real_server and checkers."""

from __future__ import annotations

import re
from typing import Any

import voluptuous as vol

from tandem.check.regex import REGEX_FLAGS, compile_regex
from tandem.config.findings import Findings
from tandem.config.model import (
    Checker,
    CheckerSsl,
    CheckerUrl,
    DnsCheck,
    FileCheck,
    HttpCheck,
    MiscCheck,
    PingCheck,
    RealServer,
    Script,
    SmtpCheck,
    TcpCheck,
    Tunnel,
    UdpCheck,
    VirtualServer,
    VirtualServerGroup,
    VirtualServerGroupEntry,
)
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
    entries,
    flag,
    integer,
    make,
    one,
    one_address,
    read_block,
    script,
    socket_address,
    timer_key,
    user_group,
    weight,
    whole_seconds_key,
)

SCHEDULERS = ("rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "twos")
TUNNEL_TYPES = ("ipip", "gue", "gre")
TUNNEL_CHECKSUMS = ("nocsum", "csum", "remcsum")


def METHOD(node: Node, findings: Findings) -> dict[str, Any]:
    """``NAT|DR|TUN`` (upper case, as keepalived) and for TUN ``[type ipip|gue|gre] [port N]
    [nocsum|csum|remcsum]``, with keepalived's rules: gue needs a port and only gue takes one, ipip
    takes no checksum option, gre no remcsum. Sets lvs_method and tunnel."""
    method = check(vol.In(("NAT", "DR", "TUN")), node.args[0] if node.args else "", "NAT, DR or TUN")
    rest = list(node.args[1:])
    if method != "TUN":
        if rest:  # keepalived: "Invalid tunnel option ... for virtual server."
            raise Invalid(f"{method} takes nothing after it (tunnel options are for TUN), got {rest[0]!r}")
        return {"lvs_method": method, "tunnel": None}
    tunnel, port, checksum = "ipip", None, "nocsum"
    while rest:
        word = rest.pop(0)
        if word == "type" and rest:
            tunnel = check(vol.In(TUNNEL_TYPES), rest.pop(0), "a tunnel type (ipip, gue, gre)")
        elif word == "port" and rest:
            port = check(PORT, rest.pop(0), "a port")
        elif word in TUNNEL_CHECKSUMS:
            checksum = word
        else:
            raise Invalid(f"TUN: unexpected {word!r} (type ipip|gue|gre, port N, nocsum|csum|remcsum)")
    if (tunnel == "gue") != (port is not None):
        raise Invalid("TUN: gue tunnels need a port, other tunnels take none (as keepalived)")
    if checksum != "nocsum" and (tunnel == "ipip" or (tunnel, checksum) == ("gre", "remcsum")):
        raise Invalid(f"TUN: {tunnel} tunnels take no {checksum} (as keepalived)")
    return {"lvs_method": method, "tunnel": Tunnel(type=tunnel, port=port, checksum=checksum)}


def SORRY_METHOD(node: Node, findings: Findings) -> dict[str, Any]:
    """``sorry_server_lvs_method``: lvs_method's words (and rules) for the sorry server, as
    keepalived's ss_forwarding_handler; without it the sorry server takes the virtual server's."""
    values = METHOD(node, findings)
    return {"sorry_server_lvs_method": values["lvs_method"], "sorry_server_tunnel": values["tunnel"]}


# IP_VS_SVC_F_SCHED1..3 by their ipvsadm names: flag-N for any scheduler, the others for theirs
SCHEDULER_FLAGS = {
    "flag-1": None,
    "flag-2": None,
    "flag-3": None,
    "sh-port": "sh",
    "sh-fallback": "sh",
    "mh-port": "mh",
    "mh-fallback": "mh",
}


def scheduler_flag(node: Node, findings: Findings) -> tuple[str, ...]:
    if node.args:  # keepalived reads no value after it
        findings.warning(
            node.pos, f"{node.keyword}: {' '.join(node.args)[:40]!r} after it is ignored (as keepalived)"
        )
    return (node.keyword,)


def scheduler_flags(children: list[Node], flags: tuple[str, ...], findings: Findings) -> tuple[str, ...]:
    """The flags that apply, as keepalived decides them: by the scheduler set on a line before the
    flag (lb_algo after sh-port leaves sh-port unset, an error in keepalived); mh-port with sh (or
    sh-port with mh) does nothing there (keepalived says nothing; this warns)."""
    scheduler, kept = None, []
    for child in children:
        if child.keyword in ("lb_algo", "lvs_sched") and child.args and child.args[0] in SCHEDULERS:
            scheduler = child.args[0]
        if child.keyword not in SCHEDULER_FLAGS or child.keyword not in flags:
            continue
        needs = SCHEDULER_FLAGS[child.keyword]
        if needs is None or needs == scheduler:
            kept.append(child.keyword)
        elif scheduler in ("sh", "mh"):
            findings.warning(child.pos, f"{child.keyword} applies to lb_algo {needs} only; ignored")
        else:
            findings.error(
                child.pos,
                f"{child.keyword} applies to lb_algo {needs} only (set on a line before it, as keepalived)",
            )
    return tuple(dict.fromkeys(kept))


def old_spelling(new: str, convert: Any) -> Any:
    """A keyword keepalived still reads but calls deprecated: read as ``new``, with its warning."""

    def read(node: Node, findings: Findings) -> Any:
        findings.warning(node.pos, f"{node.keyword} is deprecated - please use '{new}' (as keepalived says)")
        return convert(node, findings)

    return read


def hex_bytes(node: Node, _findings: Findings) -> bytes:
    """``payload 0a0b 0c``: hex digits, in one word or several."""
    text = "".join(node.args).removeprefix("0x")
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise Invalid(f"expected hex digits, got {' '.join(node.args)!r}") from None


def reply_bytes(node: Node, findings: Findings) -> bytes:
    """``require_reply [HEX]``: alone, any reply will do (b"")."""
    return hex_bytes(node, findings) if node.args else b""


def status_codes(node: Node, _findings: Findings) -> tuple[int, ...]:
    """``status_code 200 301-302 ...`` (keepalived: 100..599)"""
    codes: list[int] = []
    code = integer(100, 599)
    for arg in node.args or ("",):
        low, _, high = arg.partition("-")
        first = check(code, low, "an HTTP status code 100..599 or a range")
        last = check(code, high, "an HTTP status code 100..599") if high else first
        if last < first:
            raise Invalid(f"range {arg} ends before it starts")
        codes.extend(range(first, last + 1))
    return tuple(codes)


def regex(node: Node, _findings: Findings) -> str:
    pattern = one(str, "a regular expression")(node, _findings)
    try:
        compile_regex(pattern)
    except re.error as error:
        raise Invalid(f"not a valid regular expression: {error}") from None
    return pattern


# keepalived's other PCRE2 options: Python's re has no equivalent (warned, ignored)
PCRE2_ONLY = frozenset(
    {
        "allow_empty_class", "alt_bsux", "auto_callout", "dollar_endonly", "dupnames", "firstline",
        "match_unset_backref", "never_ucp", "never_utf", "no_auto_capture", "no_auto_possess",
        "no_dotstar_anchor", "no_start_optimize", "ucp", "ungreedy", "utf", "never_backslash_c",
        "alt_circumflex", "alt_verbnames", "use_offset_limit",
    }
)  # fmt: skip


def regex_options(node: Node, findings: Findings) -> tuple[str, ...]:
    options = []
    for option in node.args:
        if option in REGEX_FLAGS:
            options.append(option)
        elif option in PCRE2_ONLY:
            findings.warning(node.pos, f"regex_options {option}: Python's re has no equivalent; ignored")
        else:
            raise Invalid(f"unknown regex option {option!r} (Tandem has {', '.join(REGEX_FLAGS)})")
    return tuple(options)


URL = Block(
    "url",
    {
        "path": Key("path", one(WORD, "a URL path")),
        "digest": Key("digest", one(vol.Match(r"^[0-9A-Fa-f]{32}$"), "an MD5 digest (32 hex digits)")),
        "status_code": Key("status_code", status_codes),
        "virtualhost": Key("virtualhost", one(WORD, "a host name")),
        "regex": Key("regex", regex),
        "regex_no_match": Key("regex_no_match", bare_flag),
        "regex_options": Key("regex_options", regex_options),
        "regex_min_offset": count_key("regex_min_offset"),
        "regex_max_offset": count_key("regex_max_offset"),
    },
    frozenset({"regex_stack"}),  # PCRE2 JIT stack sizes: nothing to set in Python's re
)
REGEX_ONLY = ("regex_no_match", "regex_options", "regex_min_offset", "regex_max_offset")


def url(node: Node, findings: Findings) -> tuple[CheckerUrl, ...]:
    values = read_block(node.children, URL, findings)
    if "regex" not in values and any(key in values for key in REGEX_ONLY):
        findings.warning(node.pos, "url: regex parameters without a regex; ignored")
        for key in REGEX_ONLY:
            values.pop(key, None)
    if values.get("regex_min_offset", 0) > values.get("regex_max_offset", float("inf")):
        findings.warning(node.pos, "url: regex_min_offset is beyond regex_max_offset; both ignored")
        values.pop("regex_min_offset")
        values.pop("regex_max_offset")
    built = make(CheckerUrl, values, node.pos, "url", findings)
    return (built,) if built else ()


def fast_recovery(node: Node, findings: Findings) -> bool:
    """HTTP_GET/SSL_GET ``fast_recovery``: read, not carried out (said where it is written)."""
    findings.warning(
        node.pos, "fast_recovery is not carried out: a recovered real server's checks keep their usual timing"
    )
    return flag(node, findings)


# keepalived's bounds (microseconds there): connect_timeout 1 us..UINT_MAX us, delay_loop from 1 us
CONNECT_TIMEOUT = timer_key("connect_timeout", 0.000001, 4294.967295)
DELAY_LOOP = timer_key("delay_loop", 0.000001)

COMMON = {
    "connect_ip": Key("connect_ip", one_address()),
    "connect_port": count_key("connect_port", 1, 65535),
    "bindto": Key("bindto", one_address()),
    "bind_port": count_key("bind_port", 1, 65535),
    "bind_if": Key("bind_if", one(WORD, "an interface name")),
    "connect_timeout": CONNECT_TIMEOUT,
    "retry": count_key("retry", 0, UINT_MAX),
    "nb_get_retry": Key("retry", old_spelling("retry", count_key("retry", 0, UINT_MAX).convert)),
    "delay_before_retry": timer_key("delay_before_retry"),
    "warmup": timer_key("warmup"),
    "delay_loop": DELAY_LOOP,
    "alpha": Key("alpha", flag),
    "fwmark": count_key("fwmark", 0, UINT_MAX),
}
COMMON_UNSUPPORTED = frozenset({"log_all_failures", "dynamic"})

HTTP = {
    "url": Key("urls", url, block=True, repeat=True),
    "virtualhost": Key("virtualhost", one(WORD, "a host name")),
    "http_protocol": Key(
        "http_protocol", one(vol.All(vol.Upper, vol.In(("1.0", "1.0C", "1.1"))), "1.0, 1.0C or 1.1")
    ),
    "enable_sni": Key("enable_sni", flag),
    "fast_recovery": Key("fast_recovery", fast_recovery),
}

CHECKERS: dict[str, tuple[type[Checker], Block]] = {
    "HTTP_GET": (HttpCheck, Block("HTTP_GET", {**COMMON, **HTTP}, COMMON_UNSUPPORTED)),
    "SSL_GET": (HttpCheck, Block("SSL_GET", {**COMMON, **HTTP}, COMMON_UNSUPPORTED)),
    "TCP_CHECK": (TcpCheck, Block("TCP_CHECK", COMMON, COMMON_UNSUPPORTED)),
    "PING_CHECK": (PingCheck, Block("PING_CHECK", COMMON, COMMON_UNSUPPORTED)),
    "MISC_CHECK": (
        MiscCheck,
        Block(
            "MISC_CHECK",
            {
                **COMMON,
                "misc_path": Key("misc_path", script),
                "misc_timeout": whole_seconds_key("misc_timeout", 0, 4294),
                "misc_dynamic": Key("misc_dynamic", bare_flag),
                "user": Key(None, user_group("")),
            },
            COMMON_UNSUPPORTED,
        ),
    ),
    "SMTP_CHECK": (
        SmtpCheck,
        Block(
            "SMTP_CHECK",
            {
                **COMMON,
                "helo_name": Key("helo_name", one(WORD, "a host name")),
            },
            COMMON_UNSUPPORTED | {"host"},
        ),
    ),
    "DNS_CHECK": (
        DnsCheck,
        Block(
            "DNS_CHECK",
            {
                **COMMON,
                "type": Key(
                    "type",
                    one(
                        vol.All(vol.Upper, vol.In(("A", "NS", "CNAME", "SOA", "MX", "TXT", "AAAA"))),
                        "a query type (A, NS, CNAME, SOA, MX, TXT, AAAA)",
                    ),
                ),
                "name": Key("name", one(WORD, "a domain name"), once=True),
            },
            COMMON_UNSUPPORTED,
        ),
    ),
    "UDP_CHECK": (
        UdpCheck,
        Block(
            "UDP_CHECK",
            {
                **COMMON,
                "payload": Key("payload", hex_bytes),
                "require_reply": Key("require_reply", reply_bytes),
                "min_reply_length": count_key("min_reply_length", 0, 65535),
                "max_reply_length": count_key("max_reply_length", 0, 65535),
            },
            COMMON_UNSUPPORTED,
        ),
    ),
    "FILE_CHECK": (
        FileCheck,
        Block(
            "FILE_CHECK",
            {
                "track_file": Key("track_file", one(WORD, "a track_file name")),
                "weight": Key(None, weight),
            },
        ),
    ),
}


# keepalived checker kinds Tandem does not run: an error, so a config never silently loses a check
UNSUPPORTED_CHECKERS = {
    "BFD_CHECK": "BFD_CHECK is not supported by Tandem (no BFD); use PING_CHECK or TCP_CHECK"
}


def unsupported_checker(node: Node, _findings: Findings) -> tuple[Checker, ...]:
    raise Invalid(UNSUPPORTED_CHECKERS[node.keyword])


SSL = Block(
    "SSL",
    {
        "password": Key("password", one(str, "the key's password")),
        "ca": Key("ca", one(WORD, "a file")),
        "certificate": Key("certificate", one(WORD, "a file")),
        "key": Key("key", one(WORD, "a file")),
    },
)


def build_ssl(node: Node, findings: Findings) -> CheckerSsl | None:
    """``SSL { certificate/key/password/ca }``: what SSL_GET presents to real servers."""
    if node.args:
        findings.error(node.pos, "SSL takes no arguments before {")
    values = read_block(node.children, SSL, findings)
    if "ca" in values:  # keepalived loads it but sets no verify mode: server certificates are never checked
        findings.warning(node.pos, "SSL ca: server certificates are not verified (as keepalived); no effect")
    if ("key" in values) != ("certificate" in values):
        findings.warning(node.pos, "SSL: certificate and key go together; the client certificate is not sent")
    return make(CheckerSsl, values, node.pos, "SSL", findings)


def checker(node: Node, findings: Findings) -> tuple[Checker, ...]:
    cls, block = CHECKERS[node.keyword]
    if node.args:
        findings.error(node.pos, f"{node.keyword} takes no arguments before {{")
    values = read_block(node.children, block, findings)
    user, group = values.pop("user", None), values.pop("group", None)
    misc: Script | None = values.get("misc_path")
    if misc and user:
        values["misc_path"] = Script(command=misc.command, user=user, group=group, pos=misc.pos)
    if values.get("min_reply_length", 0) > values.get("max_reply_length", 255):
        findings.warning(
            node.pos, f"{node.keyword}: min_reply_length > max_reply_length: it will always fail"
        )
    built = make(cls, {"kind": node.keyword, **values}, node.pos, node.keyword, findings)
    return (built,) if built else ()


def address_port(node: Node, findings: Findings, what: str) -> tuple[Any, int | None]:
    if not node.args:
        raise Invalid(f"{what}: expected an IP address and optionally a port")
    if len(node.args) > 2:  # keepalived reads the address and the port
        findings.warning(
            node.pos, f"{what}: {' '.join(node.args[2:])[:40]!r} after the port is ignored (as keepalived)"
        )
    port = check(PORT, node.args[1], "a port") if len(node.args) == 2 else None
    return socket_address(node, findings, node.args[0], "an IP address"), port


# what a real_server and a virtual_server may set for their checkers to inherit
INHERITED = {
    "delay_loop": DELAY_LOOP,
    "connect_timeout": CONNECT_TIMEOUT,
    "retry": count_key("retry", 1, UINT_MAX),
    "delay_before_retry": timer_key("delay_before_retry"),
    "warmup": timer_key("warmup"),
}

REAL_SERVER = Block(
    "real_server",
    {
        "weight": count_key("weight", 0, 2**31 - 1),
        "inhibit_on_failure": Key("inhibit_on_failure", flag),
        "notify_up": Key("notify_up", script, once=True),
        "notify_down": Key("notify_down", script, once=True),
        "lvs_method": Key(None, METHOD),
        **{kind: Key("checkers", checker, block=True, repeat=True) for kind in CHECKERS},
        **{
            kind: Key("checkers", unsupported_checker, block=True, repeat=True)
            for kind in UNSUPPORTED_CHECKERS
        },
        **INHERITED,
        "alpha": Key("alpha", flag),
        "smtp_alert": Key("smtp_alert", flag),
        "virtualhost": Key("virtualhost", one(WORD, "a host name")),
        "uthreshold": count_key("uthreshold", 0, 65535),
        "lthreshold": count_key("lthreshold", 0, 65535),
    },
    frozenset({"snmp_name"}),
)


def real_server(node: Node, findings: Findings) -> tuple[RealServer, ...]:
    address, port = address_port(node, findings, "real_server")
    values = read_block(node.children, REAL_SERVER, findings)
    built = make(RealServer, {"address": address, "port": port, **values}, node.pos, "real_server", findings)
    return (built,) if built else ()


def sorry_server(node: Node, findings: Findings) -> tuple[Any, int | None]:
    return address_port(node, findings, "sorry_server")


IPVS_SVC_PERSISTENT_TIMEOUT = 360  # seconds, what a bare persistence_timeout means (keepalived, ipvsadm)


def persistence_timeout(node: Node, findings: Findings) -> int:
    """``persistence_timeout [SECONDS]``: 1..2678400 (31 days, keepalived's bound); bare, 360 s."""
    if not node.args:
        findings.warning(
            node.pos, f"persistence_timeout without a value: {IPVS_SVC_PERSISTENT_TIMEOUT} s (as keepalived)"
        )
        return IPVS_SVC_PERSISTENT_TIMEOUT
    return one(integer(1, 2678400), "seconds 1..2678400")(node, findings)


VIRTUAL_SERVER = Block(
    "virtual_server",
    {
        **INHERITED,
        "smtp_alert": Key("smtp_alert", flag),
        "lb_algo": Key("lvs_sched", one(vol.In(SCHEDULERS), f"a scheduler ({', '.join(SCHEDULERS)})")),
        "lvs_sched": Key("lvs_sched", one(vol.In(SCHEDULERS), f"a scheduler ({', '.join(SCHEDULERS)})")),
        "lb_kind": Key(None, METHOD),
        "lvs_method": Key(None, METHOD),
        "protocol": Key(
            "protocol", one(vol.All(vol.Upper, vol.In(("TCP", "UDP", "SCTP"))), "TCP, UDP or SCTP")
        ),
        "persistence_timeout": Key("persistence_timeout", persistence_timeout),
        "persistence_granularity": Key("persistence_granularity", one(IP, "a netmask")),
        "virtualhost": Key("virtualhost", one(WORD, "a host name")),
        "sorry_server": Key("sorry_server", sorry_server),
        "sorry_server_inhibit": Key("sorry_server_inhibit", bare_flag),
        "sorry_server_lvs_method": Key(None, SORRY_METHOD),
        "ip_family": Key("ip_family", one(vol.In(("inet", "inet6")), "inet or inet6")),
        "inhibit_on_failure": Key("inhibit_on_failure", bare_flag),
        "quorum": count_key("quorum", 1),
        "hysteresis": count_key("hysteresis"),
        "quorum_up": Key("quorum_up", script, once=True),
        "quorum_down": Key("quorum_down", script, once=True),
        "alpha": Key("alpha", bare_flag),
        "omega": Key("omega", bare_flag),
        "ha_suspend": Key("ha_suspend", bare_flag),
        "ops": Key("ops", bare_flag),
        "real_server": Key("real_servers", real_server, block=True, repeat=True),
        **{flag: Key("scheduler_flags", scheduler_flag, repeat=True) for flag in SCHEDULER_FLAGS},
    },
    frozenset(
        {
            "persistence_engine",
            "hashed",
            "snmp_name",
        }
    ),
)


def build_virtual_server(node: Node, findings: Findings) -> VirtualServer | None:
    values = read_block(node.children, VIRTUAL_SERVER, findings)
    for child in node.children:  # keepalived reads sorry_server_inhibit only after a sorry_server
        if child.keyword == "sorry_server":
            break
        if child.keyword == "sorry_server_inhibit":
            findings.error(child.pos, "sorry_server_inhibit before or without sorry_server (as keepalived)")
            values.pop("sorry_server_inhibit", None)
    if "sorry_server_lvs_method" in values and "sorry_server" not in values:
        # keepalived: "sorry_server forwarding used without sorry_server" (and it is ignored)
        findings.warning(node.pos, "sorry_server_lvs_method without sorry_server: ignored")
        del values["sorry_server_lvs_method"], values["sorry_server_tunnel"]
    if "scheduler_flags" in values:
        values["scheduler_flags"] = scheduler_flags(node.children, values["scheduler_flags"], findings)
    args = node.args
    try:
        if len(args) == 3 and args[0] == "fwmark" and args[2] in ("inet", "inet6"):
            values["fwmark"] = check(integer(1, 2**32 - 1), args[1], "a fwmark 1..4294967295")
            if args[2] == "inet6":
                findings.warning(node.pos, "virtual_server fwmark inet6: not supported yet; served as IPv4")
        elif len(args) == 2 and args[0] == "fwmark":
            values["fwmark"] = check(integer(1, 2**32 - 1), args[1], "a fwmark 1..4294967295")
            if "protocol" in values:
                findings.warning(node.pos, "virtual_server fwmark: protocol is ignored for fwmark services")
        elif len(args) == 2 and args[0] == "group":
            values["group"] = args[1]
        elif len(args) == 2:
            values["address"], values["port"] = address_port(node, findings, "virtual_server")
        elif len(args) == 1:
            values["address"] = socket_address(node, findings, args[0], "an IP address")
        else:
            raise Invalid("expected 'IP PORT', 'fwmark N [inet|inet6]' or 'group NAME'")
    except Invalid as error:
        findings.error(node.pos, f"virtual_server: {error}")
        return None
    family = {"inet": 4, "inet6": 6}.get(values.get("ip_family"))
    if family and values.get("address") is not None and values["address"].version != family:
        # keepalived: "Virtual server specified family ... conflicts with server family"
        findings.warning(node.pos, f"ip_family {values.pop('ip_family')}: not the address's family; ignored")
    return make(VirtualServer, values, node.pos, "virtual_server", findings)


def group_entry(node: Node, findings: Findings) -> VirtualServerGroupEntry:
    """``IP[-LAST] PORT`` (LAST replaces the address's last byte/group) or ``fwmark N``."""
    if node.keyword == "fwmark":  # fwmark N [inet|inet6]; keepalived: "family X unknown" for other words
        if not 1 <= len(node.args) <= 2 or node.args[1:] not in ((), ("inet",), ("inet6",)):
            raise Invalid(
                f"fwmark: expected a mark and optionally inet or inet6, got {' '.join(node.args)!r}"
            )
        if node.args[1:] == ("inet6",):
            findings.warning(node.pos, "fwmark inet6: not supported yet; served as IPv4")
        mark = check(integer(1, 2**32 - 1), node.args[0], "a fwmark 1..4294967295")
        return VirtualServerGroupEntry(fwmark=mark, pos=node.pos)
    first_text, _, last_text = node.keyword.partition("-")
    first = check(IP, first_text, "an IP address or range IP-N")
    last = None
    if last_text:
        separator = "." if first.version == 4 else ":"
        head = first_text.rpartition(separator)[0]
        last = check(IP, f"{head}{separator}{last_text}", "a range end")
        if last < first:
            raise Invalid(f"range {node.keyword} ends before it starts")
    if len(node.args) > 1:  # keepalived reads the port and no further
        extra = " ".join(node.args[1:])[:40]
        findings.warning(node.pos, f"{node.keyword}: {extra!r} after the port is ignored (as keepalived)")
    port = check(PORT, node.args[0], "a port") if node.args else None
    return VirtualServerGroupEntry(address=first, last=last, port=port, pos=node.pos)


def build_virtual_server_group(node: Node, findings: Findings) -> VirtualServerGroup | None:
    name = block_name(node, findings, "virtual_server_group")
    items = entries(group_entry)(node, findings)
    if name is None:
        return None
    if not node.children:  # keepalived: "virtual server group NAME has no entries - removing"
        findings.error(node.pos, f"virtual_server_group {name} has no entries")
        return None
    return VirtualServerGroup(name=name, entries=items, pos=node.pos)
