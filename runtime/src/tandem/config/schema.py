"""Keyword tables: how each statement of a block becomes a typed value (voluptuous validators).

A block is described by a ``Block``: its keywords (``Key``: model field, converter, whether it takes
a ``{ }`` block, whether repeats accumulate) and the keepalived keywords it accepts but Tandem does
not implement yet. ``read_block`` applies a table to a node's children and reports, at the
statement's line: unknown keywords (with "did you mean"), "not supported yet" keywords, bad values,
misplaced ``{ }``, and repeated keywords. An unknown keyword never disturbs the rest of its block.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from ipaddress import IPv4Address, ip_address, ip_interface, ip_network
from typing import Any, NamedTuple

import voluptuous as vol

from tandem.config.findings import Findings
from tandem.config.model import Position, Script
from tandem.config.parser import Node


class Invalid(Exception):
    """A statement's value is wrong; the message says what was expected."""


Convert = Callable[[Node, Findings], Any]  # findings: for warnings about parts of a statement

_BOOLEANS = {"on": True, "true": True, "yes": True, "off": False, "false": False, "no": False}
# keepalived's read_decimal_unsigned: an optional +, "5." and ".5" (even "."), at most 6 decimal places;
_DECIMAL = re.compile(r"\+?([0-9]*)(?:\.([0-9]{0,6}))?")  # even "+" alone (0) is taken
_UNSIGNED = re.compile(r"\+?[0-9]+")  # keepalived's read_unsigned (strtoul base 10, no 0x, no blanks)
_INTEGER = re.compile(r"[+-]?[0-9]+")


# Validators are wrapped in vol.Schema once: a bare vol.All compiles its parts again on every call.
Validator = vol.Schema
BOOL = Validator(vol.All(vol.In(_BOOLEANS), _BOOLEANS.__getitem__))  # lower case only, as keepalived
IP = Validator(vol.Coerce(ip_address))
IPV4 = Validator(vol.Coerce(IPv4Address))
IP_INTERFACE = Validator(vol.Coerce(ip_interface))
PORT = Validator(vol.All(vol.Coerce(int), vol.Range(min=0, max=65535)))
WORD = Validator(vol.All(str, vol.Length(min=1)))


def _integer(text: str) -> int:
    if not isinstance(text, str) or not _INTEGER.fullmatch(text):
        raise ValueError(text)
    return int(text)


def _decimal(text: str) -> float:
    match = _DECIMAL.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(text)
    whole, fraction = match.groups()
    return float(f"{whole or 0}.{fraction or 0}")


def _whole(text: str) -> float:
    if not isinstance(text, str) or not _UNSIGNED.fullmatch(text):
        raise ValueError(text)
    return float(int(text))


class Limits(NamedTuple):
    """The range of a numeric reader, kept on its validator (``limits_of``) and on the converters made
    from it, so that other readers of the same value (the inventory schema) use these bounds, not copies."""

    low: float
    high: float
    places: int  # decimal places keepalived reads: 0 for whole numbers, 6 for a <TIMER>
    seconds: bool  # a time (the inventory takes it as a number), else a count


def _limited(validator: Validator, limits: Limits) -> Validator:
    validator.limits = limits
    return validator


def limits_of(reader: Any) -> Limits | None:
    """The ``Limits`` of a validator or converter made by ``integer``/``seconds``/``whole_seconds`` (and
    ``one`` or the ``*_key`` helpers of one of them); None for other readers."""
    return getattr(reader, "limits", None)


def integer(low: int, high: int) -> Validator:
    """An integer as keepalived reads it (decimal digits and a sign; no blanks, 0x or 1_000)."""
    return _limited(Validator(vol.All(_integer, vol.Range(min=low, max=high))), Limits(low, high, 0, False))


UINT_MAX = 2**32 - 1
KEEPALIVED_TIMER_MAX = 18446744073709.551614  # (ULONG_MAX - 1) microseconds, keepalived's read_timer bound


def seconds(low: float = 0, high: float = KEEPALIVED_TIMER_MAX) -> Validator:
    """A keepalived <TIMER>: decimal seconds as its read_decimal_unsigned reads them (an optional +,
    "5." and ".5", at most 6 decimal places; no exponent, nan or inf) within [low, high]."""
    return _limited(Validator(vol.All(_decimal, vol.Range(min=low, max=high))), Limits(low, high, 6, True))


def whole_seconds(low: int, high: int) -> Validator:
    """Seconds that keepalived reads as an unsigned integer (``garp_master_delay``, vrrp_script
    ``interval``...): "1.5" and even "2.0" are errors there."""
    return _limited(Validator(vol.All(_whole, vol.Range(min=low, max=high))), Limits(low, high, 0, True))


def network(text: str) -> Any:
    return ip_network(text, strict=False)


NETWORK = Validator(vol.Coerce(network))


def socket_address(node: Node, findings: Findings, text: str, what: str) -> Any:
    """An address as keepalived's inet_stosockaddr reads it: anything from a ``/`` on is ignored (a
    prefix length there is not a prefix); that is warned about at the statement."""
    address, slash, rest = text.partition("/")
    value = check(IP, address, what)
    if slash:
        findings.warning(
            node.pos, f"{node.keyword}: '/{rest[:20]}' after {address} is ignored (as keepalived)"
        )
    return value


def check(validator: Any, text: str, what: str) -> Any:
    """Run a voluptuous validator on one word; raise ``Invalid`` naming what was expected."""
    try:
        return validator(text)
    except (vol.Invalid, ValueError, TypeError):
        raise Invalid(f"expected {what}, got {text!r}") from None


def one(validator: Any, what: str) -> Convert:
    """A statement with exactly one argument (the converter keeps the validator's ``Limits``)."""

    limits, validator = limits_of(validator), Validator(validator)

    def convert(node: Node, findings: Findings) -> Any:
        if not node.args:
            raise Invalid(f"expected {what}")
        value = check(validator, node.args[0], what)
        if len(node.args) > 1:  # keepalived's handlers read the first value and ignore the rest
            extra = " ".join(node.args[1:])[:40]
            findings.warning(
                node.pos, f"{node.keyword}: {extra!r} after the value is ignored (as keepalived)"
            )
        return value

    convert.limits = limits
    return convert


def one_address(what: str = "an IP address") -> Convert:
    """A statement with one address (``unicast_src_ip``, ``connect_ip``...), read by ``socket_address``."""
    read = one(WORD, what)

    def convert(node: Node, findings: Findings) -> Any:
        return socket_address(node, findings, read(node, findings), what)

    return convert


def flag(node: Node, findings: Findings | None = None) -> bool:
    """``keyword`` alone means on; an optional BOOL may follow (words after it are ignored, as
    keepalived's handlers read one)."""
    if not node.args:
        return True
    if len(node.args) > 1 and findings is not None:
        extra = " ".join(node.args[1:])[:40]
        findings.warning(node.pos, f"{node.keyword}: {extra!r} after the value is ignored (as keepalived)")
    return check(BOOL, node.args[0], "on|off|true|false|yes|no")


def garp_extra_if(field: str, low: int = 0) -> Any:
    """``keyword [all] SECONDS`` (whole seconds ``low``..86400, as keepalived; 0: off), setting ``field``
    and ``{field}_all``."""

    def convert(node: Node, findings: Findings) -> dict[str, Any]:
        args = list(node.args)
        every = bool(args) and args[0] == "all"
        if len(args) < 1 + every:
            raise Invalid("expected [all] and an interval in seconds")
        if len(args) > 1 + every:  # keepalived reads the last word as the interval
            extra = " ".join(args[every:-1])[:40]
            findings.warning(node.pos, f"{node.keyword}: {extra!r} before the interval is ignored")
        interval = check(whole_seconds(low, 86400), args[-1], f"whole seconds {low}..86400")
        return {field: interval, f"{field}_all": every}

    return convert


def negated(node: Node, _findings: Findings) -> bool:
    """For ``no_accept``-style keywords: the opposite of ``flag``."""
    return not flag(node)


_TRUE_WORDS = frozenset({"on", "true", "yes", "1"})


def bare_flag(node: Node, findings: Findings) -> bool:
    """A keyword whose keepalived handler reads no value (``alpha`` in virtual_server, ``nopreempt``,
    ``vrrp_strict``...): whatever follows, it is on, as in keepalived; a value that says otherwise is
    warned about instead of being obeyed differently."""
    if node.args and not (len(node.args) == 1 and node.args[0].lower() in _TRUE_WORDS):
        shown = " ".join(node.args)[:40]
        findings.warning(
            node.pos, f"{node.keyword}: keepalived ignores {shown!r} after it; {node.keyword} is on"
        )
    return True


def bare_negated(node: Node, findings: Findings) -> bool:
    """``preempt``/``no_accept``-style keywords that read no value: the opposite of ``bare_flag``."""
    return not bare_flag(node, findings)


def script(node: Node, _findings: Findings) -> Script:
    """``keyword COMMAND [USER [GROUP]]``: COMMAND is one word (quote it when it has arguments)."""
    if not 1 <= len(node.args) <= 3:
        raise Invalid("expected a command (quoted if it has arguments) and optionally user and group")
    user = node.args[1] if len(node.args) > 1 else None
    group = node.args[2] if len(node.args) > 2 else None
    return Script(command=node.args[0], user=user, group=group, pos=node.pos)


def words(node: Node, _findings: Findings) -> tuple[str, ...]:
    """A ``{ }`` list of words (e.g. notification_email, group), one or several per line: keepalived's
    read_value_block takes every word."""
    out = []
    for child in node.children:
        if child.children is not None:
            raise Invalid(f"line {child.pos.line}: unexpected {{ }} block after {child.keyword!r}")
        out.extend(child.words)
    return tuple(out)


def entries(parse_entry: Callable[[Node, Findings], Any]) -> Convert:
    """A ``{ }`` list whose lines are parsed one by one; a bad line is reported, the others kept."""

    def convert(node: Node, findings: Findings) -> tuple[Any, ...]:
        out = []
        for child in node.children:
            if child.children is not None:
                findings.error(child.pos, f"{node.keyword}: unexpected {{ }} block after {child.keyword}")
                continue
            try:
                out.append(parse_entry(child, findings))
            except Invalid as error:
                findings.error(child.pos, f"{node.keyword}: {error}")
        return tuple(out)

    return convert


def pairs(words: Iterable[str], entry: str, known: Iterable[str]) -> Iterator[tuple[str, str]]:
    """``option value`` pairs from the words after an entry (``dev eth0 scope link``)."""
    items = iter(words)
    for name in items:
        if name not in known:
            raise Invalid(f"{entry}: unknown option '{name}'")
        value = next(items, None)
        if value is None:
            raise Invalid(f"{entry}: '{name}' needs a value")
        yield name, value


@dataclass(frozen=True, slots=True)
class Key:
    """How one keyword is read: the model field it sets and the converter for its statement."""

    field: str | None  # None: the converter returns a dict of several fields
    convert: Convert
    block: bool = False  # the statement takes a { } block
    repeat: bool = False  # repeats accumulate (converter returns a tuple to append)
    once: bool = False  # a repeat is an error, the first stays (keepalived's "already specified")


@dataclass(frozen=True)
class Block:
    """A block's keyword table, the keepalived keywords it does not implement, and its title."""

    title: str
    keys: dict[str, Key]
    unsupported: frozenset[str] = frozenset()
    needs_value: frozenset[str] = frozenset()  # unsupported keywords keepalived refuses without a value
    all_keywords: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "all_keywords", (*self.keys, *self.unsupported))


_WORD_CHARS = re.compile(r"^[\w.-]+$")


def not_in_table(node: Node, block: Block, findings: Findings) -> None:
    """Report a keyword the table lacks: "not supported yet" if keepalived knows it, else unknown."""
    if node.keyword in block.needs_value and not node.args:
        findings.error(node.pos, f"'{node.keyword}' in {block.title} needs a value (as keepalived)")
        return
    if node.keyword in block.unsupported:
        findings.warning(node.pos, f"'{node.keyword}' in {block.title} is not supported yet; ignored")
        return
    if findings.full:  # skip the costly "did you mean" when nothing more is shown
        return
    # a word over 100 characters is never 0.75 alike with a keyword (at most 2k/(w+k) for one of k <= 45
    # characters), and difflib indexes every character of it: a 12 MB word took 520 MB
    near = (
        difflib.get_close_matches(node.keyword, block.all_keywords, n=1, cutoff=0.75)
        if len(node.keyword) <= 100
        else []
    )
    hint = f"; did you mean '{near[0]}'?" if near else ""
    shown = (
        node.keyword
        if _WORD_CHARS.match(node.keyword) and len(node.keyword) <= 60
        else (repr(node.keyword[:60]) + ("..." if len(node.keyword) > 60 else ""))
    )
    findings.error(node.pos, f"unknown keyword '{shown}' in {block.title}{hint}")


def read_block(children: list[Node], block: Block, findings: Findings) -> dict[str, Any]:
    """Apply ``block``'s table to ``children``; returns field values of the statements that were valid."""
    values: dict[str, Any] = {}
    lines: dict[str, int] = {}
    first: dict[str, int] = {}  # keywords read once (Key.once): where
    for node in children:
        key = block.keys.get(node.keyword)
        if key is None:
            not_in_table(node, block, findings)
            continue
        if key.block != (node.children is not None):
            needs = "needs a { } block" if key.block else "takes no { } block"
            findings.error(node.pos, f"{node.keyword} {needs}")
            continue
        if key.once and node.keyword in first:
            findings.error(
                node.pos,
                f"{node.keyword} is already specified at line {first[node.keyword]} (keepalived keeps the "
                "first and reports the repeat)",
            )
            continue
        try:
            value = key.convert(node, findings)
        except Invalid as error:
            findings.error(node.pos, f"{node.keyword}: {error}")
            continue
        if key.once:
            first[node.keyword] = node.pos.line
        if key.repeat:
            values[key.field] = values.get(key.field, ()) + value
            continue
        if key.field is None:  # the converter sets several fields
            values.update(value)
            continue
        if key.field in lines:
            findings.warning(node.pos, f"{node.keyword} repeats line {lines[key.field]}; this one wins")
        values[key.field] = value
        lines[key.field] = node.pos.line
    return values


def make(cls: type, values: dict[str, Any], pos: Position, title: str, findings: Findings) -> Any:
    """Build a model object; a missing required field is an error at the block's line."""
    try:
        return cls(**values, pos=pos)
    except TypeError as error:
        missing = re.findall(r"'(\w+)'", str(error))
        findings.error(pos, f"{title}: missing {', '.join(missing) or 'required keywords'}")
        return None


def block_name(node: Node, findings: Findings, title: str) -> str | None:
    """The NAME of ``title NAME { ... }``; reported when missing or followed by extra words."""
    if len(node.args) != 1:
        findings.error(node.pos, f"{title}: expected one name before {{")
        return None
    return node.args[0]


WEIGHT = integer(-254, 254)


def _shown(number: float) -> str:
    return f"{number:.6f}".rstrip("0").rstrip(".")


def timer_key(name: str, low: float = 0, high: float = KEEPALIVED_TIMER_MAX) -> Key:
    """A decimal-seconds keyword; the bounds are keepalived's for that keyword."""
    what = "seconds" if (low, high) == (0, KEEPALIVED_TIMER_MAX) else f"seconds {_shown(low)}..{_shown(high)}"
    return Key(name, one(seconds(low, high), what))


def whole_seconds_key(name: str, low: int, high: int) -> Key:
    """A keyword whose seconds keepalived reads as a whole number."""
    return Key(name, one(whole_seconds(low, high), f"whole seconds {low}..{high}"))


def count_key(name: str, low: int = 0, high: int = 2**31 - 1) -> Key:
    return Key(name, one(integer(low, high), f"an integer {low}..{high}"))


def user_group(prefix: str) -> Any:
    """``keyword USER [GROUP]`` setting ``{prefix}user`` and ``{prefix}group``."""

    def convert(node: Node, _findings: Findings) -> dict[str, Any]:
        if not 1 <= len(node.args) <= 2:
            raise Invalid("expected a user name and optionally a group name")
        return {f"{prefix}user": node.args[0], f"{prefix}group": node.args[1] if len(node.args) > 1 else None}

    return convert


def weight(node: Node, _findings: Findings) -> dict[str, Any]:
    """``weight N [reverse]``"""
    if not 1 <= len(node.args) <= 2 or (len(node.args) == 2 and node.args[1] != "reverse"):
        raise Invalid("expected a weight -254..254 and optionally 'reverse'")
    return {
        "weight": check(WEIGHT, node.args[0], "a weight -254..254"),
        "weight_reverse": len(node.args) == 2,
    }
