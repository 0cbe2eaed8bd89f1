"""The nftables plane's transactions as data (no kernel): a change touches only what differs."""

from __future__ import annotations

import ipaddress
import json
import re

import pytest
from tandem.lb.nftables import (
    MAX_CYCLE,
    approximations,
    cycle_weights,
    desired,
    transaction,
    unsupported,
    wrr_order,
)
from tandem.lb.plane import Destination, PlaneError, Service, ServiceKey

A = ipaddress.ip_address
KEY = ServiceKey(4, "TCP", A("203.0.113.100"), 80)


def rs(last: int, weight: int = 1) -> Destination:
    return Destination(A(f"198.51.100.{last}"), 80, weight)


def verbs(commands: list[dict]) -> list[tuple[str, str, str]]:
    out = []
    for command in commands:
        ((verb, body),) = command.items()
        ((kind, what),) = body.items()
        out.append((verb, kind, what.get("name") or what.get("chain")))
    return out


def test_first_apply_replaces_whatever_table_is_there_in_one_transaction():
    commands, _ = transaction(None, desired((Service(KEY, "rr", destinations=(rs(11),)),)))
    replace = [("add", "table", "tandem_lb"), ("delete", "table", "tandem_lb"), ("add", "table", "tandem_lb")]
    assert verbs(commands)[:3] == replace
    assert set(re.findall(r'"table": "([^"]*)"', json.dumps(commands))) == {"tandem_lb"}  # no other table


def test_a_weight_change_is_a_new_choice_chain_and_the_old_one_goes_a_change_later():
    weights_1_1 = desired((Service(KEY, "wrr", destinations=(rs(11), rs(12))),))
    weights_3_1 = desired((Service(KEY, "wrr", destinations=(rs(11, 3), rs(12))),))
    before = transaction(None, weights_1_1)[1]
    (old_pick,) = (c for c in before.rules if c.startswith("c/"))
    commands, held = transaction(before, weights_3_1)
    (new_pick,) = (c for c in held.rules if c.startswith("c/") and c != old_pick)
    assert verbs(commands) == [
        ("add", "chain", new_pick),
        ("flush", "chain", "s/tcp_203.0.113.100_80"),
        ("add", "rule", new_pick),
        ("add", "rule", "s/tcp_203.0.113.100_80"),
    ]
    assert held.lingering == {("chain", old_pick)}  # a packet in flight may still be in it
    # the next change deletes it, or, going back to the old weights, uses it again as it is
    assert verbs(transaction(held, weights_3_1)[0]) == [("delete", "chain", old_pick)]
    back, held = transaction(held, weights_1_1)
    assert verbs(back) == [
        ("flush", "chain", "s/tcp_203.0.113.100_80"),
        ("add", "rule", "s/tcp_203.0.113.100_80"),
    ]
    assert held.lingering == {("chain", new_pick)}
    assert transaction(transaction(held, weights_1_1)[1], weights_1_1)[0] == []


def test_adding_a_real_server_adds_its_chain_counters_and_elements():
    one = desired((Service(KEY, "rr", destinations=(rs(11),)),))
    two = desired((Service(KEY, "rr", destinations=(rs(11), rs(12))),))
    changes = verbs(transaction(transaction(None, one)[1], two)[0])
    assert ("add", "chain", "d/tcp_203.0.113.100_80/198.51.100.12_80") in changes
    assert ("add", "element", "cnt4") in changes
    assert not any(verb == "delete" for verb, _, _ in changes)
    # removal: its elements go now, its chain and counters a change later
    removal, held = transaction(transaction(None, two)[1], one)
    assert {(verb, kind) for verb, kind, _ in verbs(removal)} == {
        ("delete", "element"),
        ("flush", "chain"),
    } | {("add", "rule"), ("add", "chain")}
    later = {(kind, name) for verb, kind, name in verbs(transaction(held, one)[0])}
    assert (
        later == held.lingering
        and {
            ("chain", "d/tcp_203.0.113.100_80/198.51.100.12_80"),
            ("counter", "n/tcp_203.0.113.100_80/198.51.100.12_80"),
            ("counter", "t/tcp_203.0.113.100_80/198.51.100.12_80"),
        }
        < later
    )


def test_what_the_plane_refuses_and_what_it_approximates():
    dr = Service(KEY, "wlc", destinations=(Destination(A("198.51.100.11"), 80, method="DR"),))
    assert unsupported(dr) == [
        "TCP [203.0.113.100]:80: real server 198.51.100.11 uses lb_kind DR; the nftables plane carries "
        "NAT only (DR and TUN need IPVS)"
    ]
    with pytest.raises(PlaneError, match="lb_kind DR"):
        desired((dr,))
    assert approximations(dr) == [
        "TCP [203.0.113.100]:80: wlc runs as wrr: nftables does not count a real server's connections"
    ]
    assert approximations(Service(KEY, "rr")) == []
    six = Destination(A("2001:db8::11"), 80)
    assert "is not IPv4" in unsupported(Service(KEY, "rr", destinations=(six,)))[0]


def test_wrr_order_is_ipvs_order_and_long_cycles_are_scaled():
    assert wrr_order([3, 2]) == [0, 0, 1, 0, 1]
    assert wrr_order(cycle_weights([100, 50, 50])) == [0, 0, 1, 2]  # over their gcd
    assert cycle_weights([MAX_CYCLE * 3, MAX_CYCLE]) == [3, 1]
    assert cycle_weights([MAX_CYCLE, 1]) == [MAX_CYCLE - 1, 1]  # scaled, each keeps at least 1
    heavy = Service(KEY, "wrr", destinations=(rs(11, MAX_CYCLE), rs(12)))
    ((rule,),) = [rules for chain, rules in desired((heavy,)).rules.items() if chain.startswith("c/")]
    assert f'"mod":{MAX_CYCLE}' in rule and "range" not in rule  # one element per value
    assert approximations(heavy)[-1].endswith(
        f"weights are scaled to a cycle of {MAX_CYCLE} (ratios approximate)"
    )
