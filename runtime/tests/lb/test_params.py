"""lb_params: inheritance checker → real_server → virtual_server → keepalived's defaults, groups, ids."""

from __future__ import annotations

from ipaddress import ip_address

from tandem.config import load_config_text
from tandem.lb.params import lb_params
from tandem.lb.plane import Destination, ServiceKey


def load(text: str):
    result = load_config_text(text, "lb.conf")
    assert result.config is not None, [str(f) for f in result.errors]
    return result


def params(text: str):
    return lb_params(load(text).config)


def test_defaults_are_keepalived_s():
    (vs,) = params("""
virtual_server 203.0.113.10 80 {
    protocol TCP
    real_server 198.51.100.1 8080 {
        TCP_CHECK { }
        MISC_CHECK { misc_path /bin/true }
        DNS_CHECK { name example.org }
    }
}
""")
    assert vs.name == "[203.0.113.10]:80" and vs.scheduler == "wlc"
    assert vs.keys == (ServiceKey(4, "TCP", ip_address("203.0.113.10"), 80),)
    (rs,) = vs.real_servers
    assert (rs.id, rs.port, rs.weight, rs.method) == ("[198.51.100.1]:8080", 8080, 1, "NAT")
    assert rs.smtp_alert is True
    tcp, misc, dns = rs.checks
    assert (tcp.address, tcp.port) == (ip_address("198.51.100.1"), 8080)
    assert (tcp.delay_loop, tcp.retry, tcp.delay_before_retry, tcp.connect_timeout) == (60, 1, 1, 5)
    assert tcp.warmup == 60 and tcp.alpha is False  # warmup defaults to delay_loop
    assert misc.retry == 0
    assert (dns.retry, dns.delay_before_retry) == (3, 60)  # DNS_CHECK: 3 retries, delay_loop apart


def test_checker_inherits_from_real_server_then_virtual_server():
    (vs,) = params("""
virtual_server 203.0.113.10 80 {
    delay_loop 10
    retry 4
    connect_timeout 7
    delay_before_retry 3
    warmup 2
    alpha
    virtualhost vs.example
    real_server 198.51.100.1 80 {
        delay_loop 6
        retry 2
        virtualhost rs.example
        TCP_CHECK {
            connect_timeout 0
        }
        HTTP_GET {
            url { path / }
            delay_before_retry 9
            warmup 0
        }
    }
    real_server 198.51.100.2 80 {
        alpha off
        HTTP_GET {
            url { path / }
            virtualhost own.example
            retry 0
            connect_port 81
            connect_ip 198.51.100.9
        }
    }
}
""")
    one, two = vs.real_servers
    tcp, http = one.checks
    assert (tcp.delay_loop, tcp.retry, tcp.connect_timeout) == (6, 2, 1)
    assert (tcp.delay_before_retry, tcp.warmup) == (3, 2)
    assert tcp.alpha is True and one.alpha is True
    assert (http.delay_before_retry, http.warmup, http.virtualhost) == (9, 0, "rs.example")
    (own,) = two.checks
    assert (own.retry, own.delay_loop, own.connect_timeout, own.alpha) == (0, 10, 7, False)
    assert (own.address, own.port, own.virtualhost) == (ip_address("198.51.100.9"), 81, "own.example")


def test_groups_expand_ranges_and_fwmarks():
    (vs,) = params("""
virtual_server_group WEB {
    203.0.113.10-12 80
    2001:db8::1-2 443
    fwmark 7
}
virtual_server group WEB {
    protocol TCP
    sorry_server 198.51.100.200 8080
    real_server 198.51.100.1 80 { TCP_CHECK { } }
}
""")
    assert vs.name == "group WEB"
    assert [str(k) for k in vs.keys] == [
        "TCP [203.0.113.10]:80",
        "TCP [203.0.113.11]:80",
        "TCP [203.0.113.12]:80",
        "TCP [2001:db8::1]:443",
        "TCP [2001:db8::2]:443",
        "FWM 7",
    ]
    assert vs.sorry_server == Destination(ip_address("198.51.100.200"), 8080, 1, "NAT")
    assert len(vs.services(())) == 6


def test_quorum_and_hysteresis_are_kept_reachable():
    result = load("""
virtual_server 203.0.113.10 80 {
    quorum 10
    hysteresis 20
    real_server 198.51.100.1 80 {
        weight 3
    }
    real_server 198.51.100.2 80 {
        weight 2
    }
}
""")
    (vs,) = lb_params(result.config)
    assert (vs.quorum, vs.hysteresis) == (5, 4)
    warnings = [f"{f.line}: {f.message}" for f in result.findings if f.severity == "warning"]
    assert (
        "2: virtual_server [203.0.113.10]:80: quorum 10 exceeds the real servers' total weight 5; using 5"
        in warnings
    )
    assert "2: virtual_server [203.0.113.10]:80: hysteresis 20 >= quorum 5; using 4" in warnings


def test_check_ids_are_stable_and_change_with_the_checker():
    base = """
# a comment that moves lines
virtual_server 203.0.113.10 80 {
    delay_loop %s
    real_server 198.51.100.1 80 {
        weight %s
        TCP_CHECK { }
        TCP_CHECK { }
        HTTP_GET { url { path / } }
    }
}
"""
    ids = [c.id for c in params(base % (5, 1))[0].real_servers[0].checks]
    assert len(set(ids)) == 3  # two identical TCP_CHECKs are told apart
    moved = [c.id for c in params("\n\n" + base % (5, 2))[0].real_servers[0].checks]
    assert moved == ids  # other lines and other keys of the real server do not matter
    changed = [c.id for c in params(base % (6, 1))[0].real_servers[0].checks]
    assert not set(changed) & set(ids)  # an inherited value changed: every checker restarts


def test_dr_real_servers_keep_the_service_port_and_fwmark_family():
    (vs,) = params("""
virtual_server fwmark 5 {
    lvs_method DR
    ha_suspend
    real_server 2001:db8::5 80 { TCP_CHECK { } }
}
""")
    assert vs.keys == (ServiceKey(6, fwmark=5),)
    assert vs.real_servers[0].port is None and vs.ha_suspend is False  # keepalived: no ha_suspend on fwmarks
    assert vs.real_servers[0].checks[0].port == 80


def test_global_smtp_alert_and_plane():
    result = load("""
global_defs {
    smtp_alert_checker off
    tandem_lb_plane nftables
}
virtual_server 203.0.113.10 80 { real_server 198.51.100.1 80 { TCP_CHECK { } } }
""")
    (vs,) = lb_params(result.config)
    assert result.config.global_defs.tandem_lb_plane == "nftables"
    assert vs.smtp_alert is False and vs.real_servers[0].smtp_alert is False


def test_bad_plane_is_a_file_line_error():
    result = load_config_text("global_defs {\n  tandem_lb_plane xdp\n}\n", "lb.conf")
    assert result.config is None
    (error,) = result.errors
    assert (error.file, error.line) == ("lb.conf", 2) and "auto, ipvs or nftables" in error.message
