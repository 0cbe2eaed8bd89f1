"""From inventory to DNS: tandem.ha.vrrp_plan's dns_records fed to tandem.ha.dns_round_robin, real BIND9."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow

VIPS = ["198.51.100.41", "198.51.100.42"]
DNS = {"name": "shop.tandem.test.", "zone": "tandem.test.", "ttl": 20, "server": "127.0.0.1"}
HOST_VARS = {  # as host vars would give them; play vars are not host vars
    "tandem_interface": "eth0",
    "tandem_addresses": {"eth0": ["198.51.100.{{ 11 if inventory_hostname == 'h1' else 12 }}/24"]},
}


def test_the_plans_record_set_is_published_as_the_pairs_vips(playbook, published, bind9):
    play = {
        "hosts": "h1,h2",
        "vars": {
            "tandem_active_active": [
                {
                    "name": "shop",
                    "hosts": ["h1", "h2"],
                    "vrid_base": 70,
                    "vips": [f"{vip}/24" for vip in VIPS],
                    "dns": DNS,
                }
            ],
        },
        "tasks": [
            {
                "name": "Give each node its interface and address",
                "ansible.builtin.set_fact": HOST_VARS,
            },
            {"name": "Plan", "tandem.ha.vrrp_plan": {}, "run_once": True, "register": "tandem_plan"},
            {  # the plan task's own result is no_log (it holds the VRRP passwords)
                "name": "Show the record sets",
                "ansible.builtin.debug": {"var": "tandem_plan.plan.dns_records"},
                "run_once": True,
            },
            {
                "name": "Publish",
                "ansible.builtin.include_role": {"name": "tandem.ha.dns_round_robin"},
                "vars": {
                    "dns_round_robin_record_sets": "{{ tandem_plan.plan.dns_records }}",
                    "dns_round_robin_port": bind9.port,
                    "dns_round_robin_key_name": bind9.key.name,
                    "dns_round_robin_key_secret": bind9.key.secret,
                },
            },
        ],
    }
    first = playbook(play)
    [shown] = [task["hosts"]["h1"] for task in first if task["task"]["name"] == "Show the record sets"]
    assert shown["tandem_plan.plan.dns_records"] == [{**DNS, "addresses": VIPS, "source": "shop"}], shown
    assert published("shop.tandem.test") == {"A": (20, set(VIPS))}
    second = playbook(play)
    [publish_again] = [task for task in second if task["task"]["name"].endswith("under its name")]
    assert [item["changed"] for item in publish_again["hosts"]["h1"]["results"]] == [False]
