"""The role's tandemd.conf is what the runtime's writer makes of the plan, and nothing the planner accepts
fails ``tandemd -t``: random designs are planned; every accepted one is rendered per host, written to a
file and checked by the very code of ``tandemd -t`` (exit status 0, no error)."""

from __future__ import annotations

import ipaddress
import re

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from inventory_cases import BASE_HOSTS
from keyword_ranges import across, leaf
from tandem.config import ConfigSource, load_config, load_config_text
from tandem.config.configtest import run_config_test
from tandem.config.dump import dump_config
from tandem.inventory import Severity, plan_inventory
from tandem.inventory import schema as inv
from tandem.inventory.render import render_host

HOSTS = sorted(BASE_HOSTS)
READ_ERROR = re.compile(r"[\w ]+: expected ")  # a keyword table's refusal of a statement's value
GARP = leaf(inv._COMMON, "garp")


def _field(schema, name: str) -> st.SearchStrategy:
    """Values across the whole range the schema's field takes (its ends, between, just outside)."""
    return across(leaf(schema, name))


def _vips(family: int, count: int, first: int) -> list[str]:
    if family == 4:
        return [f"198.51.100.{first + i}/24" for i in range(count)]
    return [f"2001:db8::{first + i:x}/64" for i in range(count)]


@st.composite
def instance_options(draw, index: int) -> dict:
    """Any subset of the passed-through instance features, with values across what the schema takes
    (keyword fields: over their validators' whole ranges, ends and just outside included)."""
    options = {
        "preempt": st.booleans(),
        "preempt_delay": _field(inv._COMMON, "preempt_delay"),
        "accept": st.booleans(),
        "garp": st.fixed_dictionaries(
            {},
            optional={
                getattr(key, "schema", key): st.booleans() if value.limits is None else across(value)
                for key, value in GARP.items()
            },
        ),
        "track_interfaces": st.lists(
            st.sampled_from(
                ["eth1", {"name": "eth2", "weight": -60}, {"name": "eth3", "weight": 10, "reverse": True}]
            )
            | st.builds(lambda w: {"name": "eth4", "weight": w}, across(inv.WEIGHT)),
            unique_by=lambda t: t if isinstance(t, str) else t["name"],
            max_size=3,
        ),
        "track_files": st.fixed_dictionaries(
            {"name": st.just(f"tf{index}"), "file": st.just("/run/tandem/maint")},
            optional={name: _field(inv.TRACK_FILE, name) for name in ("weight", "init_file")},
        ).map(lambda t: [t]),
        "track_processes": st.fixed_dictionaries(
            {"name": st.just(f"tp{index}"), "process": st.just("sshd")},
            optional={
                name: _field(inv.TRACK_PROCESS, name)
                for name in ("weight", "quorum", "quorum_max", "fork_delay", "terminate_delay")
            },
        ).map(lambda t: [t]),
        "virtual_routes": st.lists(
            st.sampled_from(
                ["203.0.113.0/24 via 198.51.100.1", "blackhole 203.0.113.128/25", "to 2001:db8:1::/64"]
            ),
            max_size=2,
            unique=True,
        ),
        "virtual_rules": st.lists(st.sampled_from(["from 198.51.100.50 table 100 priority 100"]), max_size=1),
        "smtp_alert": st.booleans(),
        "nonlocal_bind": st.booleans(),
        "sync_group": st.sampled_from(["s1", "s2"]),
        "use_vmac": st.sampled_from([True, False, f"vmac{index}"]),
        "vmac_xmit_base": st.booleans(),
        "unicast_ttl": _field(inv._COMMON, "unicast_ttl"),
    }
    chosen = draw(st.lists(st.sampled_from(sorted(options)), unique=True, max_size=6))
    return {key: draw(options[key]) for key in chosen}


@st.composite
def designs(draw):
    """A few groups and maybe an active-active set over lb1..lb4, with settings drawn from the whole
    range the inventory schema accepts (so the runtime's own rules get to refuse some)."""
    groups, next_vip = [], 100
    for index in range(draw(st.integers(1, 3))):
        family = draw(st.sampled_from([4, 6]))
        count = draw(st.integers(1, 3))
        members = draw(st.lists(st.sampled_from(HOSTS), min_size=2, max_size=4, unique=True))
        group = {
            "name": f"g{index}",
            "vrid": draw(st.integers(1, 255)),
            "vips": _vips(family, count, next_vip),
            "members": members,
        }
        next_vip += count
        if draw(st.booleans()):
            group["advert_int"] = draw(across(inv.SETTINGS["advert_int"]))
        if draw(st.booleans()):
            group["version"] = draw(st.sampled_from([2, 3]))
        if draw(st.booleans()):
            password = draw(st.text("abcXYZ019-_", min_size=1, max_size=12))
            group["auth"] = {"type": "PASS", "password": password}
        if draw(st.booleans()):
            group["unicast"] = True
        if draw(st.booleans()):
            script = st.fixed_dictionaries(
                {"name": st.just(f"chk{index}"), "script": st.just("/bin/true")},
                optional={
                    name: _field(inv.TRACK_SCRIPT, name)
                    for name in ("interval", "timeout", "fall", "rise", "weight")
                },
            )
            group["track_scripts"] = [draw(script)]
        if draw(st.booleans()):
            group["notify"] = {"master": "/usr/local/bin/became master", "any": "/bin/logger"}
        if draw(st.booleans()):
            group["notify"] = {
                "backup": {"src": "files/notify.sh", "args": draw(st.sampled_from(["", "-v"]))}
            }
        if draw(st.booleans()):
            user = draw(st.sampled_from([{}, {"user": "nobody"}, {"user": "nobody", "group": "nogroup"}]))
            group["notify"] = {
                "master": {"script": "/usr/local/bin/became master", **user},
                "fault": {"src": "files/fault.sh", **user},
            }
        group.update(draw(instance_options(index)))
        if "unicast_ttl" in group:  # the schema refuses it without unicast, vmac_xmit_base without a VMAC
            group["unicast"] = True
        if group.get("vmac_xmit_base"):
            group["use_vmac"] = group.get("use_vmac") or True
        groups.append(group)
    sets = []
    if draw(st.booleans()):
        sets.append(
            {
                "name": "aa",
                "hosts": HOSTS[:2],
                "vrid_base": draw(st.integers(1, 250)),
                "vips": _vips(4, 2, 200),
            }
        )
    servers = []
    if draw(st.booleans()):
        kind = draw(
            st.sampled_from(["TCP_CHECK", "HTTP_GET", "PING_CHECK", "MISC_CHECK", "DNS_CHECK", "UDP_CHECK"])
        )
        options = {
            "HTTP_GET": {"url": [{"path": "/", "status_code": 200}], "connect_timeout": 3},
            "MISC_CHECK": {"misc_path": {"src": "files/chk.sh"}},
            "DNS_CHECK": {"name": "example.com.", "type": "A"},
        }.get(kind, {})
        real = "2001:db8:1::10" if ":" in groups[0]["vips"][0] else "203.0.113.10"  # the service's family
        servers.append(
            {
                "name": "vs",
                "vrrp_group": "g0",
                "address": groups[0]["vips"][0].split("/")[0],
                "port": 80,
                "lvs_sched": draw(st.sampled_from(["rr", "wlc", "sh"])),
                "lvs_method": draw(st.sampled_from(["NAT", "DR"])),
                "real_servers": [{"address": real, "port": 80, "checkers": [{kind: options}]}],
            }
        )
    mail = draw(
        st.none()
        | st.fixed_dictionaries(
            {
                "to": st.just(["ops@example.com"]),
                "server": st.just("203.0.113.25"),
                "auth_password": st.just("pw"),
            },
            optional={name: _field(inv.MAIL, name) for name in ("port", "connect_timeout")},
        )
    )
    fifos = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "notify_fifo": st.just("/run/tandem/all.fifo"),
                "vrrp_notify_fifo": st.just("/run/tandem/vrrp.fifo"),
                "lvs_notify_fifo": st.just("/run/tandem/lvs.fifo"),
                "notify_fifo_script": st.sampled_from(
                    ["/usr/local/bin/fifo reader", {"src": "files/fifo.sh", "user": "nobody"}]
                ),
                "vrrp_notify_fifo_script": st.just({"script": "/bin/cat", "user": "nobody"}),
                "script_user": st.just("nobody"),
            },
        )
    )
    global_settings = {**({"mail": mail} if mail else {}), **fifos}
    return groups, sets, servers, (global_settings or None)


def _check_as_tandemd_does(tmp_path, host: str, text: str) -> None:
    path = tmp_path / f"{host}.conf"
    path.write_text(text)
    assert run_config_test(ConfigSource(str(path))) == 0, text
    loaded = load_config(path)
    assert loaded.errors == ()
    # the file says what the writer meant: it dumps to itself
    assert dump_config(loaded.config) == text.split("\n", 1)[1]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(design=designs())
def test_nothing_the_planner_accepts_fails_tandemd_t(tmp_path, design):
    groups, sets, servers, global_settings = design
    plan = plan_inventory(groups, sets or None, BASE_HOSTS, servers or None, global_settings)
    event("planned" if not plan.errors else "refused")
    # the virtual server drawn is valid by construction, and the mail settings but their numbers: never
    # the reason to refuse; a refusal names the field
    assert all(f.field for f in plan.errors)
    # a value the schema took is never refused by its keyword's reader once rendered (that reader is the
    # schema's leaf): later, only the runtime's rules over several values may refuse ("g0: advert_int ...")
    assert not [str(f) for f in plan.errors if f.host is not None and READ_ERROR.match(f.message)]
    mail_numbers = ("tandem_global.mail.port", "tandem_global.mail.connect_timeout")
    assert not [
        str(f)
        for f in plan.errors
        if f.group == "vs" or (f.field.startswith("tandem_global") and f.field not in mail_numbers)
    ]
    if plan.errors:
        return
    assert plan.hosts
    for host, part in plan.hosts.items():
        rendered = render_host(part, host, {"router_id": host})
        assert rendered.errors == [] and rendered.text is not None
        _check_as_tandemd_does(tmp_path, host, rendered.text)


def test_the_runtime_rules_are_the_planners():
    """Rules only the runtime knows come back from the planner naming group and field."""
    group = {"name": "web", "vrid": 51, "vips": ["198.51.100.100/24"], "members": ["lb1", "lb2"]}
    sub_second_v2 = plan_inventory([{**group, "advert_int": 0.5, "version": 2}], None, BASE_HOSTS)
    (error,) = sub_second_v2.errors
    assert (error.group, error.host, error.field) == ("web", "lb1", "advert_int")
    assert "advert_int 0.5 must be 1..255 seconds for VRRPv2" in error.message
    assert sub_second_v2.instances == []
    long_pass = plan_inventory(
        [{**group, "auth": {"type": "PASS", "password": "123456789"}}], None, BASE_HOSTS
    )
    assert [(f.severity, f.group, f.field) for f in long_pass.findings] == [(Severity.WARNING, "web", "auth")]
    assert "longer than 8 characters" in long_pass.findings[0].message
    v3_auth = plan_inventory(
        [{**group, "version": 3, "auth": {"type": "PASS", "password": "pw"}}], None, BASE_HOSTS
    )
    assert [(f.severity, f.group, f.field) for f in v3_auth.findings] == [(Severity.WARNING, "web", "auth")]
    assert "authentication is VRRPv2 only; ignored with version 3" in v3_auth.findings[0].message


def test_rendered_text_is_the_runtime_dump():
    group = {"name": "web", "vrid": 51, "vips": ["198.51.100.100/24"], "members": ["lb1", "lb2"]}
    part = plan_inventory([group], None, BASE_HOSTS).hosts["lb1"]
    text = render_host(part, "lb1", {"router_id": "lb1"}).text
    config = load_config_text(text).config
    assert config.instance("web").virtual_ipaddresses[0].address == ipaddress.ip_interface(
        "198.51.100.100/24"
    )
    assert text.endswith(dump_config(config))
