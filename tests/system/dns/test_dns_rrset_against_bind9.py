"""tandem.ha.dns_rrset run by ansible-playbook against a real BIND9; every result checked by a DNS query."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow

NAME = "www.tandem.test"
TWO_V4 = ["198.51.100.10", "198.51.100.11"]
GROWN = ["198.51.100.11", "198.51.100.12", "2001:db8::12"]
NOT_THE_SECRET = "c2VjcmV0IHRoYXQgaXMgbm90IHRoZSBrZXk="


def rrset_task(server_args, **args):
    return {"tandem.ha.dns_rrset": {**server_args, "name": NAME, **args}}


def may_fail(task):
    return {**task, "ignore_errors": True}


def test_create_reorder_shrink_grow_delete(play, published, server_args):
    [created] = play([rrset_task(server_args, addresses=[*TWO_V4, "2001:db8::10"], ttl=30)])
    assert created["changed"] is True
    assert published(NAME) == {"A": (30, set(TWO_V4)), "AAAA": (30, {"2001:db8::10"})}

    [reordered] = play([rrset_task(server_args, addresses=["2001:db8:0::0010", *reversed(TWO_V4)], ttl=30)])
    assert reordered["changed"] is False
    assert published(NAME) == {"A": (30, set(TWO_V4)), "AAAA": (30, {"2001:db8::10"})}

    [shrunk] = play([rrset_task(server_args, addresses=["198.51.100.11"], ttl=30)])
    assert shrunk["changed"] is True
    assert published(NAME) == {"A": (30, {"198.51.100.11"})}

    [grown] = play([rrset_task(server_args, addresses=GROWN, ttl=30)])
    assert grown["changed"] is True
    assert published(NAME) == {"A": (30, {"198.51.100.11", "198.51.100.12"}), "AAAA": (30, {"2001:db8::12"})}

    [retimed] = play([rrset_task(server_args, addresses=GROWN)])
    assert retimed["changed"] is True
    assert published(NAME) == {"A": (60, {"198.51.100.11", "198.51.100.12"}), "AAAA": (60, {"2001:db8::12"})}

    deleted, deleted_again = play([rrset_task(server_args, state="absent")] * 2)
    assert (deleted["changed"], deleted_again["changed"]) == (True, False)
    assert published(NAME) == {}


def test_check_mode_changes_nothing_and_diff_shows_before_and_after(play, published, server_args):
    name = "check.tandem.test"
    play([rrset_task(server_args, name=name, addresses=["198.51.100.20"])])

    [checked] = play([rrset_task(server_args, name=name, addresses=TWO_V4, ttl=30)], "--check", "--diff")
    assert checked["changed"] is True
    assert published(name) == {"A": (60, {"198.51.100.20"})}
    assert checked["diff"]["before"] == "check.tandem.test. 60 IN A 198.51.100.20\n"
    assert checked["diff"]["after"] == (
        "check.tandem.test. 30 IN A 198.51.100.10\ncheck.tandem.test. 30 IN A 198.51.100.11\n"
    )
    assert checked["after"] == checked["diff"]["after"].splitlines()


def test_unknown_key_and_wrong_secret_are_reported_by_key_name(play, published, server_args, bind9):
    unknown_key, wrong_secret = play(
        [
            may_fail(rrset_task({**server_args, "key_name": "nobody"}, addresses=TWO_V4)),
            may_fail(rrset_task({**server_args, "key_secret": NOT_THE_SECRET}, addresses=TWO_V4)),
        ]
    )
    where = f"DNS server 127.0.0.1 port {bind9.port}"
    assert unknown_key["failed"] is True
    assert unknown_key["msg"] == (
        f"{where} does not know TSIG key 'nobody' with algorithm hmac-sha256 (BADKEY)"
    )
    assert wrong_secret["failed"] is True
    assert wrong_secret["msg"] == (
        f"{where} rejected the signature of TSIG key 'tandem-test-key': wrong secret (BADSIG)"
    )
    assert published(NAME) == {}


def test_refused_zone_unserved_zone_and_name_outside_the_zone(play, published, server_args):
    static_zone, unserved_zone = {**server_args, "zone": "static.test"}, {**server_args, "zone": "other.test"}
    refused, not_served, outside = play(
        [
            may_fail(rrset_task(static_zone, name="a.static.test", addresses=TWO_V4)),
            may_fail(rrset_task(unserved_zone, name="a.other.test", addresses=TWO_V4)),
            may_fail(rrset_task(server_args, name="www.static.test", addresses=TWO_V4)),
        ]
    )
    assert all(result["failed"] for result in (refused, not_served, outside))
    assert refused["msg"] == (
        "server 127.0.0.1 refused the update of a.static.test. in zone static.test. (REFUSED): "
        "its update-policy/allow-update does not let TSIG key 'tandem-test-key' change these records"
    )
    assert published("a.static.test") == {}
    assert not_served["msg"] == (
        "server 127.0.0.1 refused to answer for a.other.test. (REFUSED): does it serve other.test.?"
    )
    assert outside["msg"] == "name www.static.test. is outside zone tandem.test."
