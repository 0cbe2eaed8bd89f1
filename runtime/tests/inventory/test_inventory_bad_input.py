"""Whatever the inventory holds, validation answers with findings, never an exception."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from inventory_cases import BASE_HOSTS
from tandem.inventory import plan_inventory

ANY = st.recursive(
    st.none() | st.booleans() | st.integers(-300, 300) | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
GROUP = {
    "name": "web",
    "vrid": 51,
    "vips": ["198.51.100.100/24"],
    "members": ["lb1", {"host": "lb2", "priority": 100}],
    "unicast": True,
    "track_scripts": [{"name": "chk", "script": "true", "weight": -20}],
    "dns": {"name": "www.example.com", "zone": "example.com"},
}
VALID_GROUP = {"name": "web", "vrid": 51, "vips": ["198.51.100.100/24"], "members": ["lb1", "lb2"]}
AA_SET = {
    "name": "www",
    "hosts": ["lb1", "lb2"],
    "vrid_base": 60,
    "vips": ["198.51.100.20/24", "198.51.100.21/24"],
}


NEW_FIELDS = [
    "preempt",
    "preempt_delay",
    "accept",
    "garp",
    "track_interfaces",
    "track_files",
    "track_processes",
    "virtual_routes",
    "virtual_rules",
    "excluded_vips",
    "smtp_alert",
    "sync_group",
    "nonlocal_bind",
    "use_vmac",
    "vmac_xmit_base",
    "unicast_ttl",
]
# each accepted plan is rendered and checked per host: no per-example deadline on a loaded machine
FUZZ = settings(max_examples=300, deadline=None)


@FUZZ
@given(
    field=st.sampled_from([*GROUP, "master", "notify", "auth", "advert_int", "segment", *NEW_FIELDS]),
    value=ANY,
)
def test_any_value_in_a_group_field(field, value):
    plan = plan_inventory([{**GROUP, field: value}], [AA_SET], BASE_HOSTS)
    assert all(f.field for f in plan.findings)


@FUZZ
@given(field=st.sampled_from([*AA_SET, "priority_step", "priority_top", *NEW_FIELDS]), value=ANY)
def test_any_value_in_an_active_active_field(field, value):
    plan = plan_inventory([GROUP], [{**AA_SET, field: value}], BASE_HOSTS)
    assert all(f.field for f in plan.findings)


@FUZZ
@given(
    var=st.sampled_from(
        ["tandem_interface", "tandem_addresses", "tandem_vrrp_defaults", "tandem_vrrp_overrides"]
    ),
    value=ANY,
)
def test_any_value_in_a_host_var(var, value):
    hosts = {**BASE_HOSTS, "lb2": {**BASE_HOSTS["lb2"], var: value}}
    plan = plan_inventory([GROUP], [AA_SET], hosts)
    assert all(f.host == "lb2" for f in plan.findings if f.field.startswith(var))


@settings(deadline=None)
@given(groups=ANY, sets=ANY, servers=ANY, global_settings=ANY)
def test_any_value_as_the_whole_design(groups, sets, servers, global_settings):
    plan_inventory(groups, sets, BASE_HOSTS, servers, global_settings)


SERVER = {
    "name": "http",
    "vrrp_group": "web",
    "address": "198.51.100.100",
    "port": 80,
    "real_servers": [{"address": "203.0.113.10", "port": 80, "checkers": [{"TCP_CHECK": {}}]}],
}


@FUZZ
@given(field=st.sampled_from([*SERVER, "lvs_sched", "delay_loop", "fwmark", "hosts"]), value=ANY)
def test_any_value_in_a_virtual_server_field(field, value):
    plan = plan_inventory([GROUP], None, BASE_HOSTS, [{**SERVER, field: value}])
    assert all(f.field is not None for f in plan.findings)


@FUZZ
@given(field=st.sampled_from(["to", "server", "port", "auth_password", "starttls"]), value=ANY)
def test_any_value_in_the_mail_settings(field, value):
    mail = {"to": ["ops@example.com"], "server": "203.0.113.25", field: value}
    plan = plan_inventory([GROUP], None, BASE_HOSTS, None, {"mail": mail, "notify_fifo": "/run/fifo"})
    assert all(f.field for f in plan.findings)


@FUZZ
@given(
    field=st.sampled_from(
        [
            "notify_fifo",
            "vrrp_notify_fifo",
            "lvs_notify_fifo",
            "notify_fifo_script",
            "vrrp_notify_fifo_script",
            "script_user",
        ]
    ),
    value=ANY,
)
def test_any_value_in_the_fifo_settings(field, value):
    plan = plan_inventory([VALID_GROUP], None, BASE_HOSTS, None, {field: value})
    assert all(f.field.startswith(f"tandem_global.{field}") for f in plan.errors)


def test_no_design_at_all_is_a_warning():
    plan = plan_inventory(None, None, BASE_HOSTS)
    assert [(f.severity.value, f.field) for f in plan.findings] == [("warning", "tandem_vrrp_groups")]


def shared(depth: int, width: int = 10, mapping: bool = False):
    """A "billion laughs" value as YAML anchors make it: one node shared ``width`` times per level
    (10**9 leaves at depth 9, a few hundred bytes of YAML)."""
    value = "lol"
    for _ in range(depth):
        value = {f"k{i}": value for i in range(width)} if mapping else [value] * width
    return value


def recursive(mapping: bool = False):
    value: dict | list = {} if mapping else []
    if mapping:
        value["a"] = value
    else:
        value.append(value)
    return value


HOSTILE = {
    "shared list": lambda: shared(9),
    "shared mapping": lambda: shared(9, mapping=True),
    "recursive list": lambda: recursive(),
    "recursive mapping": lambda: recursive(mapping=True),
}
EVERYWHERE = """
import resource, sys
sys.path.insert(0, sys.argv[1])
resource.setrlimit(resource.RLIMIT_CPU, (60, 60))  # the bound: a whole sweep in 60 s of CPU (~1 s)
import test_inventory_bad_input as t
from inventory_cases import BASE_HOSTS
from tandem.inventory import plan_inventory
checked = 0
for make in t.HOSTILE.values():
    for field in [*t.GROUP, "master", "notify", "auth", "advert_int", "segment", *t.NEW_FIELDS]:
        plan = plan_inventory([{**t.GROUP, field: make()}], [t.AA_SET], BASE_HOSTS)
        assert all(f.field for f in plan.findings), field
        checked += 1
    for field in [*t.AA_SET, "priority_step", "priority_top", *t.NEW_FIELDS]:
        plan_inventory([t.GROUP], [{**t.AA_SET, field: make()}], BASE_HOSTS)
        checked += 1
    for var in ["tandem_interface", "tandem_addresses", "tandem_vrrp_defaults", "tandem_vrrp_overrides"]:
        plan_inventory([t.GROUP], [t.AA_SET], {**BASE_HOSTS, "lb2": {**BASE_HOSTS["lb2"], var: make()}})
        checked += 1
    for field in [*t.SERVER, "lvs_sched", "delay_loop", "fwmark", "hosts"]:
        plan_inventory([t.GROUP], None, BASE_HOSTS, [{**t.SERVER, field: make()}])
        checked += 1
    for field in ["to", "server", "port", "auth_password", "starttls"]:
        mail = {"to": ["ops@example.com"], "server": "203.0.113.25", field: make()}
        plan_inventory([t.GROUP], None, BASE_HOSTS, None, {"mail": mail, "notify_fifo": "/run/fifo"})
        checked += 1
    plan_inventory(make(), make(), BASE_HOSTS, make(), make())
print(checked)
"""


def test_billion_laughs_and_recursive_values_anywhere_end_within_the_cpu_bound():
    """A shared-node YAML value in vips, vrid or tandem_addresses never ended (its repr/str in the
    message: exponential); voluptuous' Boolean() took it as true. Run under RLIMIT_CPU: an unbounded
    walk is killed by SIGXCPU and fails the test."""
    import subprocess
    import sys
    from pathlib import Path

    here = str(Path(__file__).parent)
    done = subprocess.run(
        [sys.executable, "-c", EVERYWHERE, here], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout) > 100


def test_a_boolean_field_takes_true_or_false_only():
    for value, ok in [
        (True, True),
        ("yes", True),
        (0, True),
        ([1], False),
        ({"a": 1}, False),
        ("maybe", False),
    ]:
        plan = plan_inventory([{**VALID_GROUP, "unicast": value}], None, BASE_HOSTS)
        unicast = [f for f in plan.errors if f.field == "unicast"]
        assert (not unicast) == ok, (value, [str(f) for f in plan.findings])
