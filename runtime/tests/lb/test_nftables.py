"""The nftables plane with real traffic (tandemlab.lblab): a client, the load balancer running the plane
in a worker inside its namespace, three real servers answering HTTP and UDP with their names."""

from __future__ import annotations

import ipaddress
import os
import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from tandem.lb.plane import Destination, PlaneError, Service, ServiceKey
from tandemlab.lblab import CLIENT_EXTRA, VIP, VIP2, VIP6, LbLab

pytestmark = [pytest.mark.lab, pytest.mark.slow]

A = ipaddress.ip_address
HTTP = ServiceKey(4, "TCP", A(VIP), 80)
FWMARK = 5
USER_TABLE = "table inet handmade {\n chain pre { type filter hook prerouting priority mangle; }\n}\n"


@pytest.fixture(scope="module")
def lb():
    if os.geteuid() != 0:
        pytest.skip("lab tests need root (network namespaces)")
    with LbLab(servers=3) as lab:
        yield lab


def rs(lb: LbLab, i: int, port: int | None = 80, weight: int = 1, family: int = 4) -> Destination:
    return Destination(lb.real_server(i, family), port, weight)


def service(key: ServiceKey, *destinations: Destination, scheduler: str = "rr", **more) -> Service:
    return Service(key, scheduler, destinations=destinations, **more)


def test_rr_and_wrr_spread_new_connections_by_weight(lb):
    lb.plane.apply((service(HTTP, rs(lb, 1), rs(lb, 2), rs(lb, 3, port=8080)),))
    assert Counter(lb.call("get_many", VIP, 9)) == {"rs1": 3, "rs2": 3, "rs3": 3}

    weighted = service(HTTP, rs(lb, 1, weight=3), rs(lb, 2, weight=1), rs(lb, 3, weight=0), scheduler="wrr")
    lb.plane.apply((weighted,))
    assert Counter(lb.call("get_many", VIP, 8)) == {"rs1": 6, "rs2": 2}

    # IPVS's wrr order, not just its ratio: weights 3, 2 go A A B A B
    lb.plane.apply((service(HTTP, rs(lb, 1, weight=3), rs(lb, 2, weight=2), scheduler="wrr"),))
    assert lb.call("get_many", VIP, 5) == ["rs1", "rs1", "rs2", "rs1", "rs2"]


def test_udp_service_to_another_port(lb):
    dns = ServiceKey(4, "UDP", A(VIP), 53)
    lb.plane.apply((service(dns, rs(lb, 1, port=5353), rs(lb, 2, port=5353)),))
    assert Counter(lb.call("udp_ask", VIP, 53) for _ in range(4)) == {"rs1": 2, "rs2": 2}


def test_sh_sticks_each_source_to_one_server(lb):
    lb.plane.apply((service(HTTP, rs(lb, 1), rs(lb, 2), rs(lb, 3), scheduler="sh"),))
    chosen = {}
    for source in CLIENT_EXTRA:
        names = set(lb.call("get_many", VIP, 3, source=source))
        assert len(names) == 1, f"{source} went to {names}"
        chosen[source] = names.pop()
    assert len(set(chosen.values())) > 1  # the sources spread over the servers


def test_persistence_keeps_a_client_network_on_its_server(lb):
    sticky = dict(persistence_timeout=60, persistence_granularity=A("255.255.255.0"))
    lb.plane.apply((service(HTTP, rs(lb, 1), rs(lb, 2), rs(lb, 3), **sticky),))
    first = lb.call("get", VIP, source=CLIENT_EXTRA[0])
    # rr alone would move on; the client and its /24 neighbours stay
    for source in CLIENT_EXTRA[:4]:
        assert set(lb.call("get_many", VIP, 3, source=source)) == {first}
    # its server at weight 0: the client is scheduled afresh and stays on the new choice
    index = int(first[2:])
    lb.plane.apply((service(HTTP, *(rs(lb, i, weight=0 if i == index else 1) for i in (1, 2, 3)), **sticky),))
    moved = set(lb.call("get_many", VIP, 4, source=CLIENT_EXTRA[0]))
    assert len(moved) == 1 and first not in moved
    # its weight back: its lookup rule is added again (the others stay), the client stays where it is
    lb.plane.apply((service(HTTP, rs(lb, 1), rs(lb, 2), rs(lb, 3), **sticky),))
    assert lb.nft("list", "chain", "inet", "tandem_lb", "k/tcp_203.0.113.100_80").count("goto") == 3
    assert set(lb.call("get_many", VIP, 3, source=CLIENT_EXTRA[0])) == moved


def test_removing_a_persistence_service_leaves_the_others_clients_remembered(lb):
    """The removed service's chains and sets go a transaction later, their rules first: the next change
    is a change, not a rebuild of the table that would forget every other service's clients (it was
    one, whenever a removed service had persistence or a slot map)."""
    sticky = dict(persistence_timeout=60)
    other = service(ServiceKey(4, "TCP", A(VIP), 8080), rs(lb, 1), **sticky)
    lb.plane.apply((service(HTTP, rs(lb, 1), rs(lb, 2), **sticky), other))
    assert lb.call("get", VIP, port=8080, source=CLIENT_EXTRA[1]) == "rs1"
    remembered = f"p/tcp_203.0.113.100_8080/{lb.real_server(1)}_80/60"
    lb.plane.apply((other,))
    lb.plane.apply((other, service(ServiceKey(4, "UDP", A(VIP), 53), rs(lb, 2, port=5353))))
    assert CLIENT_EXTRA[1] in lb.nft("list", "set", "inet", "tandem_lb", remembered)
    assert not re.search(r"tcp_203\.0\.113\.100_80\b", lb.nft("list", "table", "inet", "tandem_lb"))


def test_weight_0_removal_and_readd_keep_established_connections(lb):
    lb.plane.apply((service(HTTP, rs(lb, 1), rs(lb, 2), rs(lb, 3)),))
    kept = lb.client_worker.new("tandemlab.lblab:KeepAlive", VIP)
    first = kept.get()
    index = int(first[2:])
    others = [i for i in (1, 2, 3) if i != index]

    lb.plane.apply((service(HTTP, *(rs(lb, i, weight=0 if i == index else 1) for i in (1, 2, 3))),))
    assert first not in lb.call("get_many", VIP, 6)
    assert kept.get() == first  # established: still flowing to the server at weight 0

    lb.plane.apply((service(HTTP, *(rs(lb, i) for i in others)),))
    assert set(lb.call("get_many", VIP, 4)) == {f"rs{i}" for i in others}
    assert kept.get() == first  # conntrack keeps the removed server's connection

    lb.plane.apply((service(HTTP, *(rs(lb, i) for i in (1, 2, 3))),))
    assert set(lb.call("get_many", VIP, 6)) == {"rs1", "rs2", "rs3"}
    assert kept.get() == first
    kept.close()


def test_changes_under_load_never_fail_a_request(lb):
    """Each apply is one transaction: a client opening connections throughout never sees a gap."""
    shapes = [
        (rs(lb, 1), rs(lb, 2)),
        (rs(lb, 1, weight=0), rs(lb, 2), rs(lb, 3)),
        (rs(lb, 3, weight=5), rs(lb, 2, weight=1)),
        (rs(lb, 1),),
    ]
    lb.plane.apply((service(HTTP, *shapes[0]),))
    with ThreadPoolExecutor(1) as pool:
        load = pool.submit(lb.call, "hammer", VIP, 2.0)
        changes = 0
        while not load.done():
            lb.plane.apply((service(HTTP, *shapes[changes % len(shapes)], scheduler="wrr"),))
            changes += 1
        answers, failures = load.result()
    assert failures == [] and changes > 20
    assert set(answers) == {"rs1", "rs2", "rs3"}


def test_fwmark_service_and_a_handmade_table_survives(lb):
    # the user's own table marks the traffic: the plane must use the mark and never touch the table
    lb.nft("-f", "-", input=USER_TABLE)
    lb.nft("add", "rule", "inet", "handmade", "pre", "ip", "daddr", VIP2, "meta", "mark", "set", str(FWMARK))
    try:
        fwm = ServiceKey(4, fwmark=FWMARK)
        lb.plane.apply((service(fwm, rs(lb, 1, port=None), rs(lb, 2, port=None)),))
        assert Counter(lb.call("get_many", VIP2, 4, port=8080)) == {"rs1": 2, "rs2": 2}
        assert Counter(lb.call("get_many", VIP2, 2, port=80)) == {"rs1": 1, "rs2": 1}
        lb.plane.close()
        assert "handmade" in lb.nft("list", "tables")
        lb.plane.apply((service(fwm, rs(lb, 3, port=80)),))
        assert lb.call("get", VIP2, port=8080) == "rs3"  # the real server's port
    finally:
        lb.nft("delete", "table", "inet", "handmade")


def test_ipv6_service(lb):
    key = ServiceKey(6, "TCP", A(VIP6), 80)
    lb.plane.apply((service(key, *(rs(lb, i, family=6) for i in (1, 2, 3))),))
    assert Counter(lb.call("get_many", VIP6, 6)) == {"rs1": 2, "rs2": 2, "rs3": 2}


def test_port_0_service_keeps_the_port(lb):
    every_port = ServiceKey(4, "TCP", A(VIP), 0)
    lb.plane.apply((service(every_port, rs(lb, 2, port=None)),))
    assert lb.call("get", VIP, port=8080) == "rs2"
    assert lb.call("get", VIP, port=80) == "rs2"


def test_counters_count_connections_packets_and_bytes(lb):
    ipv6 = ServiceKey(6, "TCP", A(VIP6), 80)
    lb.plane.apply((service(HTTP, rs(lb, 1), rs(lb, 2)), service(ipv6, rs(lb, 3, family=6))))
    lb.call("get_many", VIP, 4)
    lb.call("get_many", VIP6, 1)
    before = lb.plane.counters()
    rs1, rs3 = before[(HTTP, lb.real_server(1), 80)], before[(ipv6, lb.real_server(3, 6), 80)]
    assert rs1.connections == 2 and rs1.packets >= 2 * 6 and rs1.bytes > rs1.packets * 40
    assert rs3.connections == 1 and rs3.packets >= 6
    lb.call("get_many", VIP, 2)
    after = lb.plane.counters()[(HTTP, lb.real_server(1), 80)]
    assert after.connections == 3 and after.packets > rs1.packets and after.bytes > rs1.bytes


def test_counters_are_read_back_for_every_kind_of_service(lb):
    """Each counted element the kernel dumps is named back to its real server: services by address and
    port, by address only (every port), by fwmark, IPv4 and IPv6."""
    services = (
        service(HTTP, rs(lb, 1), rs(lb, 2, port=8080)),
        service(ServiceKey(4, "UDP", A(VIP), 0), rs(lb, 3, port=None)),
        service(ServiceKey(4, fwmark=FWMARK), rs(lb, 1), rs(lb, 2, port=None)),
        service(ServiceKey(6, "TCP", A(VIP6), 80), rs(lb, 3, family=6)),
        service(ServiceKey(6, "SCTP", A(VIP6), 0), rs(lb, 1, port=None, family=6)),
        service(ServiceKey(6, fwmark=FWMARK), rs(lb, 2, port=53, family=6)),
    )
    lb.plane.apply(services)
    counters = lb.plane.counters()
    assert set(counters) == {(s.key, d.address, d.port) for s in services for d in s.destinations}
    lb.call("get_many", VIP, 2)
    assert (
        counters[(HTTP, lb.real_server(1), 80)].connections
        < lb.plane.counters()[(HTTP, lb.real_server(1), 80)].connections
    )


def test_masquerade_when_servers_do_not_route_back(lb):
    masq = lb.new_plane(masquerade=True)
    for server in lb.servers:
        lb.route_back(server, add=False)
    try:
        masq.apply((service(HTTP, rs(lb, 1)),))
        assert lb.call("seen_as", VIP) == lb.lb.ipv4
    finally:
        masq.close()
        for server in lb.servers:
            lb.route_back(server)


def test_a_stale_table_is_replaced_and_close_removes_it(lb):
    lb.plane.apply((service(HTTP, rs(lb, 1)),))
    crashed = lb.new_plane()  # leaves its table behind
    crashed.apply((service(HTTP, rs(lb, 1)), service(ServiceKey(4, "TCP", A(VIP), 8080), rs(lb, 2))))
    lb.new_plane().apply((service(HTTP, rs(lb, 3)),))  # the restarted daemon: its own desired state
    assert lb.call("get", VIP) == "rs3"
    assert "8080" not in lb.nft("list", "map", "inet", "tandem_lb", "svc4")
    # the first plane's idea of the table is now wrong: its next change rebuilds the table
    lb.plane.apply((service(HTTP, rs(lb, 2)),))
    assert lb.call("get", VIP) == "rs2"
    lb.nft("-f", "-", input=USER_TABLE)
    lb.plane.close()
    tables = lb.nft("list", "tables")
    assert "tandem_lb" not in tables and "handmade" in tables
    lb.nft("delete", "table", "inet", "handmade")


def test_refusals_keep_the_previous_state(lb):
    lb.plane.apply((service(HTTP, rs(lb, 1)),))
    dr = Destination(lb.real_server(2), 80, method="DR")
    with pytest.raises(PlaneError, match="lb_kind DR; the nftables plane carries NAT only"):
        lb.plane.apply((service(HTTP, dr),))
    with pytest.raises(PlaneError, match="scheduler 'nope'"):
        lb.plane.apply((service(HTTP, rs(lb, 2), scheduler="nope"),))
    assert lb.call("get", VIP) == "rs1"
    lb.plane.close()
