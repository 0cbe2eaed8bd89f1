"""Semantic checks across the file: each mistake is reported once, at the offending line."""

from __future__ import annotations

import pytest
from config_helpers import messages


def instance(name: str, vrid: int, *lines: str, vips: tuple[str, ...] = (), interface: str = "eth0") -> str:
    body = "\n".join(f"    {line}" for line in lines)
    addresses = "\n".join(f"        {vip}" for vip in vips or (f"198.51.100.{vrid}",))
    return (
        f"vrrp_instance {name} {{\n    interface {interface}\n    virtual_router_id {vrid}\n{body}\n"
        f"    virtual_ipaddress {{\n{addresses}\n    }}\n}}\n"
    )


def errors_and_warnings(files, text: str) -> list[str]:
    return messages(files.load(text))


def test_a_clean_config_has_no_findings(files):
    text = instance("A", 1) + instance("B", 2) + instance("C", 1, interface="eth1", vips=("203.0.113.1",))
    assert errors_and_warnings(files, text) == []


def test_vrid_unique_per_interface_and_family(files):
    text = instance("A", 1) + instance("B", 1, vips=("198.51.100.9",))
    text += instance("V6", 1, "version 3", vips=("2001:db8::1",))  # same VRID, other family: fine
    assert errors_and_warnings(files, text) == [
        "9: error: vrrp_instance B: virtual_router_id 1 on eth0 (IPv4) is also used by vrrp_instance A at "
        f"{files.root}/keepalived.conf:1"
    ]


def test_duplicate_vips_are_warnings_as_keepalived_accepts_them(files):
    text = instance("A", 1, vips=("198.51.100.5/24", "198.51.100.5")) + instance(
        "B", 2, vips=("198.51.100.5",)
    )
    found = errors_and_warnings(files, text)
    assert found[0].startswith(
        "7: warning: vrrp_instance A: virtual address 198.51.100.5 is also configured at"
    )
    assert found[0].endswith(":6 in the same instance")
    assert found[1].startswith("15: warning: vrrp_instance B: virtual address 198.51.100.5")
    assert found[1].endswith("(vrrp_instance A)")


def test_duplicate_names(files):
    text = instance("A", 1) + instance("A", 2) + 'vrrp_script s {\n script "/bin/true"\n}\n' * 2
    result = files.load(text)
    found = messages(result)
    assert found[0].startswith("20: warning: s is already defined at")  # keepalived: the first is used
    assert found[0].endswith(":17; the first one is used (as keepalived)")
    assert found[1].startswith("9: error: vrrp_instance A is already defined at")


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (("advert_int 0.5",), "1: error: vrrp_instance A: advert_int 0.5 must be 1..255 seconds for VRRPv2"),
        (
            ("advert_int 1.5",),
            "1: warning: vrrp_instance A: VRRPv2 advert_int is whole seconds; 1.5 is rounded",
        ),
        (
            ("version 3", "advert_int 41"),
            "1: error: vrrp_instance A: advert_int 41 must be 0.01..40.95 s for VRRPv3",
        ),
        (
            ("version 3", "advert_int 0.005"),
            "1: error: vrrp_instance A: advert_int 0.005 must be 0.01..40.95 s for VRRPv3",
        ),
        (
            ("version 3", "advert_int 0.015"),
            "1: warning: vrrp_instance A: VRRPv3 advert_int has centisecond resolution; rounded",
        ),
        (
            ("priority 255",),
            "1: warning: vrrp_instance A: priority 255 means address owner; it starts as MASTER, not BACKUP",
        ),
        (
            ("state MASTER", "nopreempt"),
            "1: warning: vrrp_instance A: nopreempt needs state BACKUP; with MASTER it is ignored "
            "(keepalived clears it)",
        ),
        (
            ("authentication {", "    auth_type PASS", "}"),
            "1: error: vrrp_instance A: authentication needs both auth_type and auth_pass",
        ),
        (
            ("version 3", "authentication {", "    auth_type PASS", "    auth_pass x", "}"),
            "1: warning: vrrp_instance A: authentication is VRRPv2 only; ignored with version 3",
        ),
        (
            ("strict_mode", "version 3", "accept", "preempt_delay 5"),
            "1: error: vrrp_instance A: vrrp_strict does not allow preempt_delay",
        ),
    ],
)
def test_per_instance_rules(files, lines, expected):
    assert errors_and_warnings(files, instance("A", 1, *lines)) == [expected]


def test_ipv6_instances_use_version_3_unless_told_2_and_families_must_not_mix(files):
    result = files.load(instance("A", 1, vips=("2001:db8::1",)))  # keepalived switches to v3 itself
    assert messages(result) == []
    assert result.config.effective_version(result.config.vrrp_instances[0]) == 3
    assert errors_and_warnings(files, instance("A", 1, "version 2", vips=("2001:db8::1",))) == [
        "1: error: vrrp_instance A: IPv6 needs VRRP version 3 (set version 3)"
    ]
    found = errors_and_warnings(files, instance("A", 1, vips=("198.51.100.1", "2001:db8::1")))
    assert found == [
        "7: error: vrrp_instance A: 2001:db8::1 is IPv6 but the instance is IPv4; "
        "put it in virtual_ipaddress_excluded"
    ]


def test_unicast_peer_rules(files):
    own = instance(
        "A",
        1,
        "unicast_src_ip 198.51.100.1",
        "unicast_peer {",
        "    198.51.100.1",
        "    198.51.100.2",
        "    198.51.100.2",
        "}",
    )
    assert errors_and_warnings(files, own) == [
        "1: warning: vrrp_instance A: unicast_peer lists our own unicast_src_ip 198.51.100.1",
        "1: warning: vrrp_instance A: unicast_peer lists an address twice",
    ]
    mixed = instance("A", 1, "unicast_src_ip 198.51.100.1", "unicast_peer {", "    2001:db8::2", "}")
    assert "unicast_src_ip and unicast_peer mix IPv4 and IPv6" in errors_and_warnings(files, mixed)[0]


def test_empty_unicast_peer_block_is_never_silent(files):
    found = errors_and_warnings(files, instance("A", 1, "unicast_peer {", "}"))
    assert found == ["4: error: unicast_peer: empty block; the instance would silently use multicast"]


def test_references_must_resolve(files):
    text = instance(
        "A", 1, "track_script {", "    missing_script", "}", "track_file {", "    missing_file", "}"
    )
    text += "vrrp_sync_group G {\n    group {\n        A\n        NOPE\n    }\n}\n"
    text += "vrrp_sync_group H {\n    group {\n        A\n    }\n}\n"
    assert errors_and_warnings(files, text) == [
        "5: error: vrrp_instance A: track_script 'missing_script' is not a defined vrrp_script",
        "8: error: vrrp_instance A: track_file 'missing_file' is not a defined track_file",
        "14: error: vrrp_sync_group G: 'NOPE' is not a defined vrrp_instance",
        "20: warning: vrrp_sync_group H: only one instance; a sync group needs at least two",
        "20: error: vrrp_sync_group H: vrrp_instance A is already in vrrp_sync_group G at "
        f"{files.root}/keepalived.conf:14",
    ]


def test_a_label_not_starting_with_the_device_is_warned_about(files):
    found = errors_and_warnings(files, instance("A", 1, vips=("198.51.100.1 label vip0",)))
    assert found == [
        "6: warning: vrrp_instance A: label 'vip0' does not start with the interface name 'eth0'; "
        "keepalived accepts it but the kernel refuses such an address"
    ]


def test_virtual_server_rules(files):
    text = """
    virtual_server 203.0.113.1 80 {
        lb_kind DR
        real_server 198.51.100.1 80 {
        }
        real_server 198.51.100.1 80 {
        }
        real_server 198.51.100.2 8080 {
            HTTP_GET {
            }
            MISC_CHECK {
            }
            FILE_CHECK {
                track_file nope
            }
        }
    }
    virtual_server 203.0.113.1 80 {
    }
    virtual_server group NOGROUP {
    }
    virtual_server fwmark 3 {
        protocol TCP
    }
    """
    assert errors_and_warnings(files, text) == [
        "22: warning: virtual_server fwmark: protocol is ignored for fwmark services",
        "20: warning: virtual_server group NOGROUP: 'NOGROUP' is not a defined virtual_server_group; "
        "nothing is served (as keepalived)",
        f"18: error: virtual_server 203.0.113.1 80 TCP is already defined at {files.root}/keepalived.conf:2",
        "6: error: virtual_server [203.0.113.1]:80: real_server 198.51.100.1 80 is already defined at "
        f"{files.root}/keepalived.conf:4",
        "8: warning: virtual_server [203.0.113.1]:80: direct routing cannot change the port (8080 here)",
        "9: error: virtual_server [203.0.113.1]:80: HTTP_GET needs at least one url { }",
        "11: error: virtual_server [203.0.113.1]:80: MISC_CHECK needs misc_path",
        "13: error: virtual_server [203.0.113.1]:80: FILE_CHECK track_file 'nope' is not defined",
        "18: warning: virtual_server [203.0.113.1]:80: no real_server",
        "22: warning: virtual_server FWM 3: no real_server",
    ]


def test_smtp_alert_without_server(files):
    assert errors_and_warnings(files, instance("A", 1, "smtp_alert")) == [
        "1: warning: smtp_alert is on but global_defs has no smtp_server"
    ]


@pytest.mark.parametrize(
    "lines",
    [
        ("no_accept",),
        ("strict_mode on",),
        ("strict_mode on", "version 3", "accept"),
        ("use_vmac vrrp.7", "vmac_xmit_base"),
    ],
)
def test_vip_protection_and_vmac_are_carried_out_so_not_warned(files, lines):
    assert errors_and_warnings(files, instance("A", 7, *lines)) == []


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (("authentication {", "auth_type PASS", "auth_pass x", "}"), "does not allow authentication"),
        (("state MASTER",), "needs state MASTER exactly when priority is 255 (address owner)"),
        (("priority 255",), "needs state MASTER exactly when priority is 255 (address owner)"),
        (("preempt_delay 5",), "does not allow preempt_delay"),
        (
            ("garp_lower_prio_repeat 2",),
            "does not allow garp_lower_prio_repeat (no GARP answers a lower priority)",
        ),
        (("garp_lower_prio_delay 2",), "does not allow garp_lower_prio_delay"),
        (("lower_prio_no_advert false",), "does not allow lower_prio_no_advert off"),
        (("higher_prio_send_advert",), "does not allow higher_prio_send_advert"),
        (("down_timer_adverts 2",), "does not allow down_timer_adverts other than 3"),
        (("use_vmac", "vmac_xmit_base"), "does not allow vmac_xmit_base"),
        (("version 2", "accept"), "does not allow accept with VRRP version 2 (RFC 3768 has no Accept_Mode)"),
    ],
)
def test_strict_mode_rules_are_keepalived_s(files, lines, expected):
    """Each is a configuration error for keepalived 2.2.7 -t under vrrp_strict (exit 5) too."""
    found = errors_and_warnings(files, instance("A", 7, "strict_mode on", *lines))
    assert f"1: error: vrrp_instance A: vrrp_strict {expected}" in found, found


def test_strict_mode_ipv6_needs_a_link_local_first_vip(files):
    text = instance("A", 7, "strict_mode on", "version 3", vips=("2001:db8::7/64",))
    assert errors_and_warnings(files, text) == [
        "1: error: vrrp_instance A: vrrp_strict needs a link-local first IPv6 VIP, not 2001:db8::7"
    ]
    assert (
        errors_and_warnings(
            files, instance("B", 7, "strict_mode on", "version 3", vips=("fe80::7/64", "2001:db8::7"))
        )
        == []
    )


def test_not_carried_out_is_said_at_the_line(files):
    """Keywords tandemd reads without acting on them are warned about where they are written."""
    text = (
        "global_defs {\n    vrrp_iptables IN OUT\n    vrrp_priority -5\n    max_auto_priority 10\n}\n"
        "static_rules {\n    from 198.51.100.7 table custom priority 10\n}\n"
        + instance(
            "A",
            1,
            "virtual_routes {",
            "    local 203.0.113.0/24",
            "    203.0.114.0/24 via 198.51.100.1 table custom mtu 1400",
            "}",
            vips=("198.51.100.1/32 peer 198.51.100.2",),
        )
    )
    said = errors_and_warnings(files, text)
    assert [m for m in said if "deprecated" not in m] == [
        "1: warning: vrrp_iptables: tandemd protects VIPs with nftables (table inet tandem_vrrp); these "
        "iptables chains are not used",
        "1: warning: max_auto_priority: tandemd does not raise its processes to realtime scheduling when "
        "they run late; set vrrp_rt_priority / checker_rt_priority for realtime scheduling",
        "7: warning: static_rules: table 'custom' by name is not looked up in rt_tables; this rule is not "
        "added",
        "13: warning: vrrp_instance A: virtual_routes: 203.0.113.0/24: route type local is not carried "
        "out yet: added as a unicast route",
        "14: warning: vrrp_instance A: virtual_routes: 203.0.114.0/24: table 'custom' by name is not looked "
        "up: the route goes to the main table",
        "14: warning: vrrp_instance A: virtual_routes: 203.0.114.0/24: route options not carried out "
        "yet: mtu",
    ]
