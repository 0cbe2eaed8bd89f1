"""Keyword and value parity with keepalived 2.2.7, each case as ``keepalived -t`` reads it (checked by
test_differential.py against the real keepalived): what it accepts tandemd accepts with the same
meaning, what it reports as an error tandemd reports at the same line."""

from __future__ import annotations

from pathlib import Path

import pytest
from config_helpers import MINIMAL_INSTANCE, messages
from tandem.config import load_config_text
from tandem.config.build import TOP_LEVEL_BLOCK
from tandem.config.global_blocks import GLOBAL_DEFS, VRRP_SCRIPT
from tandem.config.lvs_blocks import CHECKERS, REAL_SERVER, URL, VIRTUAL_SERVER
from tandem.config.model import Tunnel
from tandem.config.vrrp_blocks import VRRP_INSTANCE, VRRP_SYNC_GROUP

VS = """
virtual_server 198.51.100.50 80 {{
    protocol TCP
    lb_algo {algo}
    lb_kind NAT
{vs}
    real_server 198.51.100.60 80 {{
        weight 1
{rs}
    }}
}}
"""


def vs(vs_lines: str = "", rs_lines: str = "", algo: str = "rr") -> str:
    return VS.format(vs=vs_lines, rs=rs_lines, algo=algo)


def instance(extra: str = "", vips: str = "198.51.100.1", state: str = "") -> str:
    return (
        f"vrrp_instance V {{\n    interface eth0\n    virtual_router_id 5\n{state}"
        f"    virtual_ipaddress {{\n        {vips}\n    }}\n{extra}}}\n"
    )


def errors(text: str) -> list[str]:
    return messages(load_config_text(text), "error")


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (vs("    alpha 1"), "alpha"),
        (vs("    omega off"), "omega"),  # keepalived's handler reads no value: still on
        (vs("    ha_suspend yes"), "ha_suspend"),
        (vs("    inhibit_on_failure 1"), "inhibit_on_failure"),
    ],
)
def test_virtual_server_flags_ignore_their_value_as_keepalived(text, field):
    result = load_config_text(text)
    assert result.config is not None, messages(result)
    assert getattr(result.config.virtual_servers[0], field) is True


def test_a_value_keepalived_ignores_is_warned_about_not_obeyed():
    strict = "global_defs {\n    vrrp_strict off\n}\n"
    result = load_config_text(strict + instance(state="    priority 100\n"))
    assert result.config.global_defs.vrrp_strict is True
    assert "2: warning: vrrp_strict: keepalived ignores 'off' after it; vrrp_strict is on" in messages(result)
    preempt = load_config_text(instance("    preempt no\n", state="    priority 100\n")).config
    assert preempt.vrrp_instances[0].nopreempt is False


@pytest.mark.parametrize(
    "text",
    [
        vs(rs_lines="        TCP_CHECK {\n            alpha 1\n        }"),
        vs(rs_lines="        alpha 1"),
        vs(rs_lines="        inhibit_on_failure 1"),
        vs("    smtp_alert 1"),
    ],
)
def test_flags_that_keepalived_reads_as_booleans_refuse_1(text):
    assert errors(text)


def test_tunnel_types_fwmark_families_and_scheduler_flags():
    result = load_config_text(
        vs("    lvs_method TUN type gue port 6080 csum\n    mh-port\n    flag-1", algo="mh")
        + "virtual_server fwmark 22 inet {\n    lb_algo rr\n    lb_kind NAT\n"
        "    real_server 198.51.100.5 80 {\n        lvs_method TUN type gre\n    }\n}\n"
    )
    assert result.config is not None, messages(result)
    first, second = result.config.virtual_servers
    assert (first.lvs_method, first.tunnel) == ("TUN", Tunnel(type="gue", port=6080, checksum="csum"))
    assert first.scheduler_flags == ("mh-port", "flag-1")
    assert second.fwmark == 22 and second.real_servers[0].tunnel == Tunnel(type="gre")
    assert not config_warnings(result), messages(result)


def config_warnings(result) -> list[str]:
    """Warnings about the config itself (not the nftables plane's notes on what it cannot carry)."""
    return [m for m in messages(result, "warning") if "nftables plane" not in m]


@pytest.mark.parametrize(
    ("lines", "line", "message"),
    [  # each line and message as keepalived 2.2.7's -t reports them (its words in the comment)
        # "gue tunnels require port, otherwise cannot have port."
        ("    lvs_method TUN type gue", 6, "TUN: gue tunnels need a port"),
        ("    lvs_method TUN port 6080", 6, "TUN: gue tunnels need a port"),
        # "ipip tunnels do not support checksum option." / "gre ... remote checksum option."
        ("    lvs_method TUN csum", 6, "TUN: ipip tunnels take no csum"),
        ("    lvs_method TUN type gre remcsum", 6, "TUN: gre tunnels take no remcsum"),
        # "sh-port only applies to sh scheduler - ignoring" (lb_algo rr is on line 4)
        ("    sh-port", 6, "sh-port applies to lb_algo sh only"),
        ("    mh-fallback", 6, "mh-fallback applies to lb_algo mh only"),
    ],
)
def test_tunnel_and_scheduler_flag_errors_as_keepalived(lines, line, message):
    assert any(m.startswith(f"{line}: error: ") and message in m for m in errors(vs(lines))), errors(
        vs(lines)
    )


def test_a_scheduler_flag_before_its_scheduler_or_for_the_other_hash_is_not_set():
    before = "virtual_server 198.51.100.50 80 {\n    sh-port\n    lb_algo sh\n"
    before += "    real_server 198.51.100.60 80 {\n    }\n}\n"
    assert errors(before) == [
        "2: error: sh-port applies to lb_algo sh only (set on a line before it, as keepalived)"
    ]
    other = load_config_text(vs("    mh-port\n    sh-fallback", algo="sh"))
    assert other.config.virtual_servers[0].scheduler_flags == ("sh-fallback",)
    assert config_warnings(other) == ["6: warning: mh-port applies to lb_algo mh only; ignored"]


def test_a_service_of_every_port_is_persistent_as_keepalived():
    """keepalived: "zero port only valid for persistent services - setting" (360 s)."""
    text = "virtual_server 198.51.100.50 {\n    protocol TCP\n    real_server 198.51.100.60 {\n    }\n}\n"
    result = load_config_text(text)
    assert result.config is not None and result.config.virtual_servers[0].port is None
    assert config_warnings(result) == [
        "1: warning: virtual_server [198.51.100.50]:0: a service of every port (no port given) is "
        "persistent: persistence_timeout 360 is used (as keepalived)"
    ]
    persistent = load_config_text(text.replace("TCP\n", "TCP\n    persistence_timeout 50\n"))
    assert not config_warnings(persistent), messages(persistent)


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (vs("    lb_kind nat"), 6),  # keepalived: unknown [nat] routing method
        (instance(state="    state master\n"), 4),
        (instance("    authentication {\n        auth_type pass\n        auth_pass x\n    }\n"), 8),
        ("global_defs {\n    vrrp_garp_interval 0\n}\n", 2),
        ("global_defs {\n    vrrp_gna_interval 0\n}\n", 2),
        ("global_defs {\n    lvs_sync_daemon_interface eth0\n}\n", 2),  # obsolete: unknown in 2.2.7
        ("global_defs {\n    lvs_id LVS1\n}\n", 2),
        ("global_defs {\n    net_namespace blue\n}\n", 2),  # top level only
        ("global_defs {\n\\\n}\n", 2),
        (instance("    virtual_rules {\n        from 198.51.100.0/24 table 7 pref 9\n    }\n"), 8),
    ],
)
def test_errors_keepalived_reports_are_reported_at_their_line(text, line):
    found = errors(text)
    assert found and found[0].startswith(f"{line}: error: "), found


def test_ipv6_instance_without_version_is_vrrpv3():
    result = load_config_text(instance(vips="2001:db8::100/64"))
    assert result.config is not None, messages(result)
    assert result.config.effective_version(result.config.vrrp_instances[0]) == 3


def test_address_route_and_rule_syntax():
    result = load_config_text(
        instance(
            "    virtual_routes {\n"
            "        2001:db8:1::/64 via inet6 2001:db8::1 dev eth0\n"
            "        203.0.113.0/24 via 198.51.100.254 dev eth0 no_track\n"
            "        src 198.51.100.1 203.0.113.128/25 dev eth0 table 100 onlink mtu lock 1400\n"
            "    }\n"
            "    virtual_rules {\n"
            "        from 198.51.100.0/24 table 100 priority 100 no_track\n"
            "        from all to 203.0.113.0/24 lookup main preference 200\n"
            "    }\n",
            vips="198.51.100.1/24 brd + dev eth1\n        198.51.100.2/24 broadcast - dev eth1",
        )
    )
    assert result.config is not None, messages(result)
    vi = result.config.vrrp_instances[0]
    assert [str(v.brd) for v in vi.virtual_ipaddresses] == ["198.51.100.255", "None"]
    routes = vi.virtual_routes
    assert str(routes[0].via) == "2001:db8::1" and routes[1].no_track
    assert routes[2].options == (("onlink", ""), ("mtu", "lock 1400"))
    assert vi.virtual_rules[0].no_track and vi.virtual_rules[1].from_ is None


def test_extra_values_are_ignored_with_a_warning_as_keepalived():
    result = load_config_text("global_defs {\n    router_id a b\n}\n" + MINIMAL_INSTANCE)
    assert result.config.global_defs.router_id == "a"
    (warning,) = messages(result, "warning")
    assert warning == "2: warning: router_id: 'b' after the value is ignored (as keepalived)"


@pytest.mark.parametrize(
    "line", ["vrrp_netlink_cmd_rcv_bufs 1024", "vrrp_netlink_monitor_rcv_bufs_force", "enable_dbus"]
)
def test_keys_accepted_with_a_plain_not_supported_warning(line):
    result = load_config_text(f"global_defs {{\n    {line}\n}}\n" + MINIMAL_INSTANCE)
    assert result.config is not None
    assert any("not supported yet" in m for m in messages(result, "warning"))
    top = load_config_text("net_namespace blue\n" + MINIMAL_INSTANCE)
    assert top.config is not None and "not supported yet" in messages(top, "warning")[0]


KEYWORDS = Path(__file__).with_name("corpus") / "keepalived-2.2.7-keywords.txt"


def test_every_keyword_keepalived_knows_is_known_to_tandemd():
    """No false 'unknown keyword': each keyword keepalived 2.2.7 knows in a block is read by tandemd
    there, or accepted with a 'not supported yet' warning."""
    tables = {
        "top": TOP_LEVEL_BLOCK,
        "global_defs": GLOBAL_DEFS,
        "vrrp_instance": VRRP_INSTANCE,
        "virtual_server": VIRTUAL_SERVER,
        "real_server": REAL_SERVER,
        "vrrp_script": VRRP_SCRIPT,
        "vrrp_sync_group": VRRP_SYNC_GROUP,
        "url": URL,
        **{kind: CHECKERS[kind][1] for kind in ("TCP_CHECK", "HTTP_GET", "MISC_CHECK")},
    }
    lines = [line.split() for line in KEYWORDS.read_text().splitlines() if not line.startswith("#")]
    assert {words[0] for words in lines} == set(tables)
    for block, *keywords in lines:
        missing = set(keywords) - set(tables[block].all_keywords)
        assert not missing, f"{block}: {sorted(missing)}"
