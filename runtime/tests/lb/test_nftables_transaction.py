"""The nftables plane's transactions as data (no kernel): a change touches only what differs, and what it
unreferences goes one transaction later."""

from __future__ import annotations

import ipaddress
import json
import re
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tandem.lb.nftables import (
    MAX_CYCLE,
    SLOT_MAP_NAME,
    approximations,
    cycle_weights,
    desired,
    relayout,
    slot_map,
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


def service(*destinations: Destination, scheduler: str = "rr", **more) -> Service:
    return Service(KEY, scheduler, destinations=destinations, **more)


def many(n: int, skip: int | None = None, weight_of_first: int = 1) -> tuple[Destination, ...]:
    return tuple(
        Destination(A(int(A("10.0.0.0")) + i + 1), 80, weight_of_first if i == 0 else 1)
        for i in range(n)
        if i != skip
    )


def element_items(commands: list[dict], verb: str, name: str) -> list:
    return [
        item
        for command in commands
        for v, body in command.items()
        if v == verb and "element" in body and body["element"]["name"] == name
        for item in body["element"]["elem"]
    ]


def test_a_new_build_replaces_a_stale_table_in_one_transaction():
    stale = (("chain", "s/tcp_203.0.113.100_80"), ("map", "svc4"), ("counter", "n/old"), ("map", "q/ab/cd"))
    change = transaction(None, (service(rs(11)),), token="ef", stale=stale)
    assert verbs(change.commands)[:5] == [
        ("flush", "table", "tandem_lb"),
        ("delete", "map", "q/ab/cd"),
        ("delete", "map", "svc4"),
        ("delete", "chain", "s/tcp_203.0.113.100_80"),
        ("delete", "counter", "n/old"),
    ]
    assert ("add", "chain", "s/tcp_203.0.113.100_80") in verbs(change.commands)  # built anew, same commit
    assert set(re.findall(r'"table": "([^"]*)"', json.dumps(change.commands))) == {"tandem_lb"}
    # the slot map is declared first, in nft's syntax (libnftables' JSON cannot declare typeof maps)
    assert change.declare == [slot_map(KEY, "ef")] and SLOT_MAP_NAME.fullmatch(change.declare[0])
    assert verbs(transaction(None, (service(rs(11)),), token="ef").commands)[0][0] == "add"  # nothing stale


def test_removing_one_of_5000_real_servers_changes_one_slot_not_the_table():
    first = transaction(None, (service(*many(5000)),)).state
    change = transaction(first, (service(*many(5000, skip=2500)),))
    slots = slot_map(KEY, first.token)
    # the last slot's real server moves into the hole; the rule's modulus shrinks by one
    assert element_items(change.commands, "delete", slots) == [2500]
    ((moved, goto),) = element_items(change.commands, "add", slots)
    assert moved == 2500 and goto["goto"]["target"].endswith("/10.0.19.136_80")  # the 5000th
    assert verbs(change.commands) == [
        ("delete", "element", "mvp4"),  # its keys in the counting sets
        ("delete", "element", "nvp4"),
        ("delete", "element", "tvp4"),
        ("delete", "element", slots),  # the slot
        ("flush", "chain", "s/tcp_203.0.113.100_80"),
        ("add", "element", slots),
        ("add", "rule", "s/tcp_203.0.113.100_80"),  # mod 4999
    ]
    assert '"mod": 4999' in json.dumps(change.commands)
    assert len(json.dumps(change.commands)) < 2000
    # the old last slot stays (a packet in an older generation's rule may pick it: it still goes to
    # the 5000th); the removed server's chain goes a transaction later
    assert change.state.slots[slots][0][4999] == (int(A("10.0.19.136")), 80)
    later = transaction(change.state, (service(*many(5000, skip=2500)),))
    gone = "d/tcp_203.0.113.100_80/10.0.9.197_80"
    assert verbs(later.commands) == [("flush", "chain", gone), ("delete", "chain", gone)]
    assert transaction(later.state, (service(*many(5000, skip=2500)),)).commands == []
    # back again: the slot past the cycle is its now (rewritten in place), its chain added anew
    back = transaction(later.state, (service(*many(5000)),))
    assert element_items(back.commands, "delete", slots) == [4999]
    assert element_items(back.commands, "add", slots)[0][0] == 4999
    # a real server gone while a slot past the cycle still named it: that slot is rewritten to a
    # live one, never deleted, so the chain can go
    shrink = transaction(back.state, (service(*many(4998)),))
    gone = element_items(shrink.commands, "delete", slots)
    assert gone and set(gone) <= {i for i, _ in element_items(shrink.commands, "add", slots)}
    held, live = shrink.state.slots[slots]
    assert live == 4998 and len(held) == 5000 and set(held) <= set(shrink.state.index[KEY])


def test_a_weight_change_in_a_long_cycle_adds_its_slots_only():
    first = transaction(None, (service(*many(1000), scheduler="wrr"),)).state
    change = transaction(first, (service(*many(1000, weight_of_first=3), scheduler="wrr"),))
    slots = slot_map(KEY, first.token)
    assert [i for i, _ in element_items(change.commands, "add", slots)] == [1000, 1001]
    assert element_items(change.commands, "delete", slots) == []
    assert Counter(change.state.slots[slots][0])[(int(A("10.0.0.1")), 80)] == 3


def test_a_short_cycle_is_a_new_anonymous_map_in_ipvs_order_and_the_old_one_lingers():
    weights_1_1 = (service(rs(11), rs(12), scheduler="wrr"),)
    weights_3_2 = (service(rs(11, 3), rs(12, 2), scheduler="wrr"),)
    before = transaction(None, weights_1_1).state
    (old_pick,) = (c for c in before.rules_of("c/"))
    change = transaction(before, weights_3_2)
    (new_pick,) = (c for c in change.state.rules_of("c/"))
    rule = json.loads(change.state.parts[("s", KEY)].rules[new_pick][0])[0]
    order = [goto["goto"]["target"].rsplit("/", 1)[1][11:13] for _, goto in rule["vmap"]["data"]["set"]]
    assert order == ["11", "11", "12", "11", "12"]  # IPVS's wrr order for 3, 2
    assert change.state.lingering.objects.keys() == {("chain", old_pick)}
    assert not element_items(change.commands, "add", slot_map(KEY, before.token))  # the slot map stays empty
    steps = verbs(change.commands)  # the rule starts a new cycle (numgen from 0), as IPVS's wrr does
    flush, rule = ("flush", "chain", "s/tcp_203.0.113.100_80"), ("add", "rule", "s/tcp_203.0.113.100_80")
    assert steps.index(flush) < steps.index(rule)
    later = verbs(transaction(change.state, weights_3_2).commands)
    assert later == [("flush", "chain", old_pick), ("delete", "chain", old_pick)]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(1, 5), min_size=1, max_size=30),
    st.lists(st.tuples(st.integers(0, 40), st.integers(0, 5)), max_size=6),
)
def test_relayout_gives_each_its_count_and_moves_only_what_changed(weights, edits):
    old = [i for i, w in enumerate(weights) for _ in range(w)]
    counts = dict(enumerate(weights))
    for who, weight in edits:
        counts[who] = weight
    counts = {k: v for k, v in counts.items() if v}
    new = relayout(old, counts)
    assert Counter(new) == Counter(counts)
    changed = sum(1 for a, b in zip(old, new, strict=False) if a != b)
    delta = sum(abs(counts.get(k, 0) - Counter(old)[k]) for k in set(counts) | set(old))
    assert changed <= delta


def test_adding_a_real_server_adds_its_chain_and_counting_elements():
    one, two = (service(rs(11)),), (service(rs(11), rs(12)),)
    changes = verbs(transaction(transaction(None, one).state, two).commands)
    assert ("add", "chain", "d/tcp_203.0.113.100_80/198.51.100.12_80") in changes
    assert {("add", "element", name) for name in ("tvp4", "nvp4", "mvp4")} < set(changes)
    assert not any(verb == "delete" for verb, _, _ in changes)
    assert not any(kind == "counter" for _, kind, _ in changes)  # no named objects: they cost every change
    # removal: its elements go now, its chain a change later
    removal = transaction(transaction(None, two).state, one)
    assert {(verb, kind) for verb, kind, _ in verbs(removal.commands)} == {
        ("delete", "element"),  # the counting sets'
        ("add", "chain"),  # the new choice
        ("flush", "chain"),
        ("add", "rule"),
    }
    later = {(kind, name) for verb, kind, name in verbs(transaction(removal.state, one).commands)}
    assert later == set(removal.state.lingering.objects)
    assert ("chain", "d/tcp_203.0.113.100_80/198.51.100.12_80") in removal.state.lingering.objects


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
    change = transaction(None, (heavy,))
    assert len(element_items(change.commands, "add", slot_map(KEY, change.state.token))) == MAX_CYCLE
    assert f'"mod": {MAX_CYCLE}' in json.dumps(change.commands)
    assert approximations(heavy)[-1].endswith(
        f"weights are scaled to a cycle of {MAX_CYCLE} (ratios approximate)"
    )


def test_a_persistence_change_touches_the_lookup_rules_of_what_changed_only():
    """A persistence service's lookups are rules of their own chain, one per live real server: a
    removal deletes one (by the kernel's handle, which the plane fills in), a return adds one; only
    a new timeout rewrites them all."""
    sticky = dict(persistence_timeout=300)
    full = transaction(None, (service(*many(5000), **sticky),)).state
    lookups = "k/tcp_203.0.113.100_80"
    change = transaction(full, (service(*many(5000, skip=2500), **sticky),))
    ((at, chain, clients),) = change.unhandled
    assert chain == lookups and clients == "p/tcp_203.0.113.100_80/10.0.9.197_80/300"
    assert change.commands[at] == {
        "delete": {"rule": {"family": "inet", "table": "tandem_lb", "chain": lookups}}
    }
    assert ("flush", "chain", lookups) not in verbs(change.commands)
    assert len(json.dumps(change.commands)) < 2500
    back = transaction(change.state, (service(*many(5000), **sticky),))
    assert [v for v in verbs(back.commands) if v[2] == lookups] == [("add", "rule", lookups)]
    assert back.unhandled == []
    longer = transaction(back.state, (service(*many(5000), persistence_timeout=600),))
    steps = [v for v in verbs(longer.commands) if v[2] == lookups]
    assert steps == [("flush", "chain", lookups)] + [("add", "rule", lookups)] * 5000
