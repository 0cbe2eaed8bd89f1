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
            connect_timeout 3
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
    assert (tcp.delay_loop, tcp.retry, tcp.connect_timeout) == (6, 2, 3)
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


def test_scheduler_flags_and_tunnels_reach_the_plane_s_service():
    """sh/mh flags and TUN type gue/gre with port and checksum, as keepalived passes them to IPVS: a
    real server without lvs_method of its own (and the sorry server) takes the virtual server's tunnel."""
    (vs,) = params("""
virtual_server 203.0.113.10 80 {
    protocol TCP
    lb_algo mh
    mh-port
    mh-fallback
    flag-3
    lb_kind TUN type gue port 6080 remcsum
    sorry_server 198.51.100.9 80
    real_server 198.51.100.1 80 {
    }
    real_server 198.51.100.2 80 {
        lvs_method TUN type gre csum
    }
    real_server 198.51.100.3 80 {
        lvs_method TUN
    }
    real_server 198.51.100.4 80 {
        lvs_method NAT
    }
}
""")
    inherited, gre, ipip, nat = (rs.destination(rs.weight) for rs in vs.real_servers)
    (service,) = vs.services((inherited,))
    assert service.scheduler == "mh" and service.scheduler_flags == ("mh-port", "mh-fallback", "flag-3")
    tunnel = (inherited.tunnel_type, inherited.tunnel_port, inherited.tunnel_flags)
    assert (inherited.method, *tunnel) == ("TUN", "gue", 6080, ("remcsum",))
    assert (gre.tunnel_type, gre.tunnel_port, gre.tunnel_flags) == ("gre", None, ("csum",))
    assert (ipip.tunnel_type, ipip.tunnel_flags) == ("ipip", ())
    assert (nat.method, nat.tunnel_type, nat.port) == ("NAT", None, 80)
    sorry = vs.sorry_server
    assert (sorry.method, sorry.tunnel_type, sorry.tunnel_port, sorry.port) == ("TUN", "gue", 6080, None)


def test_sorry_server_lvs_method_is_the_sorry_server_s_own():
    """sorry_server_lvs_method (with lvs_method's TUN options) replaces the virtual server's method for
    the sorry server only; a NAT sorry server keeps its port. Without a sorry_server it is ignored with
    a warning, as keepalived ("sorry_server forwarding used without sorry_server")."""
    nat, gre = params("""
virtual_server 203.0.113.10 80 {
    lb_kind DR
    sorry_server 198.51.100.9 8080
    sorry_server_lvs_method NAT
    real_server 198.51.100.1 80 {
    }
}
virtual_server 203.0.113.11 80 {
    sorry_server 198.51.100.9 8080
    sorry_server_lvs_method TUN type gre csum
    real_server 198.51.100.1 80 {
    }
}
""")
    assert nat.sorry_server == Destination(ip_address("198.51.100.9"), 8080, 1, "NAT")
    assert nat.real_servers[0].destination(1).method == "DR"
    sorry = gre.sorry_server
    assert (sorry.method, sorry.tunnel_type, sorry.tunnel_flags, sorry.port) == (
        "TUN",
        "gre",
        ("csum",),
        None,
    )
    assert gre.real_servers[0].destination(1).method == "NAT"
    loaded = load("virtual_server 203.0.113.12 80 {\n    sorry_server_lvs_method DR\n}\n")
    assert any("sorry_server_lvs_method without sorry_server" in f.message for f in loaded.findings)
    assert loaded.config.virtual_servers[0].sorry_server_lvs_method is None


def test_ip_family_is_a_fwmark_service_s_family():
    """ip_family inet6 makes an IPv6 fwmark service even over IPv4 TUN real servers (keepalived lets a
    tunnelled real server be of the other family); against a virtual server's address it is ignored."""
    (fwmark,) = params("""
virtual_server fwmark 7 {
    ip_family inet6
    lb_kind TUN
    real_server 198.51.100.1 {
    }
}
""")
    assert fwmark.keys == (ServiceKey(6, fwmark=7),)
    loaded = load("virtual_server 203.0.113.12 80 {\n    ip_family inet6\n}\n")
    assert any("ip_family inet6: not the address's family" in f.message for f in loaded.findings)
    assert lb_params(loaded.config)[0].keys[0].family == 4


def test_a_service_of_every_port_is_persistent_360_s_as_keepalived():
    every, given, granular = params("""
virtual_server 203.0.113.10 {
    protocol TCP
    real_server 198.51.100.1 {
    }
}
virtual_server 203.0.113.11 {
    protocol TCP
    persistence_timeout 20
    real_server 198.51.100.1 {
    }
}
virtual_server 203.0.113.12 80 {
    protocol TCP
    persistence_granularity 255.255.255.0
    real_server 198.51.100.1 80 {
    }
}
""")
    assert every.keys == (ServiceKey(4, "TCP", ip_address("203.0.113.10"), None),)
    assert every.name == "[203.0.113.10]:0" and every.persistence_timeout == 360
    assert (given.persistence_timeout, granular.persistence_timeout) == (20, 360)
    (rs,) = every.real_servers
    assert (rs.port, rs.id) == (None, "[198.51.100.1]:0")
