"""The nftables plane's transactions as data (no kernel): a change touches only what differs."""

from __future__ import annotations

import ipaddress
import json
import re

import pytest
from tandem.lb.nftables import MAX_WRR_STEPS, approximations, desired, transaction, unsupported, wrr_order
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
    commands = transaction(None, desired((Service(KEY, "rr", destinations=(rs(11),)),)))
    replace = [("add", "table", "tandem_lb"), ("delete", "table", "tandem_lb"), ("add", "table", "tandem_lb")]
    assert verbs(commands)[:3] == replace
    assert set(re.findall(r'"table": "([^"]*)"', json.dumps(commands))) == {"tandem_lb"}  # no other table


def test_a_weight_change_edits_the_service_chain_only():
    before = desired((Service(KEY, "wrr", destinations=(rs(11), rs(12))),))
    after = desired((Service(KEY, "wrr", destinations=(rs(11, 3), rs(12))),))
    assert verbs(transaction(before, after)) == [
        ("flush", "chain", "s/tcp_203.0.113.100_80"),
        ("add", "rule", "s/tcp_203.0.113.100_80"),
    ]
    assert transaction(after, after) == []


def test_adding_a_real_server_adds_its_chain_counters_and_elements():
    before = desired((Service(KEY, "rr", destinations=(rs(11),)),))
    after = desired((Service(KEY, "rr", destinations=(rs(11), rs(12))),))
    changes = verbs(transaction(before, after))
    assert ("add", "chain", "d/tcp_203.0.113.100_80/198.51.100.12_80") in changes
    assert ("add", "element", "cnt4") in changes
    assert not any(verb == "delete" for verb, _, _ in changes)
    removal = verbs(transaction(after, before))
    assert removal[-3:] == [
        ("delete", "chain", "d/tcp_203.0.113.100_80/198.51.100.12_80"),
        ("delete", "counter", "n/tcp_203.0.113.100_80/198.51.100.12_80"),
        ("delete", "counter", "t/tcp_203.0.113.100_80/198.51.100.12_80"),
    ]


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


def test_wrr_order_is_ipvs_order_and_falls_back_to_runs_when_too_long():
    assert wrr_order([3, 2]) == [0, 0, 1, 0, 1]
    assert wrr_order([100, 50, 50]) == [0, 0, 1, 2]  # the gcd steps the current weight
    assert wrr_order([MAX_WRR_STEPS, 1]) is None
    table = desired((Service(KEY, "wrr", destinations=(rs(11, MAX_WRR_STEPS), rs(12))),))
    (rule,) = table.rules["s/tcp_203.0.113.100_80"]
    assert '"mod":65537' in rule and '"range":[0,65535]' in rule  # one run each: two elements
