"""Canonical keepalived.conf text from a ``Config``: includes and parameters expanded, old keyword
spellings replaced by the current ones, values normalized, fixed order, no comments. Two configs that
mean the same dump the same, so ``diff`` of dumps shows real changes. The dump parses back to the same
model (tests check that). With ``show_defaults`` every field is written, defaults included.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from collections.abc import Iterator
from typing import Any

from tandem.config import load_config
from tandem.config.global_blocks import GLOBAL_DEFS, TRACK_PROCESS, VRRP_SCRIPT
from tandem.config.lvs_blocks import CHECKERS, REAL_SERVER, URL, VIRTUAL_SERVER
from tandem.config.model import (
    Checker,
    CheckerSsl,
    CheckerUrl,
    Config,
    GlobalDefs,
    Notify,
    RealServer,
    Script,
    TrackedFile,
    TrackedInterface,
    TrackedProcess,
    TrackedScript,
    TrackFile,
    TrackProcess,
    VirtualAddress,
    VirtualRoute,
    VirtualRule,
    VirtualServer,
    VirtualServerGroup,
    VirtualServerGroupEntry,
    VrrpInstance,
    VrrpScript,
    VrrpSyncGroup,
)
from tandem.config.schema import bare_flag, bare_negated
from tandem.config.vrrp_blocks import VRRP_INSTANCE, VRRP_SYNC_GROUP

INDENT = "    "
# Model field -> keyword where they differ.
KEYWORDS = {
    "virtual_ipaddresses": "virtual_ipaddress",
    "virtual_ipaddresses_excluded": "virtual_ipaddress_excluded",
    "unicast_peers": "unicast_peer",
    "track_interfaces": "track_interface",
    "track_scripts": "track_script",
    "track_files": "track_file",
    "track_processes": "track_process",
    "vrrp_track_processes": "vrrp_track_process",
    "real_servers": "real_server",
    "urls": "url",
    "ssl": "SSL",
    "checkers": None,  # written by their own kind
    "vrrp_scripts": "vrrp_script",
    "vrrp_instances": "vrrp_instance",
    "vrrp_sync_groups": "vrrp_sync_group",
    "static_ipaddresses": "static_ipaddress",
    "virtual_server_groups": "virtual_server_group",
    "virtual_servers": "virtual_server",
}
# Fields written together with another one (by ``_special``), and tuples written on one line.
COMBINED = {
    "params",
    "full_command",
    "smtp_port",
    "script_group",
    "vmac_name",
    "auth_pass",
    "weight_reverse",
    "init_file_overwrite",
    "garp_extra_if_all",
    "vrrp_garp_extra_if_all",
    "tunnel",
    "sorry_server_tunnel",
}
INLINE_TUPLES = {"status_code", "sorry_server", "lvs_timeouts", "vrrp_cpu_affinity", "checker_cpu_affinity"}
BLOCK_TYPES = (
    GlobalDefs,
    VrrpScript,
    TrackFile,
    TrackProcess,
    VrrpInstance,
    VrrpSyncGroup,
    VirtualServerGroup,
    VirtualServer,
    RealServer,
    Checker,
    CheckerUrl,
    CheckerSsl,
)
_NEEDS_QUOTES = re.compile(r"""[\s"'{}!#\\]|^$|^[@~$]""")  # [@~$] would start a directive


def quote(word: str) -> str:
    if not _NEEDS_QUOTES.search(word):
        return word
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'


def value_text(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:.6f}".rstrip("0").rstrip(".")
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, Script):
        return " ".join(quote(w) for w in (value.command, value.user, value.group) if w is not None)
    if isinstance(value, tuple):
        return " ".join(value_text(v) for v in value if v is not None)
    return quote(str(value))


def _entry(item: Any) -> str:
    """One line of a list block (virtual_ipaddress, track_script, ...)."""
    if isinstance(item, VirtualAddress):
        parts = [str(item.address)]
        for name in ("dev", "brd", "scope", "label", "peer"):
            if getattr(item, name) is not None:
                parts += [name, value_text(getattr(item, name))]
        return " ".join(parts + (["no_track"] if item.no_track else []))
    if isinstance(item, VirtualRoute):
        parts = [] if item.type == "unicast" else [item.type]
        parts += ["src", str(item.src)] if item.src else []
        parts.append(str(item.destination))
        for name, word in (
            ("via", "via"),
            ("or_via", "or"),
            ("dev", "dev"),
            ("scope", "scope"),
            ("table", "table"),
            ("metric", "metric"),
        ):
            if getattr(item, name) is not None:
                parts += [word, value_text(getattr(item, name))]
        options = [f"{k} {quote(v)}" if v else k for k, v in item.options]
        return " ".join(parts + options + (["no_track"] if item.no_track else []))
    if isinstance(item, VirtualRule):
        parts = []
        for name, word in (
            ("from_", "from"),
            ("to", "to"),
            ("table", "table"),
            ("priority", "priority"),
            ("fwmark", "fwmark"),
            ("iif", "iif"),
            ("oif", "oif"),
        ):
            if getattr(item, name) is not None:
                parts += [word, value_text(getattr(item, name))]
        return " ".join(
            parts + ([item.action] if item.action else []) + (["no_track"] if item.no_track else [])
        )
    if isinstance(item, TrackedInterface | TrackedScript | TrackedFile | TrackedProcess):
        weight = f" weight {item.weight}" if item.weight is not None else ""
        return quote(item.name) + weight + (" reverse" if item.weight_reverse else "")
    if isinstance(item, VirtualServerGroupEntry):
        if item.fwmark is not None:
            return f"fwmark {item.fwmark}"
        last = str(item.last).rsplit("." if item.last and item.last.version == 4 else ":", 1)[-1]
        address = f"{item.address}-{last}" if item.last else str(item.address)
        return address + (f" {item.port}" if item.port is not None else "")
    return value_text(item)


def _header(obj: Any, keyword: str) -> tuple[str, frozenset[str]]:
    """The block's opening line and the fields it already shows."""
    if isinstance(obj, Checker):  # only the fields its block has (FILE_CHECK has no connect_*)
        known = {key.field for key in CHECKERS[obj.kind][1].keys.values()} | {"weight_reverse"}
        return obj.kind, frozenset(f.name for f in dataclasses.fields(obj) if f.name not in known)
    if isinstance(obj, VirtualServer):
        if obj.fwmark is not None:
            return f"{keyword} fwmark {obj.fwmark}", _SERVER_FIELDS
        if obj.group is not None:
            return f"{keyword} group {quote(obj.group)}", _SERVER_FIELDS
        port = f" {obj.port}" if obj.port is not None else ""
        return f"{keyword} {obj.address}{port}", _SERVER_FIELDS
    if isinstance(obj, RealServer):
        port = f" {obj.port}" if obj.port is not None else ""
        return f"{keyword} {obj.address}{port}", _SERVER_FIELDS
    if hasattr(obj, "name"):
        return f"{keyword} {quote(obj.name)}", frozenset({"name"})
    return keyword, frozenset()


_SERVER_FIELDS = frozenset({"address", "port", "fwmark", "group"})
_BLOCKS = {
    GlobalDefs: GLOBAL_DEFS,
    VrrpScript: VRRP_SCRIPT,
    TrackProcess: TRACK_PROCESS,
    VrrpInstance: VRRP_INSTANCE,
    VrrpSyncGroup: VRRP_SYNC_GROUP,
    VirtualServer: VIRTUAL_SERVER,
    RealServer: REAL_SERVER,
    CheckerUrl: URL,
}


def _special(obj: Any, field: str, value: Any) -> list[str] | None:
    """Lines of fields that are not plain ``keyword value``; None for plain fields."""
    if field in ("vrrp_garp_interval", "vrrp_gna_interval", "garp_interval", "gna_interval") and not value:
        return []  # 0 is "not set" in the model and not writable (keepalived's minimum is 0.000001)
    if field == "smtp_server":
        return [f"smtp_server {quote(value)} {obj.smtp_port}"] if value else []
    if field == "script_user":
        return [f"script_user {value_text((value, obj.script_group))}"] if value else []
    if field == "dynamic_interfaces":  # keepalived takes no off value
        return ["dynamic_interfaces"] if value else []
    if field == "vrrp_garp_extra_if" and not value:
        return []  # 0 is "off" in the model; keepalived's global minimum is 1
    if field in ("garp_extra_if", "vrrp_garp_extra_if"):
        every = "all " if getattr(obj, f"{field}_all") else ""
        return [f"{field} {every}{value_text(value)}"]
    if field == "old_unicast_checksum":
        return [f"old_unicast_checksum{' never' if value == 'never' else ''}"] if value else []
    if field == "use_vmac":
        if not value:
            return []
        return [f"use_vmac {quote(obj.vmac_name)}" if obj.vmac_name else "use_vmac"]
    if field == "auth_type":
        auth = [f"{INDENT}auth_type {value}", f"{INDENT}auth_pass {quote(obj.auth_pass or '')}"]
        return ["authentication {", *auth, "}"] if value else []
    if field == "weight" and hasattr(obj, "weight_reverse"):
        return [f"weight {value}" + (" reverse" if obj.weight_reverse else "")] if value is not None else []
    if isinstance(obj, TrackProcess) and field == "process":
        full = ["full_command"] if obj.full_command and not obj.params and not obj.param_match else []
        return [f"process {value_text((value, *obj.params))}", *full]
    if isinstance(obj, TrackProcess) and field == "quorum" and obj.quorum_max == 0:
        return []  # implied by quorum_max 0 (and not writable: quorum is at least 1)
    if isinstance(obj, TrackProcess) and field == "param_match":
        return ["param_match" + ("" if value == "exact" else f" {value}")]
    if field == "init_file":
        overwrite = " overwrite" if obj.init_file_overwrite else ""
        return [f"init_file {value}{overwrite}"] if value is not None else []
    if field == "entries":
        return [_entry(entry) for entry in value]
    if field == "scheduler_flags":
        return list(value)  # after lvs_sched (keepalived reads them by the scheduler above them)
    if field in ("lvs_method", "sorry_server_lvs_method") and value == "TUN":
        tunnel = obj.tunnel if field == "lvs_method" else obj.sorry_server_tunnel
        if tunnel is not None:
            port = ["port", str(tunnel.port)] if tunnel.port else []
            return [" ".join([field, value, "type", tunnel.type, *port, tunnel.checksum])]
    if isinstance(value, Notify):
        return [
            f"{'notify' if f.name == 'any' else 'notify_' + f.name} {value_text(getattr(value, f.name))}"
            for f in dataclasses.fields(value)
            if getattr(value, f.name) is not None
        ]
    return None


def block_lines(obj: Any, keyword: str, show_defaults: bool) -> Iterator[str]:
    header, shown = _header(obj, keyword)
    yield f"{header} {{"
    for line in body_lines(obj, show_defaults, shown):
        yield INDENT + line
    yield "}"


# written even at their default: what a reader of a deployed config looks for first
ALWAYS_SHOWN = frozenset({(VrrpInstance, "priority")})


def body_lines(obj: Any, show_defaults: bool, shown: frozenset[str] = frozenset()) -> Iterator[str]:
    for field in dataclasses.fields(obj):
        name = field.name
        if name in shown or name in COMBINED or name == "pos":
            continue
        value = getattr(obj, name)
        default = value == field.default and (obj.__class__, name) not in ALWAYS_SHOWN
        if value is None or value == () or (not show_defaults and default):
            continue
        special = _special(obj, name, value)
        if special is not None:
            yield from special
            continue
        keyword = KEYWORDS.get(name, name)
        if isinstance(value, tuple) and value and isinstance(value[0], BLOCK_TYPES):
            for item in value:
                yield from block_lines(item, keyword or item.kind, show_defaults)
        elif isinstance(value, tuple) and name not in INLINE_TUPLES:
            yield f"{keyword} {{"
            yield from (INDENT + _entry(item) for item in value)
            yield "}"
        elif dataclasses.is_dataclass(value) and not isinstance(value, Script):
            yield from block_lines(value, keyword, show_defaults)
        elif value is False and (negation := _false_as(obj, name)) is not None:
            yield from (negation,) if negation else ()
        elif value is True:
            yield keyword
        else:
            yield f"{keyword} {value_text(value)}"


def _false_as(obj: Any, field: str) -> str | None:
    """How a False flag that keepalived reads without a value is written: its negating keyword
    (``no_accept``), nothing (``alpha off`` would read as on), or None: ``keyword off`` as usual."""
    block = CHECKERS[obj.kind][1] if isinstance(obj, Checker) else _BLOCKS.get(type(obj))
    keys = [(word, key) for word, key in (block.keys.items() if block else ()) if key.field == field]
    negating = [word for word, key in keys if key.convert is bare_negated]
    if negating:
        return negating[0]
    return "" if any(key.convert is bare_flag for _word, key in keys) else None


# Keywords whose value is a secret (VRRP PASS, the SSL block's key password); a leading diff mark is
# allowed (the collection masks --diff output with it).
SECRET_LINE = re.compile(r"^([+\- ]?\s*(?:auth_pass|password)\s+)\S.*$", re.MULTILINE)


def mask_secret_lines(text: str, mask: str) -> str:
    """``text`` (config lines) with each secret keyword's value replaced by ``mask``."""
    return SECRET_LINE.sub(lambda m: m.group(1) + mask, text)


def dump_config(config: Config, show_defaults: bool = False) -> str:
    return "\n".join(body_lines(config, show_defaults)) + "\n"


def run_dump(path: str, show_defaults: bool = False) -> int:
    result = load_config(path)
    if result.config is None:
        for finding in result.findings:
            print(finding, file=sys.stderr)
        return 1
    sys.stdout.write(dump_config(result.config, show_defaults))
    return 0
