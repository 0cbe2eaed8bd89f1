"""Role tandem.ha.dns_round_robin against a real BIND9: two VIPs of an active-active pair under one name."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.slow

PAIR_NAME = "app.tandem.test"
PAIR_VIPS = ["198.51.100.21", "198.51.100.22"]
V6_NAME = "app6.tandem.test"
V6_VIPS = ["2001:db8::21", "2001:db8::22"]


def role_play(bind9, snippet, record_sets):
    return {
        "hosts": "h1,h2",  # both nodes of the pair; the role publishes once, from the controller
        "roles": [
            {
                "role": "tandem.ha.dns_round_robin",
                "dns_round_robin_record_sets": record_sets,
                "dns_round_robin_server": bind9.listen_address,
                "dns_round_robin_port": bind9.port,
                "dns_round_robin_key_name": bind9.key.name,
                "dns_round_robin_key_secret": bind9.key.secret,
                "dns_round_robin_ttl": 30,
                "dns_round_robin_zone_snippet": str(snippet),
            }
        ],
    }


def task_result(report, task_name):
    [task] = [task for task in report if task["task"]["name"].endswith(task_name)]
    return task["hosts"]


def test_role_publishes_both_vips_of_a_pair_once_and_a_second_run_changes_nothing(
    playbook, published, bind9, tmp_path
):
    snippet = tmp_path / "vips.zone"
    record_sets = [
        # as the plan returns them (tandem.ha.vrrp_plan): TTL and server are optional per set
        {"source": "web", "name": PAIR_NAME, "zone": "tandem.test", "addresses": PAIR_VIPS, "server": None},
        {"source": "web6", "name": V6_NAME + ".", "zone": "tandem.test.", "addresses": V6_VIPS, "ttl": 20},
    ]

    first = playbook(role_play(bind9, snippet, record_sets))
    # The whole result of every task (all -v shows, module invocations included) lacks the TSIG secret:
    # dns_rrset's key_secret is no_log.
    assert bind9.key.secret not in json.dumps(first)
    publish = task_result(first, "Publish the addresses of each record set under its name")
    assert list(publish) == ["h1"]  # run_once: one host did the loop, one item per name
    assert [item["changed"] for item in publish["h1"]["results"]] == [True, True]
    assert published(PAIR_NAME) == {"A": (30, set(PAIR_VIPS))}
    assert published(V6_NAME) == {"AAAA": (20, set(V6_VIPS))}
    assert snippet.read_text().splitlines()[2:] == [
        "app.tandem.test. 30 IN A 198.51.100.21",
        "app.tandem.test. 30 IN A 198.51.100.22",
        "app6.tandem.test. 20 IN AAAA 2001:db8::21",
        "app6.tandem.test. 20 IN AAAA 2001:db8::22",
    ]

    second = playbook(role_play(bind9, snippet, list(reversed(record_sets))))
    assert [item["changed"] for item in task_result(second, "under its name")["h1"]["results"]] == [
        False,
        False,
    ]
    assert task_result(second, "Write the zone-file snippet of the record sets")["h1"]["changed"] is False
    assert published(PAIR_NAME) == {"A": (30, set(PAIR_VIPS))}


def test_role_without_dynamic_updates_only_writes_the_snippet(playbook, published, bind9, tmp_path):
    snippet = tmp_path / "static.zone"
    play = role_play(
        bind9,
        snippet,
        [{"name": "static-only.tandem.test", "zone": "tandem.test", "addresses": ["198.51.100.30"]}],
    )
    play["roles"][0].update(
        dns_round_robin_update=False, dns_round_robin_key_name="", dns_round_robin_key_secret=""
    )

    report = playbook(play)
    assert all("skipped" in result for result in task_result(report, "under its name").values())
    assert published("static-only.tandem.test") == {}
    assert snippet.read_text().splitlines()[2:] == ["static-only.tandem.test. 30 IN A 198.51.100.30"]


def test_role_refuses_to_run_without_a_key(playbook, bind9, tmp_path):
    play = role_play(
        bind9, tmp_path / "unused.zone", [{"name": PAIR_NAME, "zone": "tandem.test", "addresses": PAIR_VIPS}]
    )
    play["roles"][0]["dns_round_robin_key_secret"] = ""

    report = playbook(play)
    check = task_result(report, "Check that a server and a TSIG key are given for dynamic updates")
    assert all(result["failed"] for result in check.values())
    assert (
        "set dns_round_robin_key_name, dns_round_robin_key_secret and dns_round_robin_server"
        in check["h1"]["msg"]
    )
