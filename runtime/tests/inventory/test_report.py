"""What people read about a plan: the summary, the masked plan, and errors grouped by root cause."""

from __future__ import annotations

from inventory_cases import BASE_HOSTS
from tandem.inventory import plan_inventory
from tandem.inventory.findings import error
from tandem.inventory.report import MASK, grouped, redacted, secrets, summary

GROUP = {
    "name": "db",
    "vrid": 51,
    "vips": ["198.51.100.50/24"],
    "members": [{"host": "lb1", "priority": 150}, {"host": "lb2", "priority": 100}],
    "auth": {"type": "PASS", "password": "pw-1234"},
}
AA_SET = {
    "name": "www",
    "hosts": ["lb1", "lb2"],
    "vrid_base": 60,
    "vips": ["198.51.100.20/24", "198.51.100.21/24"],
    "dns": {"name": "www.example.com", "zone": "example.com"},
}


def test_summary_names_vips_master_backups_and_dns():
    plan = plan_inventory([GROUP], [AA_SET], BASE_HOSTS)
    assert not plan.errors
    text = summary(plan.as_dict(), plan.warnings)
    assert text.splitlines() == [
        "VRRP plan: 3 instance(s) on 2 host(s), 1 DNS record set(s)",
        "  db (VRID 51): 198.51.100.50/24 -> master lb1 (150) -> backups lb2 (100)",
        "  www_0 of www (VRID 60): 198.51.100.20/24 -> master lb1 (150) -> backups lb2 (140)",
        "  www_1 of www (VRID 61): 198.51.100.21/24 -> master lb2 (150) -> backups lb1 (140)",
        "  DNS www.example.com.: VIPs of www",
    ]


def test_summary_says_what_changes_mastership_and_lists_virtual_servers():
    groups = [
        {**GROUP, "auth": None, "preempt": False, "sync_group": "pair"},
        {
            **GROUP,
            "auth": None,
            "name": "api",
            "vrid": 52,
            "vips": ["198.51.100.51/24"],
            "sync_group": "pair",
        },
    ]
    groups = [{k: v for k, v in g.items() if v is not None} for g in groups]
    groups[1]["preempt"] = False
    server = {
        "name": "web",
        "vrrp_group": "db",
        "address": "198.51.100.50",
        "port": 80,
        "lvs_sched": "rr",
        "lvs_method": "NAT",
        "real_servers": [
            {"address": "203.0.113.10", "port": 8080},
            {"address": "203.0.113.11", "port": 8080},
        ],
    }
    plan = plan_inventory(groups, [], BASE_HOSTS, [server])
    assert not plan.errors, [str(f) for f in plan.findings]
    assert summary(plan.as_dict(), []).splitlines()[1:] == [
        "  db (VRID 51): 198.51.100.50/24 -> master lb1 (150) -> backups lb2 (100)"
        " [nopreempt: the first master stays, sync group pair]",
        "  api (VRID 52): 198.51.100.51/24 -> master lb1 (150) -> backups lb2 (100)"
        " [nopreempt: the first master stays, sync group pair]",
        "  virtual server web 198.51.100.50:80 on lb1, lb2: 2 real server(s)",
    ]


def test_redacted_plan_masks_every_password_and_keeps_the_rest():
    plan = plan_inventory([GROUP], [AA_SET], BASE_HOSTS).as_dict()
    masked = redacted(plan)
    assert "pw-1234" not in repr(masked)
    assert masked["hosts"]["lb1"]["instances"][0]["auth"] == {"type": "PASS", "password": MASK}
    assert masked["instances"] == plan["instances"]
    assert plan["hosts"]["lb1"]["instances"][0]["auth"]["password"] == "pw-1234", "the plan keeps it"
    assert secrets(plan) == {"pw-1234"}


def test_many_errors_of_one_root_cause_are_counted_not_listed():
    findings = [error("web", f"lb{i}", "vips[0]", f"VIP outside the subnet on lb{i}") for i in range(50)]
    findings.append(error("db", "lb1", "vrid", "VRID collision"))
    lines = grouped(findings)
    assert len(lines) == 5
    assert lines[3].startswith("... and 47 more like these for group 'web', field 'vips[0]' (hosts lb10, ")
    assert lines[4] == "group 'db', host 'lb1', field 'vrid': VRID collision"
