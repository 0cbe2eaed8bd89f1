"""The plan a valid design produces: what each host runs and what DNS publishes."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from inventory_cases import BASE_HOSTS
from tandem.inventory import plan_inventory

UNICAST_GROUP = {
    "name": "web",
    "vrid": 51,
    "vips": ["198.51.100.100/24", "198.51.100.101"],
    "members": ["lb1", "lb2", "lb3"],
    "unicast": True,
    "advert_int": 0.5,
    "version": 3,
    "auth": {"type": "PASS", "password": "s3cret"},
    "track_scripts": [
        {"name": "chk_nginx", "script": "pidof nginx", "interval": 2, "fall": 2, "weight": -30}
    ],
    "notify": {"master": "/usr/local/bin/became-master", "fault": "/usr/local/bin/page"},
}


def test_group_members_get_priorities_from_the_order_and_unicast_peers_from_their_addresses():
    plan = plan_inventory([UNICAST_GROUP], None, BASE_HOSTS)
    # the runtime's rule, found by the planner: PASS authentication is VRRPv2 only
    assert [f.message for f in plan.findings] == [
        "vrrp_instance web: authentication is VRRPv2 only; ignored with version 3"
    ]
    lb2 = plan.hosts["lb2"]["instances"]
    assert lb2 == [
        {
            "name": "web",
            "source": "web",
            "interface": "eth0",
            "vrid": 51,
            "priority": 140,
            "state": "BACKUP",
            "advert_int": 0.5,
            "version": 3,
            "vips": ["198.51.100.100/24", "198.51.100.101/32"],
            "unicast_src": "198.51.100.12",
            "unicast_peers": ["198.51.100.11", "198.51.100.13"],
            "auth": {"type": "PASS", "password": "s3cret"},
            "track_scripts": [{"name": "chk_nginx", "weight": -30}],
            "track_files": [],
            "track_processes": [],
            "notify": {"fault": "/usr/local/bin/page", "master": "/usr/local/bin/became-master"},
            "sync_group": None,
            "vip_options": [{}, {}],
            "preempt": True,
            "preempt_delay": None,
            "accept": None,
            "garp": {},
            "track_interfaces": [],
            "virtual_routes": [],
            "virtual_rules": [],
            "smtp_alert": None,
            "use_vmac": None,
            "vmac_xmit_base": None,
            "unicast_ttl": None,
            "excluded_vips": [],
        }
    ]
    assert [(i["priority"], i["state"]) for h in ("lb1", "lb3") for i in plan.hosts[h]["instances"]] == [
        (150, "MASTER"),
        (130, "BACKUP"),
    ]
    assert plan.hosts["lb1"]["scripts"] == [
        {
            "name": "chk_nginx",
            "source": "web",
            "script": "pidof nginx",
            "interval": 2,
            "timeout": None,
            "fall": 2,
            "rise": 1,
            "user": None,
        }
    ]
    assert plan.instances[0]["master"] == "lb1"
    assert [m["host"] for m in plan.instances[0]["members"]] == ["lb1", "lb2", "lb3"]


def test_a_script_shared_by_two_groups_is_defined_once_per_host():
    second = {**UNICAST_GROUP, "name": "api", "vrid": 52, "vips": ["198.51.100.102/24"]}
    plan = plan_inventory([UNICAST_GROUP, second], None, BASE_HOSTS)
    assert plan.errors == []
    assert [s["name"] for s in plan.hosts["lb1"]["scripts"]] == ["chk_nginx"]
    assert [i["name"] for i in plan.hosts["lb1"]["instances"]] == ["web", "api"]


def test_host_defaults_fill_settings_the_group_leaves_open():
    hosts = {
        h: {**v, "tandem_vrrp_defaults": {"advert_int": 2, "unicast": True}} for h, v in BASE_HOSTS.items()
    }
    group = {"name": "web", "vrid": 51, "vips": ["2001:db8::100/64"], "members": ["lb1", "lb2"]}
    plan = plan_inventory([group], None, hosts)
    assert plan.errors == []
    (instance,) = plan.hosts["lb1"]["instances"]
    assert (instance["advert_int"], instance["version"], instance["unicast_src"]) == (2, 3, "2001:db8::11")
    assert instance["unicast_peers"] == ["2001:db8::12"]


def test_active_active_dns_record_set_is_the_vip_set():
    aa_set = {
        "name": "www",
        "hosts": ["lb1", "lb2"],
        "vrid_base": 60,
        "vips": ["198.51.100.20/24", "198.51.100.21/24"],
        "dns": {"name": "WWW.Example.com", "zone": "example.com", "ttl": 20, "server": "203.0.113.53"},
    }
    plan = plan_inventory(None, [aa_set], BASE_HOSTS)
    assert plan.findings == []
    assert plan.dns_records == [
        {
            "name": "www.example.com.",
            "zone": "example.com.",
            "addresses": ["198.51.100.20", "198.51.100.21"],
            "ttl": 20,
            "source": "www",
            "server": "203.0.113.53",
        }
    ]


# each accepted plan is also rendered and checked per host (tens of ms): no per-example deadline
@settings(deadline=None)
@given(
    hosts=st.integers(min_value=2, max_value=8),
    extra_vips=st.integers(min_value=0, max_value=30),
    vrid_base=st.integers(min_value=1, max_value=200),
    step=st.integers(min_value=1, max_value=15),
)
def test_active_active_rotation(hosts, extra_vips, vrid_base, step):
    """VIP i is mastered by host i mod N; the others follow in rotated order with descending priorities;
    VIP i has VRID vrid_base + i; masters per host differ by at most one."""
    names = [f"h{n}" for n in range(hosts)]
    count = min(hosts + extra_vips, 256 - vrid_base)
    inventory = {name: {"tandem_interface": "eth0"} for name in names}
    vips = [f"198.51.100.{i}/32" for i in range(count)]  # /32: no network or broadcast address
    aa_set = {"name": "aa", "hosts": names, "vrid_base": vrid_base, "vips": vips, "priority_step": step}
    plan = plan_inventory(None, [aa_set], inventory)
    if count < hosts:
        assert [f.field for f in plan.errors] == ["vips"]
        return
    assert plan.errors == []
    for i, instance in enumerate(plan.instances):
        rotated = [names[(i + k) % hosts] for k in range(hosts)]
        assert [m["host"] for m in instance["members"]] == rotated
        assert [m["priority"] for m in instance["members"]] == [150 - k * step for k in range(hosts)]
        assert (instance["vrid"], instance["vips"], instance["master"]) == (
            vrid_base + i,
            [vips[i]],
            names[i % hosts],
        )
    mastered = [sum(i["state"] == "MASTER" for i in plan.hosts[name]["instances"]) for name in names]
    assert max(mastered) - min(mastered) <= 1
    assert sum(mastered) == count
