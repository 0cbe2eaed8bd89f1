"""Inventory fields that become keepalived keywords take exactly what that keyword's reader takes (or
less): at each end of the range the schema accepts, the planned config passes ``tandemd -t``; one step
outside it (and a fraction where the reader wants whole numbers, a 7th decimal where it reads 6) is a
planner error naming the group or host and the field. The ranges come from the validators themselves
(``limits``, the runtime reader's own bounds, narrowed where the inventory says so), so a limit changed
in the runtime's keyword tables is tested at its new place without an edit here."""

from __future__ import annotations

import pytest
from inventory_cases import BASE_HOSTS
from keyword_ranges import inside, leaf, outside
from tandem.config import ConfigSource
from tandem.config.configtest import run_config_test
from tandem.config.vrrp_blocks import VRRP_INSTANCE
from tandem.inventory import plan_inventory
from tandem.inventory import schema as inv
from tandem.inventory.render import render_host

GROUP = {"name": "web", "vrid": 51, "vips": ["198.51.100.100/24"], "members": ["lb1", "lb2"]}
MAIL = {"to": ["ops@example.com"], "server": "203.0.113.25"}


def _advert(v):
    return {"advert_int": v, "version": 3 if v < 1 else 2}  # each version's own range is a runtime rule


def _override(v):
    lb1 = {**BASE_HOSTS["lb1"], "tandem_vrrp_overrides": {"web": {"priority": v}}}
    lb2 = {**BASE_HOSTS["lb2"], "tandem_vrrp_overrides": {"web": {"priority": 100}}}
    return [dict(GROUP)], {**BASE_HOSTS, "lb1": lb1, "lb2": lb2}, None


def _item(key: str, base: dict, name: str):
    return lambda v: ([{**GROUP, key: [{**base, name: v}]}], BASE_HOSTS, None)


def _garp(name: str):
    return lambda v: ([{**GROUP, "garp": {name: v}}], BASE_HOSTS, None)


def _mail(name: str):
    return lambda v: ([dict(GROUP)], BASE_HOSTS, {"mail": {**MAIL, name: v}})


_SCRIPT = {"name": "chk", "script": "/bin/true"}
_FILE = {"name": "tf", "file": "/run/tandem/maint"}
_PROCESS = {"name": "tp", "process": "sshd"}
_COMMON = inv._COMMON
GARP = leaf(_COMMON, "garp")

# label, validator, design(value) -> (groups, inventory, global settings), (group, host, field)
FIELDS = [
    ("advert_int", inv.SETTINGS["advert_int"], lambda v: ([{**GROUP, **_advert(v)}], BASE_HOSTS, None),
     ("web", None, "advert_int")),
    ("vrid", inv.VRID, lambda v: ([{**GROUP, "vrid": v}], BASE_HOSTS, None), ("web", None, "vrid")),
    ("priority", inv.PRIORITY, _override, (None, "lb1", "tandem_vrrp_overrides.web.priority")),
    ("preempt_delay", leaf(_COMMON, "preempt_delay"),
     lambda v: ([{**GROUP, "preempt_delay": v}], BASE_HOSTS, None), ("web", None, "preempt_delay")),
    ("unicast_ttl", leaf(_COMMON, "unicast_ttl"),
     lambda v: ([{**GROUP, "unicast": True, "unicast_ttl": v}], BASE_HOSTS, None),
     ("web", None, "unicast_ttl")),
    *[
        (f"garp.{key}", validator, _garp(key),
         ("web", None, f"garp.{key}"))
        for key, validator in ((getattr(k, "schema", k), v) for k, v in GARP.items())
        if validator.limits is not None
    ],
    *[
        (f"track_scripts.{name}", leaf(inv.TRACK_SCRIPT, name), _item("track_scripts", _SCRIPT, name),
         ("web", None, f"track_scripts[0].{name}"))
        for name in ("interval", "timeout", "fall", "rise", "weight")
    ],
    ("track_interfaces.weight", inv.WEIGHT, _item("track_interfaces", {"name": "eth1"}, "weight"),
     ("web", None, "track_interfaces[0].weight")),
    *[
        (f"track_files.{name}", leaf(inv.TRACK_FILE, name), _item("track_files", _FILE, name),
         ("web", None, f"track_files[0].{name}"))
        for name in ("init_file", "weight")
    ],
    *[
        (f"track_processes.{name}", leaf(inv.TRACK_PROCESS, name), _item("track_processes", _PROCESS, name),
         ("web", None, f"track_processes[0].{name}"))
        for name in ("quorum", "quorum_max", "fork_delay", "terminate_delay", "weight")
    ],
    *[
        (f"mail.{name}", leaf(inv.MAIL, name), _mail(name), (None, None, f"tandem_global.mail.{name}"))
        for name in ("port", "connect_timeout")
    ],
]  # fmt: skip


def _plan(design, value):
    groups, inventory, global_settings = design(value)
    return plan_inventory(groups, None, inventory, None, global_settings)


IDS = [label for label, *_ in FIELDS]


@pytest.mark.parametrize(("label", "validator", "design", "where"), FIELDS, ids=IDS)
def test_boundaries_render_to_a_config_tandemd_t_accepts(tmp_path, label, validator, design, where):
    for value in inside(validator.limits):
        plan = _plan(design, value)
        assert plan.errors == [], (label, value, [str(f) for f in plan.errors])
        for host, part in plan.hosts.items():
            rendered = render_host(part, host, {"router_id": host})
            path = tmp_path / f"{host}.conf"
            path.write_text(rendered.text)
            assert run_config_test(ConfigSource(str(path))) == 0, (label, value, rendered.text)


@pytest.mark.parametrize(("label", "validator", "design", "where"), FIELDS, ids=IDS)
def test_just_outside_is_a_planner_error_naming_the_field(label, validator, design, where):
    for value in outside(validator.limits):
        plan = _plan(design, value)
        found = [str(f) for f in plan.findings]
        assert plan.errors and (plan.errors[0].group, plan.errors[0].host, plan.errors[0].field) == where, (
            label,
            value,
            found,
        )
        assert {f.field for f in plan.errors} == {where[2]}, found  # a rule may add one more there
        assert plan.hosts == {}


def test_a_narrowing_wider_than_the_reader_is_refused_where_it_is_written():
    with pytest.raises(ValueError, match=r"wider than its reader's 1\.\.255"):
        inv.keyword(VRRP_INSTANCE, "unicast_ttl", within=(0, 255))
    with pytest.raises(ValueError, match="no numeric range"):
        inv.keyword(VRRP_INSTANCE, "interface", within=(1, 2))


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"vips": [{"address": "198.51.100.100/24", "scope": "256"}]}, "vips[0].scope"),
        ({"auth": {"type": "PASS", "password": "a\nb"}}, "auth.password"),
        ({"track_processes": [{**_PROCESS, "process": "ssh\nd"}]}, "track_processes[0].process"),
    ],
    ids=["scope-256", "password-newline", "process-newline"],
)
def test_text_and_words_the_reader_refuses_are_schema_errors_naming_the_field(fields, field):
    """Not a 'tandemd.conf line N' error after rendering: the reader's scope words; text the writer cannot
    write as one word read back the same (a line break)."""
    plan = plan_inventory([{**GROUP, **fields}], None, BASE_HOSTS)
    assert [(f.group, f.host, f.field) for f in plan.errors] == [("web", None, field)], plan.errors


@pytest.mark.parametrize("text", ["v\\x", 'a"b', "a b", "#x", "$x", "e{th"])
def test_text_with_quotes_and_backslashes_renders_and_reads_back(tmp_path, text):
    """use_vmac's name was written with its closing quote stripped (dump's rstrip), so a name that needs
    quotes came back as 'unterminated quoted string' at a line of tandemd.conf."""
    plan = plan_inventory(
        [{**GROUP, "use_vmac": text[:15], "auth": {"type": "PASS", "password": text}}], None, BASE_HOSTS
    )
    if plan.errors:  # an interface name may not hold blanks: refused by the schema, naming the field
        assert {f.field for f in plan.errors} == {"use_vmac"} and {f.host for f in plan.errors} == {None}
        return
    rendered = render_host(plan.hosts["lb1"], "lb1", {"router_id": "lb1"})
    path = tmp_path / "lb1.conf"
    path.write_text(rendered.text)
    assert run_config_test(ConfigSource(str(path))) == 0, rendered.text
