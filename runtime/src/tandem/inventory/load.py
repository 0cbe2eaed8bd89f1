"""Apply the schemas to raw inventory data, turning voluptuous errors into findings that name the place."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from typing import Any

from voluptuous import Invalid, MultipleInvalid, Schema

from .findings import Finding, error, field_path
from .schema import ACTIVE_ACTIVE_SET, FIELD_NAMES, HOST_VARS, VRRP_GROUP

_PLAIN_MESSAGES = {
    "required key not provided": "required field is missing",
    "expected a dictionary": "expected a mapping of fields",
    "expected list": "expected a list",
    "expected str": "expected a string",
    "expected int": "expected an integer",
    "expected bool": "expected true or false",
}
_KINDS = {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", int: "an integer"}


def kind(value: Any) -> str:
    """What a YAML value is, in the words of the inventory (not Python's type names)."""
    if value is None:
        return "nothing (null)"
    for python_type, words in _KINDS.items():
        if isinstance(value, python_type):
            return words
    return "a number" if isinstance(value, float) else f"a {type(value).__name__}"


def _at(raw: Any, path: list) -> Any:
    for part in path:
        try:
            raw = raw[part]
        except (KeyError, IndexError, TypeError):
            return None
    return raw


def _message(err: Invalid, raw: Any) -> str:
    if err.msg == "extra keys not allowed":
        unknown = str(err.path[-1]) if err.path else ""
        # a long name is never alike a field's, and difflib indexes every character of it (memory)
        close = (
            difflib.get_close_matches(unknown, FIELD_NAMES, n=1, cutoff=0.7) if len(unknown) <= 100 else []
        )
        hint = f"; did you mean '{close[0]}'?" if close else " (see docs/inventory.md for the fields)"
        return f"unknown field{hint}"
    message = _PLAIN_MESSAGES.get(err.msg, err.msg)
    if re.fullmatch(r"expected (a list|a string|an integer|true or false|a mapping of fields)", message):
        message += f", got {kind(_at(raw, err.path))}"
    return message


def _findings(
    exc: Invalid, group: str | None, host: str | None, prefix: tuple, members: list, raw: Any = None
) -> list[Finding]:
    found = []
    for err in exc.errors if isinstance(exc, MultipleInvalid) else [exc]:
        path = (*prefix, *err.path)
        # An error inside members[i] or hosts[i] is about that host.
        where = host
        if len(err.path) >= 2 and err.path[0] in ("members", "hosts") and isinstance(err.path[1], int):
            entry = members[err.path[1]] if err.path[1] < len(members) else None
            where = (
                entry if isinstance(entry, str) else entry.get("host") if isinstance(entry, dict) else None
            )
        found.append(error(group, where, field_path(*path) or "(top)", _message(err, raw)))
    return found


def definitions(raw: Any, schema: Schema, var_name: str, hosts_key: str) -> tuple[list[dict], list[Finding]]:
    if raw is None:
        return [], []
    if not isinstance(raw, list):
        return [], [error(None, None, var_name, f"expected a list of definitions, got {kind(raw)}")]
    valid, findings = [], []
    for index, definition in enumerate(raw):
        name = definition.get("name") if isinstance(definition, Mapping) else None
        group = name if isinstance(name, str) else f"{var_name}[{index}]"
        members = definition.get(hosts_key) if isinstance(definition, Mapping) else None
        try:
            valid.append(schema(dict(definition) if isinstance(definition, Mapping) else definition))
        except Invalid as exc:
            findings += _findings(
                exc, group, None, (), members if isinstance(members, list) else [], definition
            )
    return valid, findings


def vrrp_groups(raw: Any) -> tuple[list[dict], list[Finding]]:
    return definitions(raw, VRRP_GROUP, "tandem_vrrp_groups", "members")


def active_active_sets(raw: Any) -> tuple[list[dict], list[Finding]]:
    return definitions(raw, ACTIVE_ACTIVE_SET, "tandem_active_active", "hosts")


class HostVars:
    """Each host's tandem_* vars, validated once on first use; hosts missing from the inventory are None."""

    def __init__(self, inventory: Mapping[str, Mapping[str, Any]]):
        self._inventory = inventory
        self._cache: dict[str, dict | None] = {}
        self.findings: list[Finding] = []

    def get(self, host: str) -> dict | None:
        if host not in self._cache:
            self._cache[host] = self._load(host) if host in self._inventory else None
        return self._cache[host]

    def loaded(self) -> list[str]:
        """The inventory hosts read so far (the members of some definition)."""
        return [host for host, values in self._cache.items() if values is not None]

    def _load(self, host: str) -> dict:
        raw, parsed = self._inventory[host], {}
        for name, validator in HOST_VARS.items():
            value = raw.get(name)
            if value is None:
                continue
            try:
                parsed[name] = validator(value)
            except Invalid as exc:
                self.findings += _findings(exc, None, host, (name,), [], value)
        return parsed
