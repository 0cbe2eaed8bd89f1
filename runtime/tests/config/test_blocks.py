"""Every block and keyword lands in the typed model; unknown and unsupported keywords are reported."""

from __future__ import annotations

from dataclasses import replace
from ipaddress import ip_address, ip_interface, ip_network

from config_helpers import MINIMAL_INSTANCE, messages
from tandem.config import load_config_text
from tandem.config.dump import dump_config
from tandem.config.model import (
    DnsCheck,
    FileCheck,
    GlobalDefs,
    HttpCheck,
    MiscCheck,
    SmtpCheck,
    TcpCheck,
    UdpCheck,
)

FULL_VRRP = """
global_defs {
    router_id lb1
    notification_email {
        ops@example.com
        oncall@example.com
    }
    notification_email_from lb1@example.com
    smtp_server 198.51.100.25 2525
    smtp_helo_name lb1.example.com
    smtp_connect_timeout 12
    smtp_alert_vrrp off
    script_user keepalived_script staff
    enable_script_security
    vrrp_version 3
    vrrp_mcast_group4 224.0.0.19
    vrrp_garp_master_delay 2
    vrrp_garp_master_repeat 3
    vrrp_garp_master_refresh 60
    vrrp_garp_master_refresh_repeat 2
    vrrp_garp_lower_prio_delay 1
    vrrp_garp_lower_prio_repeat 1
    vrrp_garp_interval 0.001
    vrrp_gna_interval 0.002
    vrrp_skip_check_adv_addr
    vrrp_check_unicast_src
    vrrp_lower_prio_no_advert true
    vrrp_higher_prio_send_advert
    max_auto_priority 50
    lvs_timeouts tcp 900 udp 60
}
vrrp_script chk_haproxy {
    script "/usr/bin/pgrep -x haproxy"
    interval 2
    timeout 3
    weight -20 reverse
    rise 2
    fall 3
    user nobody nogroup
    init_fail
}
track_file tf_main {
    file /run/tandem/main.weight
    weight -5
    init_file 10 overwrite
}
vrrp_track_file tf_old {
    file /run/tandem/old.weight
}
vrrp_instance VI_1 {
    state MASTER
    interface eth0
    virtual_router_id 51
    priority 150
    advert_int 0.5
    nopreempt
    preempt_delay 30
    unicast_src_ip 198.51.100.1
    unicast_peer {
        198.51.100.2
        198.51.100.3 min_ttl 250
    }
    virtual_ipaddress {
        198.51.100.100/24 dev eth0 label eth0:vip scope global brd 198.51.100.255
        198.51.100.101
    }
    virtual_ipaddress_excluded {
        2001:db8::100/64 dev eth1 no_track
    }
    virtual_routes {
        src 198.51.100.100 to 203.0.113.0/24 via 198.51.100.254 dev eth0 metric 10 table 100
        blackhole 203.0.113.128/25
    }
    virtual_rules {
        from 198.51.100.0/24 table 100 priority 100
        to 203.0.113.0/24 goto 200 priority 150 fwmark 3
    }
    track_interface {
        eth1 weight -10
        eth2
    }
    track_script {
        chk_haproxy weight 10
    }
    track_file {
        tf_main
    }
    notify_master "/etc/tandem/notify.sh master" root
    notify_backup /etc/tandem/backup.sh
    notify_fault /etc/tandem/fault.sh
    notify_stop /etc/tandem/stop.sh
    notify /etc/tandem/any.sh
    smtp_alert
    garp_master_delay 1
    garp_master_repeat 2
    garp_master_refresh 10
    garp_master_refresh_repeat 3
    garp_lower_prio_delay 4
    garp_lower_prio_repeat 5
    garp_interval 0.01
    gna_interval 0.02
    lower_prio_no_advert
    higher_prio_send_advert off
    use_vmac vrrp.51
    vmac_xmit_base
    no_accept
    dont_track_primary
    skip_check_adv_addr
    check_unicast_src
    strict_mode off
}
vrrp_instance VI_2 {
    interface eth0
    virtual_router_id 52
    version 2
    authentication {
        auth_type PASS
        auth_pass secret
    }
    accept
    virtual_ipaddress {
        198.51.100.102
    }
}
vrrp_instance VI_6 {
    interface eth0
    virtual_router_id 52
    native_ipv6
    virtual_ipaddress {
        2001:db8::1/64
    }
}
vrrp_sync_group G1 {
    group {
        VI_1
        VI_2
    }
    notify_master /etc/tandem/group-master.sh
    track_script {
        chk_haproxy
    }
    global_tracking
    smtp_alert
}
"""


def test_global_defs_every_key(files):
    result = files.load(FULL_VRRP)
    assert result.config, messages(result)
    g = result.config.global_defs
    assert g.router_id == "lb1"
    assert g.notification_email == ("ops@example.com", "oncall@example.com")
    assert (g.smtp_server, g.smtp_port, g.smtp_helo_name, g.smtp_connect_timeout) == (
        "198.51.100.25",
        2525,
        "lb1.example.com",
        12,
    )
    assert (g.script_user, g.script_group, g.enable_script_security) == ("keepalived_script", "staff", True)
    assert (g.vrrp_version, g.vrrp_strict, str(g.vrrp_mcast_group4)) == (3, False, "224.0.0.19")
    assert (g.vrrp_garp_master_delay, g.vrrp_garp_master_repeat, g.vrrp_garp_master_refresh) == (2, 3, 60)
    assert (
        g.vrrp_garp_master_refresh_repeat,
        g.vrrp_garp_lower_prio_delay,
        g.vrrp_garp_lower_prio_repeat,
    ) == (2, 1, 1)
    assert (g.vrrp_garp_interval, g.vrrp_gna_interval) == (0.001, 0.002)
    assert g.vrrp_skip_check_adv_addr and g.vrrp_check_unicast_src and g.vrrp_lower_prio_no_advert
    assert g.vrrp_higher_prio_send_advert and g.smtp_alert_vrrp is False
    assert g.max_auto_priority == 50 and g.lvs_timeouts == (("tcp", 900), ("udp", 60))


def test_scripts_and_track_files(files):
    config = files.load(FULL_VRRP).config
    script = config.script("chk_haproxy")
    assert script.script.argv == ("/usr/bin/pgrep", "-x", "haproxy")
    assert (script.script.user, script.script.group) == ("nobody", "nogroup")
    assert (script.interval, script.timeout, script.weight, script.weight_reverse) == (2, 3, -20, True)
    assert (script.rise, script.fall, script.init_fail) == (2, 3, True)
    main, old = config.track_files
    assert (main.name, main.file, main.weight, main.init_file, main.init_file_overwrite) == (
        "tf_main",
        "/run/tandem/main.weight",
        -5,
        10,
        True,
    )
    assert (old.name, old.weight, old.init_file) == ("tf_old", 1, None)


def test_vrrp_instance_every_key(files):
    result = files.load(FULL_VRRP)
    vi = result.config.instance("VI_1")
    assert (vi.state, vi.interface, vi.virtual_router_id, vi.priority, vi.advert_int) == (
        "MASTER",
        "eth0",
        51,
        150,
        0.5,
    )
    assert vi.nopreempt and vi.preempt_delay == 30 and vi.version is None
    assert result.config.effective_version(vi) == 3
    assert vi.unicast_src_ip == ip_address("198.51.100.1")
    assert vi.unicast_peers == (ip_address("198.51.100.2"), ip_address("198.51.100.3"))
    first, second = vi.virtual_ipaddresses
    assert first.address == ip_interface("198.51.100.100/24")
    assert (first.dev, first.label, first.scope, str(first.brd)) == (
        "eth0",
        "eth0:vip",
        "global",
        "198.51.100.255",
    )
    assert second.address == ip_interface("198.51.100.101/32") and second.dev is None
    assert vi.virtual_ipaddresses_excluded[0].no_track
    route, blackhole = vi.virtual_routes
    assert route.destination == ip_network("203.0.113.0/24") and route.via == ip_address("198.51.100.254")
    assert (str(route.src), route.dev, route.metric, route.table) == ("198.51.100.100", "eth0", 10, "100")
    assert (blackhole.type, str(blackhole.destination)) == ("blackhole", "203.0.113.128/25")
    rule_from, rule_to = vi.virtual_rules
    assert (str(rule_from.from_), rule_from.table, rule_from.priority) == ("198.51.100.0/24", "100", 100)
    assert (rule_to.action, rule_to.fwmark) == ("goto 200", 3)
    assert [(t.name, t.weight) for t in vi.track_interfaces] == [("eth1", -10), ("eth2", 0)]
    assert [(t.name, t.weight) for t in vi.track_scripts] == [("chk_haproxy", 10)]
    assert [(t.name, t.weight) for t in vi.track_files] == [("tf_main", None)]
    assert vi.notify.master.argv == ("/etc/tandem/notify.sh", "master") and vi.notify.master.user == "root"
    assert (
        vi.notify.backup.command == "/etc/tandem/backup.sh" and vi.notify.any.command == "/etc/tandem/any.sh"
    )
    assert vi.notify.fault and vi.notify.stop and vi.smtp_alert
    assert (vi.garp_master_delay, vi.garp_master_repeat, vi.garp_master_refresh) == (1, 2, 10)
    assert (vi.garp_master_refresh_repeat, vi.garp_lower_prio_delay, vi.garp_lower_prio_repeat) == (3, 4, 5)
    assert (vi.garp_interval, vi.gna_interval) == (0.01, 0.02)
    assert vi.lower_prio_no_advert and vi.higher_prio_send_advert is False
    assert (vi.use_vmac, vi.vmac_name, vi.vmac_xmit_base) == (True, "vrrp.51", True)
    assert vi.accept is False and vi.dont_track_primary and vi.strict_mode is False
    assert vi.skip_check_adv_addr and vi.check_unicast_src
    lines = FULL_VRRP.splitlines()
    assert vi.pos.line == lines.index("vrrp_instance VI_1 {") + 1
    assert vi.track_scripts[0].pos.line == lines.index("        chk_haproxy weight 10") + 1


def test_defaults_are_keepalived_defaults(files):
    config = files.load(MINIMAL_INSTANCE).config
    vi = config.vrrp_instances[0]
    assert (vi.state, vi.priority, vi.advert_int, config.effective_version(vi)) == ("BACKUP", 100, 1.0, 2)
    g = config.global_defs
    assert (g.vrrp_garp_master_delay, g.vrrp_garp_master_repeat, g.vrrp_garp_master_refresh) == (5, 5, 0)
    assert str(g.vrrp_mcast_group6) == "ff02::12" and vi.accept is None and vi.family == 4


def test_auth_accept_native_ipv6_and_sync_group(files):
    config = files.load(FULL_VRRP).config
    vi2 = config.instance("VI_2")
    assert (vi2.auth_type, vi2.auth_pass, vi2.accept, vi2.version) == ("PASS", "secret", True, 2)
    assert config.instance("VI_6").family == 6
    (group,) = config.vrrp_sync_groups
    assert group.group == ("VI_1", "VI_2") and group.sync_group_tracking_weight and group.smtp_alert
    assert group.notify.master.command == "/etc/tandem/group-master.sh"
    assert group.track_scripts[0].name == "chk_haproxy"


LVS = """
track_file rs_weight {
    file /run/rs.weight
}
virtual_server_group VSG {
    203.0.113.1 80
    203.0.113.3-10 8080
    2001:db8::1-ff 443
    fwmark 7
}
virtual_server 203.0.113.100 80 {
    delay_loop 6
    lb_algo wrr
    lb_kind DR
    protocol udp
    persistence_timeout 50
    persistence_granularity 255.255.255.0
    virtualhost www.example.com
    sorry_server 203.0.113.200 8080
    sorry_server_inhibit
    inhibit_on_failure
    quorum 2
    hysteresis 1
    quorum_up "/bin/echo up"
    quorum_down "/bin/echo down"
    alpha
    omega
    ha_suspend
    ops
    real_server 198.51.100.11 80 {
        weight 3
        inhibit_on_failure off
        notify_up /bin/up.sh
        notify_down /bin/down.sh
        lvs_method TUN
        HTTP_GET {
            url {
                path /health
                digest 9b3a0c85a887a256d6939da88aabd8cd
                status_code 200 301-302
                virtualhost api.example.com
            }
            connect_ip 198.51.100.12
            connect_port 8080
            bindto 198.51.100.1
            bind_port 4000
            connect_timeout 3
            retry 2
            delay_before_retry 1.5
            warmup 4
            delay_loop 10
            http_protocol 1.1
            enable_sni
            fast_recovery
        }
        SSL_GET {
            url {
                path /
            }
        }
        TCP_CHECK {
            connect_timeout 2
            nb_get_retry 4
        }
        MISC_CHECK {
            misc_path "/bin/check.sh arg"
            misc_timeout 5
            misc_dynamic
            user nobody
        }
        SMTP_CHECK {
            helo_name mx.example.com
        }
        DNS_CHECK {
            type aaaa
            name example.com
        }
        PING_CHECK {
            retry 1
        }
        UDP_CHECK {
            payload 0a0b
            require_reply 0a
            min_reply_length 1
            max_reply_length 20
        }
        FILE_CHECK {
            track_file rs_weight
            weight 10
        }
    }
}
virtual_server fwmark 7 {
    lvs_sched sh
    lvs_method NAT
    real_server 198.51.100.20 {
        TCP_CHECK {
        }
    }
}
virtual_server group VSG {
    real_server 198.51.100.21 80 {
    }
}
"""


def test_virtual_servers_real_servers_and_every_checker(files):
    result = files.load(LVS)
    assert result.config, messages(result)
    group = result.config.virtual_server_groups[0]
    assert [(str(e.address), str(e.last), e.port, e.fwmark) for e in group.entries] == [
        ("203.0.113.1", "None", 80, None),
        ("203.0.113.3", "203.0.113.10", 8080, None),
        ("2001:db8::1", "2001:db8::ff", 443, None),
        ("None", "None", None, 7),
    ]
    vs, fwm, grouped = result.config.virtual_servers
    assert (vs.label, vs.lvs_sched, vs.lvs_method, vs.protocol, vs.delay_loop) == (
        "[203.0.113.100]:80",
        "wrr",
        "DR",
        "UDP",
        6,
    )
    assert (vs.persistence_timeout, str(vs.persistence_granularity), vs.virtualhost) == (
        50,
        "255.255.255.0",
        "www.example.com",
    )
    assert vs.sorry_server == (ip_address("203.0.113.200"), 8080) and vs.sorry_server_inhibit
    assert (vs.quorum, vs.hysteresis, vs.quorum_up.argv) == (2, 1, ("/bin/echo", "up"))
    assert vs.inhibit_on_failure and vs.alpha and vs.omega and vs.ha_suspend and vs.ops
    (real,) = vs.real_servers
    assert (str(real.address), real.port, real.weight, real.inhibit_on_failure, real.lvs_method) == (
        "198.51.100.11",
        80,
        3,
        False,
        "TUN",
    )
    assert real.notify_up.command == "/bin/up.sh" and real.notify_down.command == "/bin/down.sh"
    kinds = [c.kind for c in real.checkers]
    assert kinds == [
        "HTTP_GET",
        "SSL_GET",
        "TCP_CHECK",
        "MISC_CHECK",
        "SMTP_CHECK",
        "DNS_CHECK",
        "PING_CHECK",
        "UDP_CHECK",
        "FILE_CHECK",
    ]
    http, ssl, tcp, misc, smtp, dns, ping, udp, file_check = real.checkers
    assert isinstance(http, HttpCheck) and isinstance(ssl, HttpCheck)
    assert http.urls[0].status_code == (200, 301, 302) and http.urls[0].virtualhost == "api.example.com"
    assert (str(http.connect_ip), http.connect_port, str(http.bindto), http.bind_port) == (
        "198.51.100.12",
        8080,
        "198.51.100.1",
        4000,
    )
    assert (http.connect_timeout, http.retry, http.delay_before_retry, http.warmup, http.delay_loop) == (
        3,
        2,
        1.5,
        4,
        10,
    )
    assert http.http_protocol == "1.1" and http.enable_sni and http.fast_recovery
    assert isinstance(tcp, TcpCheck) and tcp.retry == 4 and tcp.connect_timeout == 2
    assert isinstance(misc, MiscCheck) and misc.misc_path.argv == ("/bin/check.sh", "arg")
    assert misc.misc_path.user == "nobody" and misc.misc_dynamic and misc.misc_timeout == 5
    assert isinstance(smtp, SmtpCheck) and smtp.helo_name == "mx.example.com"
    assert isinstance(dns, DnsCheck) and (dns.type, dns.name) == ("AAAA", "example.com")
    assert ping.retry == 1
    assert isinstance(udp, UdpCheck) and (udp.payload, udp.require_reply) == (b"\n\x0b", b"\n")
    assert (udp.min_reply_length, udp.max_reply_length) == (1, 20)
    assert isinstance(file_check, FileCheck) and (file_check.track_file, file_check.weight) == (
        "rs_weight",
        10,
    )
    assert (fwm.label, fwm.lvs_sched, fwm.real_servers[0].port) == ("FWM 7", "sh", None)
    assert grouped.label == "group VSG"


def test_misspelt_keyword_gets_did_you_mean_and_the_rest_of_the_block_survives(files):
    result = files.load(
        MINIMAL_INSTANCE.replace("interface eth0", "interfac eth0 {\n junk\n}\n interface eth0").replace(
            "virtual_router_id 51", "virtual_router_id 51\n    priorty 20\n    priority 20"
        )
    )
    assert messages(result) == [
        "3: error: unknown keyword 'interfac' in vrrp_instance; did you mean 'interface'?",
        "8: error: unknown keyword 'priorty' in vrrp_instance; did you mean 'priority'?",
    ]
    assert result.config is None


def test_unsupported_keepalived_keywords_are_warnings_not_unknown(files):
    result = files.load(
        """
    global_defs {
        enable_snmp_vrrp
        bfd_rt_priority 50
    }
    bfd_instance b1 {
        neighbor_ip 198.51.100.9
    }
    """
        + MINIMAL_INSTANCE.replace("interface eth0", "interface eth0\n    track_bfd {\n        b1\n    }")
    )
    assert result.config is not None
    assert messages(result) == [
        "3: warning: 'enable_snmp_vrrp' in global_defs is not supported yet; ignored",
        "4: warning: 'bfd_rt_priority' in global_defs is not supported yet; ignored",
        "6: warning: 'bfd_instance' in the top level is not supported yet; ignored",
        "12: warning: 'track_bfd' in vrrp_instance is not supported yet; ignored",
    ]


def test_bad_values_name_the_line_and_what_was_expected(files):
    result = files.load("""
    global_defs {
        vrrp_version 4
        smtp_connect_timeout nan
        enable_script_security maybe
    }
    vrrp_instance VI_1 {
        interface eth0
        virtual_router_id 300
        state PRIMARY
        priority
        advert_int 1e3
        virtual_ipaddress {
            198.51.100.300/24
            198.51.100.1/24 scope galaxy
        }
        nopreempt {
        }
        track_script chk
    }
    """)
    assert messages(result, "error") == [
        "3: error: vrrp_version: expected 2 or 3, got '4'",
        "4: error: smtp_connect_timeout: expected whole seconds 1..4294, got 'nan'",
        "9: error: virtual_router_id: expected an integer 1..255, got '300'",
        "10: error: state: expected MASTER or BACKUP, got 'PRIMARY'",
        "11: error: priority: expected an integer 1..255",
        "12: error: advert_int: expected seconds, got '1e3'",
        "14: error: virtual_ipaddress: expected an IP address with optional /prefix, got '198.51.100.300/24'",
        "15: error: virtual_ipaddress: expected a scope, got 'galaxy'",
        "17: error: nopreempt takes no { } block",
        "19: error: track_script needs a { } block",
        "7: error: vrrp_instance VI_1: missing virtual_router_id",
    ]


def test_repeated_keyword_warns_and_the_last_wins(files):
    result = files.load(
        MINIMAL_INSTANCE.replace("interface eth0", "priority 10\n    priority 20\n    interface eth0")
    )
    assert messages(result) == ["4: warning: priority repeats line 3; this one wins"]
    assert result.config.vrrp_instances[0].priority == 20


def test_block_without_name_and_missing_port(files):
    result = files.load("vrrp_instance {\n}\nvirtual_server 203.0.113.1 http {\n}\nvrrp_script s {\n}\n")
    assert messages(result, "error") == [
        "1: error: vrrp_instance: expected one name before {",
        "3: error: virtual_server: expected a port, got 'http'",
        "5: error: vrrp_script s: missing script",
    ]


def test_static_blocks_and_old_track_file_spelling(files):
    result = files.load("""
    static_ipaddress {
        198.51.100.50/24 dev eth1 scope link
    }
    static_routes {
        203.0.113.0/24 via 198.51.100.254 dev eth1
        default via 198.51.100.1
    }
    static_rules {
        from 198.51.100.0/24 table 7 preference 10
    }
    vrrp_track_file old {
        file /run/old
    }
    """)
    config = result.config
    assert (str(config.static_ipaddresses[0].address), config.static_ipaddresses[0].scope) == (
        "198.51.100.50/24",
        "link",
    )
    assert [str(r.destination) for r in config.static_routes] == ["203.0.113.0/24", "0.0.0.0/0"]
    assert (config.static_rules[0].table, config.static_rules[0].priority) == ("7", 10)
    said = [m for m in messages(result) if "tandemd" not in m]  # not carried out: test_not_carried_out
    assert said == ["12: warning: vrrp_track_file is the old spelling of track_file"]


def test_tandem_extension_keys_smtp_auth_and_metrics_listen(files):
    result = files.load("""
    global_defs {
        smtp_server 198.51.100.25 587
        smtp_starttls
        smtp_auth_user alerts
        smtp_auth_password_file /etc/tandem/smtp.pass
        tandem_metrics_listen [2001:db8::1]:9650
    }
    """)
    assert messages(result) == []
    g = result.config.global_defs
    assert (g.smtp_starttls, g.smtp_auth_user, g.smtp_auth_password_file) == (
        True,
        "alerts",
        "/etc/tandem/smtp.pass",
    )
    assert g.metrics_listen == ("2001:db8::1", 9650)
    v4 = files.load("global_defs {\n tandem_metrics_listen 127.0.0.1:09650\n}").config.global_defs
    assert (v4.tandem_metrics_listen, v4.metrics_listen) == ("127.0.0.1:9650", ("127.0.0.1", 9650))
    assert GlobalDefs().metrics_listen is None  # off by default
    again = load_config_text(dump_config(result.config), "dumped.conf").config.global_defs
    assert replace(again, pos=g.pos) == g


def test_tandem_extension_keys_refuse_bad_values(files):
    result = files.load("""
    global_defs {
        tandem_metrics_listen 9650
        smtp_starttls perhaps
        tandem_metrics_listen 198.51.100.300:80
        tandem_metrics_listen 127.0.0.1:http
    }
    """)
    errors = messages(result, "error")
    assert errors[0] == "3: error: tandem_metrics_listen: expected ADDRESS:PORT"
    assert errors[1] == "4: error: smtp_starttls: expected on|off|true|false|yes|no, got 'perhaps'"
    assert errors[2].startswith("5: error: tandem_metrics_listen: expected an IP address")
    assert errors[3].startswith("6: error: tandem_metrics_listen: expected a port")
