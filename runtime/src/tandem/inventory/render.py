"""A host's part of the plan as tandemd.conf, written by the runtime's one config writer.

The plan is turned into the runtime's own syntax tree (``tandem.config.parser.Node``: keyword, words,
children), read by the runtime's keyword tables and checks (``build_config``, ``check_config``: the rules
``tandemd -t`` applies, not a copy), and written by ``tandem.config.dump.dump_config``. So a keyword is
written in one place, and whatever the runtime would refuse is found here, on the controller, naming the
group and field it came from: every statement carries a position whose file is that place.

The rendered text is checked once more as ``tandemd -t`` reads it (``load_config_text``); that second
check finds nothing unless the writer and the reader disagree (the property tests hold them to it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from tandem.config import load_config_text
from tandem.config.build import build_config
from tandem.config.checks import check_config
from tandem.config.dump import dump_config
from tandem.config.findings import Finding as ConfigFinding
from tandem.config.findings import Findings
from tandem.config.global_blocks import GLOBAL_DEFS
from tandem.config.lvs_blocks import CHECKERS, REAL_SERVER, VIRTUAL_SERVER
from tandem.config.model import Position
from tandem.config.parser import Node
from tandem.config.schema import Block, bare_flag

from .findings import Finding, Severity
from .schema import FIELD_NAMES, GARP_KEYWORDS
from .schema import config_word as _word
from .scripts import script_words

HEADER = "# tandemd.conf rendered by the tandem.ha collection from the plan of tandem.ha.vrrp_plan\n"
RENDERED = "tandemd.conf"
_SEP = "\x1f"  # between group and field in a statement's position
NOTIFY_KEYWORDS = {
    "master": "notify_master",
    "backup": "notify_backup",
    "fault": "notify_fault",
    "stop": "notify_stop",
    "deleted": "notify_deleted",
    "any": "notify",
}


def _at(group: str | None, field: str) -> Position:
    return Position(file=f"{group or ''}{_SEP}{field}", line=0)


def _node(keyword: str, pos: Position, *args: Any, children: list[Node] | None = None) -> Node:
    return Node(keyword, tuple(_word(a) for a in args), pos, children)


def statements(
    values: Mapping[str, Any], group: str | None, field: str, block: Block | None = None
) -> list[Node]:
    """Keepalived keywords as a mapping (``{delay_loop: 6, url: [{path: /}]}``) to statements: a scalar is
    ``keyword value``, true a bare keyword, false ``keyword off``, a list of scalars the words after the
    keyword, a mapping a ``{ }`` block and a list of mappings one block each. Unset (None) is left out.
    In ``block`` (the runtime's keyword table of the enclosing block) a keyword that takes a ``{ }`` block
    gets a list of scalars as its lines (``notification_email { a b }``)."""
    out = []
    for key, value in values.items():
        here = f"{field}.{key}" if field else key
        at = _at(group, here)
        key_table = block.keys.get(key) if block else None
        if value is None or (value is False and key_table and key_table.convert is bare_flag):
            continue  # keepalived reads no value after such a keyword: off is its absence
        scalars = isinstance(value, list | tuple) and not any(isinstance(v, Mapping) for v in value)
        if key_table and key_table.block and scalars:
            out.append(_node(key, at, children=[_node(_word(v), at) for v in value]))
            continue
        if value is True:
            out.append(_node(key, at))
        elif isinstance(value, Mapping):
            out.append(_node(key, at, children=statements(value, group, here)))
        elif isinstance(value, list | tuple) and value and all(isinstance(v, Mapping) for v in value):
            for index, item in enumerate(value):
                out.append(_node(key, at, children=statements(item, group, f"{here}[{index}]")))
        elif isinstance(value, list | tuple):
            out.append(_node(key, at, *value))
        else:
            out.append(_node(key, at, value))
    return out


def _entries(keyword: str, items: Iterable[Any], group: str, field: str, entry) -> list[Node]:
    children = [entry(item, _at(group, f"{field}[{index}]")) for index, item in enumerate(items)]
    return [_node(keyword, _at(group, field), children=children)] if children else []


def _address(item: Any, pos: Position) -> Node:
    """``ADDRESS/PREFIX [dev D] [label L] [scope S] [brd B] [no_track]`` from a string or a mapping."""
    if not isinstance(item, Mapping):
        return _node(str(item), pos)
    words = []
    for option in ("dev", "label", "scope", "brd", "peer"):
        if item.get(option) is not None:
            words += [option, item[option]]
    if item.get("no_track"):
        words.append("no_track")
    return _node(str(item["address"]), pos, *words)


def _line(item: Any, pos: Position) -> Node:
    """A virtual_routes / virtual_rules entry in ``ip route`` / ``ip rule`` words."""
    words = str(item).split()
    return _node(words[0] if words else "", pos, *words[1:])


def _tracked(item: Any, pos: Position) -> Node:
    if not isinstance(item, Mapping):
        return _node(str(item), pos)
    weight = () if item.get("weight") is None else ("weight", int(item["weight"]))
    return _node(str(item["name"]), pos, *weight, *(("reverse",) if item.get("reverse") else ()))


def _tracking(inst: Mapping[str, Any], group: str) -> list[Node]:
    """track_* lists and notify scripts, shared by instances and sync groups."""
    out = []
    for key, keyword in (
        ("track_interfaces", "track_interface"),
        ("track_scripts", "track_script"),
        ("track_files", "track_file"),
        ("track_processes", "track_process"),
    ):
        out += _entries(keyword, inst.get(key) or (), group, key, _tracked)
    for event, command in sorted((inst.get("notify") or {}).items()):
        if command:
            keyword = NOTIFY_KEYWORDS.get(event, f"notify_{event}")
            out.append(_node(keyword, _at(group, f"notify.{event}"), *script_words(command)))
    if inst.get("smtp_alert") is not None:
        out.append(_node("smtp_alert", _at(group, "smtp_alert"), bool(inst["smtp_alert"])))
    return out


def _instance(inst: Mapping[str, Any]) -> Node:
    group = str(inst.get("source") or inst.get("name"))

    def at(field: str) -> Position:
        return _at(group, field)

    preempt = inst.get("preempt", True)
    # keepalived's nopreempt works only from state BACKUP: the planned master starts as a backup too
    # and wins the first election by its priority.
    state = "BACKUP" if not preempt else str(inst.get("state") or "BACKUP").upper()
    body = [
        _node("state", at("state"), state),
        _node("interface", at("interface"), inst.get("interface")),
        _node("virtual_router_id", at("vrid"), inst.get("vrid")),
        _node("priority", at("priority"), inst.get("priority", 100)),
        _node("advert_int", at("advert_int"), inst.get("advert_int", 1)),
    ]
    if inst.get("version") is not None:
        body.append(_node("version", at("version"), inst["version"]))
    if not preempt:
        body.append(_node("nopreempt", at("preempt")))
    if inst.get("preempt_delay"):
        body.append(_node("preempt_delay", at("preempt_delay"), inst["preempt_delay"]))
    if inst.get("accept") is not None:
        body.append(_node("accept" if inst["accept"] else "no_accept", at("accept")))
    if inst.get("unicast_src"):
        body.append(_node("unicast_src_ip", at("unicast_src"), inst["unicast_src"]))
    body += _entries("unicast_peer", inst.get("unicast_peers") or (), group, "unicast_peers", _tracked)
    if inst.get("unicast_ttl") is not None:
        body.append(_node("unicast_ttl", at("unicast_ttl"), inst["unicast_ttl"]))
    vmac = inst.get("use_vmac")
    if vmac:
        body.append(_node("use_vmac", at("use_vmac"), *(() if vmac is True else (vmac,))))
    if inst.get("vmac_xmit_base"):
        body.append(_node("vmac_xmit_base", at("vmac_xmit_base")))
    auth = inst.get("auth")
    if auth:  # with version 3 the runtime says it is ignored
        body.append(
            _node(
                "authentication",
                at("auth"),
                children=[
                    _node("auth_type", at("auth.type"), auth.get("type", "PASS")),
                    _node("auth_pass", at("auth.password"), auth.get("password")),
                ],
            )
        )
    vips = list(inst.get("vips") or ())
    for index, options in enumerate(inst.get("vip_options") or ()):
        if options and index < len(vips):
            vips[index] = {"address": vips[index], **options}
    body += _entries("virtual_ipaddress", vips, group, "vips", _address)
    body += _entries(
        "virtual_ipaddress_excluded", inst.get("excluded_vips") or (), group, "excluded_vips", _address
    )
    body += _entries("virtual_routes", inst.get("virtual_routes") or (), group, "virtual_routes", _line)
    body += _entries("virtual_rules", inst.get("virtual_rules") or (), group, "virtual_rules", _line)
    body += _tracking(inst, group)
    for key, value in (inst.get("garp") or {}).items():
        body += statements({GARP_KEYWORDS.get(key, key): value}, group, f"garp.{key}")
    return _node("vrrp_instance", at("name"), inst.get("name"), children=body)


def _script(script: Mapping[str, Any]) -> Node:
    group = script.get("source")
    field = f"track_scripts.{script['name']}"
    body = [_node("script", _at(group, f"{field}.script"), script["script"])]
    for key in ("interval", "timeout", "fall", "rise", "weight"):
        if script.get(key) is not None:
            body.append(_node(key, _at(group, f"{field}.{key}"), script[key]))
    if script.get("user"):
        body.append(_node("user", _at(group, f"{field}.user"), script["user"]))
    return _node("vrrp_script", _at(group, field), script["name"], children=body)


def _named(keyword: str, kind: str, item: Mapping[str, Any]) -> Node:
    group, name = item.get("source"), item["name"]
    fields = {k: v for k, v in item.items() if k not in ("name", "source")}
    return _node(
        keyword, _at(group, f"{kind}.{name}"), name, children=statements(fields, group, f"{kind}.{name}")
    )


def _sync_group(sync: Mapping[str, Any]) -> Node:
    group = str(sync["name"])
    members = [_node(str(name), _at(group, "sync_group")) for name in sync.get("group", ())]
    body = [_node("group", _at(group, "sync_group"), children=members), *_tracking(sync, group)]
    return _node("vrrp_sync_group", _at(group, "sync_group"), sync["name"], children=body)


def _virtual_server(server: Mapping[str, Any]) -> Node:
    """``virtual_server ADDRESS PORT | fwmark N | group NAME`` with its keywords, real servers and
    checkers (``type`` names the checker block)."""
    group = server.get("source")
    if server.get("fwmark") is not None:
        head = ("fwmark", server["fwmark"])
    elif server.get("group") is not None:
        head = ("group", server["group"])
    else:
        head = tuple(v for v in (server.get("address"), server.get("port")) if v is not None)
    skip = {"name", "source", "hosts", "vrrp_group", "address", "port", "fwmark", "group", "real_servers"}
    body = statements({k: v for k, v in server.items() if k not in skip}, group, "", VIRTUAL_SERVER)
    for index, real in enumerate(server.get("real_servers") or ()):
        place = f"real_servers[{index}]"
        plain = {k: v for k, v in real.items() if k not in ("address", "port", "checkers")}
        children = statements(plain, group, place, REAL_SERVER)
        for number, checker in enumerate(real.get("checkers") or ()):
            for kind, options in checker.items():  # one {KIND: keywords} each
                where = f"{place}.checkers[{number}].{kind}"
                children.append(
                    _node(
                        str(kind),
                        _at(group, where),
                        children=statements(options or {}, group, where, _table(kind)),
                    )
                )
        address = (real.get("address"), real.get("port"))
        body.append(
            _node("real_server", _at(group, place), *(v for v in address if v is not None), children=children)
        )
    return _node("virtual_server", _at(group, "name"), *head, children=body)


def _table(kind: str) -> Block | None:
    return CHECKERS[kind][1] if kind in CHECKERS else None


def host_tree(host_plan: Mapping[str, Any], global_defs: Mapping[str, Any] | None = None) -> list[Node]:
    """The syntax tree of one host's tandemd.conf: its plan part plus role-level global_defs keywords."""
    defs = {**(host_plan.get("global_defs") or {}), **(global_defs or {})}
    body = statements(defs, None, "global_defs", GLOBAL_DEFS)
    tree = [_node("global_defs", _at(None, "global_defs"), children=body)]
    tree += [_script(s) for s in host_plan.get("scripts") or ()]
    tree += [_named("track_file", "track_files", t) for t in host_plan.get("track_files") or ()]
    tree += [
        _named("vrrp_track_process", "track_processes", t) for t in host_plan.get("track_processes") or ()
    ]
    tree += [_instance(i) for i in host_plan.get("instances") or ()]
    tree += [_sync_group(s) for s in host_plan.get("sync_groups") or ()]
    tree += [_virtual_server(v) for v in host_plan.get("virtual_servers") or ()]
    # A block's own position gets a line of its own: a finding about the whole block (the runtime's
    # checks of an instance say "vrrp_instance X: advert_int ...") is told from one about its name.
    for number, node in enumerate(tree, 1):
        node.pos = replace(node.pos, line=number)
    return tree


def _whole_block_field(node: Node, message: str) -> str:
    """The field a finding about a whole block is about: of the block's statements whose keyword the
    message names, the first named (``vrrp_instance web: advert_int 0.5 must be ...`` -> the field that
    wrote advert_int), among those written from an inventory field (not ``state``, which the plan
    derives); the block's own field when the message names none."""
    text = message.split(": ", 1)[-1] if message.startswith(f"{node.keyword} ") else message
    named = []
    for child in node.children or ():
        field = child.pos.file.split(_SEP, 1)[-1]
        if re.split(r"[.\[]", field, maxsplit=1)[0] not in FIELD_NAMES or field == "name":
            continue
        found = re.search(rf"(?<![\w-]){re.escape(child.keyword)}(?![\w-])", text)
        if found:
            named.append((found.start(), field))
    return min(named)[1] if named else node.pos.file.split(_SEP, 1)[-1]


@dataclass(frozen=True)
class Rendered:
    text: str | None  # None when the config has errors
    findings: list[Finding]

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.ERROR]


def _finding(found: ConfigFinding, host: str | None, blocks: Mapping[tuple, Node]) -> Finding:
    severity = Severity.ERROR if found.severity == "error" else Severity.WARNING
    if _SEP in found.file:
        group, field = found.file.split(_SEP, 1)
        block = blocks.get((found.file, found.line)) if found.line else None
        if block is not None:
            field = _whole_block_field(block, found.message)
        return Finding(severity, group or None, host, field, found.message)
    # The check of the written text: a disagreement between writer and reader, reported as it reads.
    return Finding(severity, None, host, f"{RENDERED} line {found.line}", found.message)


def render_host(
    host_plan: Mapping[str, Any], host: str | None = None, global_defs: Mapping[str, Any] | None = None
) -> Rendered:
    """``host``'s tandemd.conf and what the runtime's checks say about it (naming group and field)."""
    findings = Findings()
    tree = host_tree(host_plan, global_defs)
    blocks = {(node.pos.file, node.pos.line): node for node in tree}
    config = build_config(tree, findings)
    check_config(config, findings, host_checks=False)  # the controller is not the host
    found = [_finding(f, host, blocks) for f in findings.items]
    if findings.has_errors:
        return Rendered(None, found)
    text = HEADER + dump_config(config)
    reread = load_config_text(text, RENDERED)
    # (host-state errors cannot occur: tandemd -t on the host says those, the role's validate step)
    found += [_finding(f, host, {}) for f in reread.findings if f.severity == "error"]
    return Rendered(None if reread.errors else text, found)
