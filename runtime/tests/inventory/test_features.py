"""The runtime's features written in the inventory come out in each host's tandemd.conf, and what the
design asks of the hosts (shipped scripts, sysctls, the SMTP password) is in the plan."""

from __future__ import annotations

from inventory_cases import BASE_HOSTS
from tandem.config import load_config_text
from tandem.inventory import plan_inventory
from tandem.inventory.render import render_host
from tandem.inventory.report import redacted

DB = {
    "name": "db",
    "vrid": 51,
    "vips": ["198.51.100.50/24", {"address": "198.51.100.51/24", "label": "eth0:db", "scope": "global"}],
    "excluded_vips": ["2001:db8::50/64"],
    "members": ["lb1", "lb2"],
    "preempt": False,
    "preempt_delay": 5,
    "accept": True,
    "garp": {"master_delay": 2, "master_repeat": 3, "lower_prio_no_advert": True},
    "track_interfaces": ["eth1", {"name": "eth2", "weight": -60}],
    "track_files": [{"name": "maint", "file": "/run/maint", "weight": -60, "init_file": 0}],
    "track_processes": [{"name": "pg", "process": "postgres", "args": ["-D", "/var/lib/pg"], "weight": -60}],
    "track_scripts": [{"name": "chk", "src": "files/chk.sh", "args": "--fast", "weight": -60}],
    "virtual_routes": ["203.0.113.0/24 via 198.51.100.1"],
    "virtual_rules": ["from 198.51.100.50 table 100 priority 100"],
    "notify": {"master": {"src": "files/notify.sh"}, "deleted": "/bin/true"},
    "smtp_alert": True,
    "sync_group": "dbsync",
    "nonlocal_bind": True,
}
DB2 = {
    "name": "db2",
    "vrid": 52,
    "vips": ["198.51.100.52/24"],
    "members": ["lb1", "lb2"],
    "sync_group": "dbsync",
}
HTTP = {
    "name": "http",
    "vrrp_group": "db",
    "address": "198.51.100.50",
    "port": 80,
    "lvs_sched": "rr",
    "lvs_method": "NAT",
    "delay_loop": 5,
    "real_servers": [
        {
            "address": "203.0.113.10",
            "port": 8080,
            "weight": 2,
            "checkers": [
                {"HTTP_GET": {"connect_timeout": 3, "url": [{"path": "/health", "status_code": 200}]}},
                {"TCP_CHECK": {}},
                {"MISC_CHECK": {"misc_path": {"src": "files/chk_app.sh", "args": "8080"}, "misc_timeout": 5}},
                {"DNS_CHECK": {"name": "example.com.", "type": "A"}},
                {"PING_CHECK": None},
                {"SMTP_CHECK": {}},
                {"UDP_CHECK": {}},
            ],
        }
    ],
}
DNS_DR = {
    "name": "dns",
    "hosts": ["lb1"],
    "fwmark": 7,
    "lvs_method": "DR",
    "lb_algo": "wrr",
    "real_servers": [
        {"address": "203.0.113.20", "host": "rs1", "checkers": [{"TCP_CHECK": {"connect_port": 53}}]}
    ],
}
GLOBAL = {
    "mail": {
        "to": ["ops@example.com"],
        "from": "tandem@example.com",
        "server": "203.0.113.25",
        "port": 587,
        "starttls": True,
        "auth_user": "alerts",
        "auth_password": "m4il-pw",
    },
    "notify_fifo": "/run/tandem/notify.fifo",
    "enable_script_security": True,
}
HOSTS = {
    **BASE_HOSTS,
    "lb2": {**BASE_HOSTS["lb2"], "tandem_vrrp_overrides": {"db": {"interface": "eth0"}}},
    "rs1": {},
}


def _plan():
    return plan_inventory([DB, DB2], None, HOSTS, [HTTP, DNS_DR], GLOBAL)


def test_every_feature_reaches_the_config():
    plan = _plan()
    assert plan.errors == [], [str(f) for f in plan.errors]
    text = render_host(plan.hosts["lb1"], "lb1", {"router_id": "lb1"}).text
    config = load_config_text(text).config
    db = config.instance("db")
    assert (db.state, db.nopreempt, db.preempt_delay, db.accept) == ("BACKUP", True, 5.0, True)
    assert (db.garp_master_delay, db.garp_master_repeat, db.lower_prio_no_advert) == (2.0, 3, True)
    assert [(v.label, v.scope) for v in db.virtual_ipaddresses] == [(None, None), ("eth0:db", "global")]
    assert [str(v.address) for v in db.virtual_ipaddresses_excluded] == ["2001:db8::50/64"]
    assert [str(r.destination) for r in db.virtual_routes] == ["203.0.113.0/24"]
    assert db.virtual_rules[0].table == "100"
    assert [(t.name, t.weight) for t in db.track_interfaces] == [("eth1", 0), ("eth2", -60)]
    assert [t.name for t in db.track_files] == ["maint"] and [t.name for t in db.track_processes] == ["pg"]
    assert config.script("chk").script.command == "/etc/tandem/scripts/chk.sh --fast"
    assert (
        db.notify.master.command == "/etc/tandem/scripts/notify.sh"
        and db.notify.deleted.command == "/bin/true"
    )
    assert db.smtp_alert is True
    assert [(g.name, g.group) for g in config.vrrp_sync_groups] == [("dbsync", ("db", "db2"))]
    assert config.track_files[0].init_file == 0 and config.vrrp_track_processes[0].params == (
        "-D",
        "/var/lib/pg",
    )
    defs = config.global_defs
    assert (defs.smtp_server, defs.smtp_port, defs.smtp_starttls, defs.smtp_auth_user) == (
        "203.0.113.25",
        587,
        True,
        "alerts",
    )
    assert defs.smtp_auth_password_file == "/etc/tandem/smtp-password" and "m4il-pw" not in text
    assert (defs.notify_fifo, defs.enable_script_security) == ("/run/tandem/notify.fifo", True)
    http, dns = config.virtual_servers
    assert (http.lvs_sched, http.lvs_method, http.delay_loop) == ("rr", "NAT", 5.0)
    kinds = [c.kind for c in http.real_servers[0].checkers]
    assert kinds == [
        "HTTP_GET",
        "TCP_CHECK",
        "MISC_CHECK",
        "DNS_CHECK",
        "PING_CHECK",
        "SMTP_CHECK",
        "UDP_CHECK",
    ]
    assert http.real_servers[0].checkers[2].misc_path.command == "/etc/tandem/scripts/chk_app.sh 8080"
    assert (dns.fwmark, dns.lvs_method) == (7, "DR")
    lb2 = load_config_text(render_host(plan.hosts["lb2"], "lb2").text).config
    assert lb2.virtual_servers == (lb2.virtual_servers[0],)  # dns runs on lb1 only


def test_what_the_design_asks_of_the_hosts():
    plan = _plan()
    lb1 = plan.hosts["lb1"]
    assert lb1["files"] == [
        {"src": "files/chk.sh", "dest": "/etc/tandem/scripts/chk.sh", "mode": "0700"},
        {"src": "files/notify.sh", "dest": "/etc/tandem/scripts/notify.sh", "mode": "0700"},
        {"src": "files/chk_app.sh", "dest": "/etc/tandem/scripts/chk_app.sh", "mode": "0700"},
    ]
    assert lb1["sysctls"] == {"net.ipv4.ip_nonlocal_bind": 1, "net.ipv4.ip_forward": 1}
    assert plan.real_server_sysctls == {
        "rs1": {"net.ipv4.conf.all.arp_ignore": 1, "net.ipv4.conf.all.arp_announce": 2}
    }
    assert lb1["smtp_auth_password"] == "m4il-pw"
    assert redacted(plan.as_dict())["hosts"]["lb1"]["smtp_auth_password"] == "********"
    # the planned master is written as a backup (nopreempt) but still planned as master
    assert [i["state"] for i in lb1["instances"]] == ["MASTER", "MASTER"]


def test_a_script_running_as_another_user_is_readable_by_it():
    group = {**DB2, "sync_group": None, "track_scripts": [{"name": "c", "src": "f/c.sh", "user": "nobody"}]}
    del group["sync_group"]
    plan = plan_inventory([group], None, BASE_HOSTS)
    assert plan.hosts["lb1"]["files"] == [
        {"src": "f/c.sh", "dest": "/etc/tandem/scripts/c.sh", "mode": "0755"}
    ]


def test_per_host_values_from_host_vars():
    hosts = {
        **BASE_HOSTS,
        "lb1": {
            **BASE_HOSTS["lb1"],
            "tandem_vrrp_overrides": {"web": {"priority": 90, "unicast_src": "198.51.100.111"}},
        },
        "lb2": {
            **BASE_HOSTS["lb2"],
            "tandem_vrrp_overrides": {
                "web": {"priority": 200, "interface": "eth7", "unicast_src": "198.51.100.112"}
            },
        },
    }
    group = {
        "name": "web",
        "vrid": 51,
        "vips": ["198.51.100.100/24"],
        "members": ["lb1", "lb2"],
        "unicast": True,
    }
    plan = plan_inventory([group], None, hosts)
    assert plan.errors == []
    assert plan.instances[0]["master"] == "lb2"
    lb1, lb2 = plan.hosts["lb1"]["instances"][0], plan.hosts["lb2"]["instances"][0]
    assert (lb1["priority"], lb1["unicast_src"], lb1["interface"]) == (90, "198.51.100.111", "eth0")
    assert (lb2["priority"], lb2["interface"], lb2["unicast_peers"]) == (200, "eth7", ["198.51.100.111"])


def test_tandemd_t_refuses_a_vip_on_a_network_or_broadcast_address():
    """The rule the planner shares (tandem.config.checks.vip_address_problem), as tandemd -t applies it."""
    text = (
        "vrrp_instance web {\n interface eth0\n virtual_router_id 51\n"
        " virtual_ipaddress {\n  198.51.100.0/24\n  198.51.100.255/24\n  198.51.100.7/32\n }\n}\n"
    )
    errors = [f.message for f in load_config_text(text).errors]
    assert errors == [
        "vrrp_instance web: virtual address 198.51.100.0 is the network address of its own network "
        "198.51.100.0/24",
        "vrrp_instance web: virtual address 198.51.100.255 is the broadcast address of its own network "
        "198.51.100.0/24",
    ]


def test_false_is_off_also_for_keywords_that_read_no_value():
    """keepalived reads no value after alpha, nopreempt, enable_script_security...: 'off' after one is
    still on, so false is written as the keyword's absence."""
    group = {**DB2, "garp": {"lower_prio_no_advert": False}, "accept": False}
    del group["sync_group"]
    server = {**HTTP, "vrrp_group": "db2", "address": "198.51.100.52", "alpha": False, "omega": False}
    plan = plan_inventory([group], None, BASE_HOSTS, [server], {"enable_script_security": False})
    assert [f for f in plan.findings if "off" in f.message] == []
    config = load_config_text(render_host(plan.hosts["lb1"], "lb1").text).config
    assert config.global_defs.enable_script_security is False
    assert (config.virtual_servers[0].alpha, config.virtual_servers[0].omega) == (False, False)
    db2 = config.instance("db2")
    assert (db2.lower_prio_no_advert, db2.accept) == (False, False)


def test_vmac_unicast_ttl_notify_users_and_fifos_reach_the_config():
    vmac = {
        **DB2,
        "use_vmac": True,
        "vmac_xmit_base": True,
        "unicast": True,
        "unicast_ttl": 3,
        "notify": {
            "master": {"script": "/usr/local/bin/became master", "user": "nobody", "group": "nogroup"},
            "backup": {"src": "files/backup.sh", "args": "-q", "user": "nobody"},
            "fault": {"script": "/bin/true"},
        },
    }
    del vmac["sync_group"]
    named = {**DB2, "name": "named", "vrid": 53, "vips": ["198.51.100.53/24"], "use_vmac": "vmac53"}
    del named["sync_group"]
    global_settings = {
        "notify_fifo": "/run/tandem/all.fifo",
        "vrrp_notify_fifo": "/run/tandem/vrrp.fifo",
        "lvs_notify_fifo": "/run/tandem/lvs.fifo",
        "notify_fifo_script": {"src": "files/fifo.sh", "user": "nobody"},
        "vrrp_notify_fifo_script": "/usr/local/bin/vrrp-fifo",
    }
    plan = plan_inventory([vmac, named], None, BASE_HOSTS, None, global_settings)
    assert plan.errors == [], [str(f) for f in plan.errors]
    lb1 = plan.hosts["lb1"]
    assert lb1["instances"][0]["notify"] == {
        "backup": {"script": "/etc/tandem/scripts/backup.sh -q", "user": "nobody"},
        "fault": "/bin/true",
        "master": {"script": "/usr/local/bin/became master", "user": "nobody", "group": "nogroup"},
    }
    assert lb1["files"] == [
        {"src": "files/backup.sh", "dest": "/etc/tandem/scripts/backup.sh", "mode": "0755"},
        {"src": "files/fifo.sh", "dest": "/etc/tandem/scripts/fifo.sh", "mode": "0755"},
    ]
    text = render_host(lb1, "lb1").text
    config = load_config_text(text).config
    db2, other = config.instance("db2"), config.instance("named")
    assert (db2.use_vmac, db2.vmac_name, db2.vmac_xmit_base, db2.unicast_ttl) == (True, None, True, 3)
    assert (other.use_vmac, other.vmac_name, other.vmac_xmit_base) == (True, "vmac53", False)
    master, backup = db2.notify.master, db2.notify.backup
    assert (master.command, master.user, master.group) == (
        "/usr/local/bin/became master",
        "nobody",
        "nogroup",
    )
    assert (backup.command, backup.user, backup.group) == ("/etc/tandem/scripts/backup.sh -q", "nobody", None)
    defs = config.global_defs
    assert (defs.notify_fifo, defs.vrrp_notify_fifo, defs.lvs_notify_fifo) == (
        "/run/tandem/all.fifo",
        "/run/tandem/vrrp.fifo",
        "/run/tandem/lvs.fifo",
    )
    assert (defs.notify_fifo_script.command, defs.notify_fifo_script.user) == (
        "/etc/tandem/scripts/fifo.sh",
        "nobody",
    )
    assert defs.vrrp_notify_fifo_script.command == "/usr/local/bin/vrrp-fifo"
    # lb2 gets the FIFO script too: it is design-wide
    assert {"src": "files/fifo.sh", "dest": "/etc/tandem/scripts/fifo.sh", "mode": "0755"} in plan.hosts[
        "lb2"
    ]["files"]
