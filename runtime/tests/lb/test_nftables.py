"""The nftables plane with real traffic: a client, a load balancer running the plane, three real servers.

    client  203.0.113.10, 2001:db8:1::10  ──┐
    lb      203.0.113.1 + VIPs .100/.101, 2001:db8:1::1 + ::100; 198.51.100.12, 2001:db8::12 (forwards)
    rs1..3  198.51.100.13-15, 2001:db8::13-15, routes back to the client's nets via the lb

All on one lab bridge. The plane runs in a worker process inside the lb namespace; the client's
requests run in a worker inside the client namespace. Each real server answers HTTP (ports 80 and
8080, IPv4 and IPv6) and UDP (port 5353) with its name and the address it saw the request from.
"""

from __future__ import annotations

import http.client
import ipaddress
import os
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from tandem.lb.plane import Destination, PlaneError, Service, ServiceKey
from tandemlab.polling import wait_for
from tandemlab.topology import Lab
from tandemlab.worker import Worker

pytestmark = [pytest.mark.lab, pytest.mark.slow]

A = ipaddress.ip_address
VIP, VIP_FWM, VIP6 = A("203.0.113.100"), A("203.0.113.101"), A("2001:db8:1::100")
CLIENT, CLIENT6 = "203.0.113.10", "2001:db8:1::10"
CLIENT_EXTRA = [f"203.0.113.{20 + i}" for i in range(8)]  # more sources for hashing
FWMARK = 5
FORWARDING = [
    "net.ipv4.ip_forward=1",
    "net.ipv6.conf.all.forwarding=1",
    "net.ipv4.conf.all.send_redirects=0",
    "net.ipv4.conf.eth0.send_redirects=0",
]
USER_TABLE = "table inet handmade {\n chain pre { type filter hook prerouting priority mangle; }\n}\n"

SERVER = r"""
import socket, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
name = sys.argv[1]
class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        body = f"{name} {self.client_address[0]}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
class Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6
    daemon_threads = True
for port in (80, 8080):
    threading.Thread(target=Server(("::", port), Handler).serve_forever, daemon=True).start()
udp = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
udp.bind(("::", 5353))
while True:
    data, peer = udp.recvfrom(512)
    udp.sendto(f"{name} {peer[0]}".encode(), peer)
"""


# --- run in the client's namespace (by the worker) --------------------------------------------------


def get(host: str, port: int = 80, source: str | None = None) -> str:
    """One HTTP request on a new connection; the answering server's name."""
    conn = http.client.HTTPConnection(host, port, timeout=3, source_address=(source, 0) if source else None)
    try:
        conn.request("GET", "/")
        return conn.getresponse().read().decode().split()[0]
    finally:
        conn.close()


def get_many(host: str, count: int, port: int = 80, source: str | None = None) -> list[str]:
    return [get(host, port, source) for _ in range(count)]


def seen_as(host: str, port: int = 80) -> str:
    """The address the answering server saw the request come from."""
    conn = http.client.HTTPConnection(host, port, timeout=3)
    try:
        conn.request("GET", "/")
        return conn.getresponse().read().decode().split()[1].removeprefix("::ffff:")
    finally:
        conn.close()


def udp_ask(host: str, port: int) -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(3)
        sock.sendto(b"who", (host, port))
        return sock.recv(512).decode().split()[0]


class KeepAlive:
    """One HTTP/1.1 connection kept open across requests."""

    def __init__(self, host: str, port: int = 80):
        self.conn = http.client.HTTPConnection(host, port, timeout=3)

    def get(self) -> str:
        self.conn.request("GET", "/")
        return self.conn.getresponse().read().decode().split()[0]

    def close(self) -> None:
        self.conn.close()


# --- the lab -------------------------------------------------------------------------------------------


class LbLab:
    def __init__(self, lab: Lab):
        self.lab = lab
        self.client, self.lb, *self.servers = lab.hosts
        self.names = {A(h.ipv4): f"rs{i}" for i, h in enumerate(self.servers, 1)}
        self.names |= {A(h.ipv6): f"rs{i}" for i, h in enumerate(self.servers, 1)}
        here = str(Path(__file__).parent)
        self.client_worker = Worker(self.client, path=(here,))
        self.lb_worker = Worker(self.lb, path=(here,))
        self.plane = self.lb_worker.new("tandem.lb.nftables:NftablesPlane")

    def call(self, function: str, *args, **kwargs):
        return self.client_worker.call(f"test_nftables:{function}", *args, **kwargs)

    def rs(self, i: int, port: int | None = 80, weight: int = 1, family: int = 4) -> Destination:
        host = self.servers[i - 1]
        return Destination(A(host.ipv4 if family == 4 else host.ipv6), port, weight)

    def nft(self, *args: str, input: str | None = None) -> str:
        argv = ["ip", "netns", "exec", self.lb.netns, "nft", *args]
        return subprocess.run(argv, input=input, capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="module")
def lb():
    if os.geteuid() != 0:
        pytest.skip("lab tests need root (network namespaces)")
    lab = Lab(5).start()
    try:
        client, balancer, *servers = lab.hosts
        for address in (CLIENT + "/24", *(a + "/32" for a in CLIENT_EXTRA)):
            client.ip("addr", "add", address, "dev", "eth0")
        client.ip("addr", "add", CLIENT6 + "/64", "dev", "eth0", "nodad")
        for address in ("203.0.113.1/24", f"{VIP}/32", f"{VIP_FWM}/32"):
            balancer.ip("addr", "add", address, "dev", "eth0")
        for address in ("2001:db8:1::1/64", f"{VIP6}/128"):
            balancer.ip("addr", "add", address, "dev", "eth0", "nodad")
        for sysctl in FORWARDING:
            balancer.run(["sysctl", "-q", "-w", sysctl])
        for i, server in enumerate(servers, 1):
            # the lb shares their link with the client, so it would redirect them to the client direct
            for sysctl in ("net.ipv6.conf.all.accept_redirects=0", "net.ipv6.conf.eth0.accept_redirects=0"):
                server.run(["sysctl", "-q", "-w", sysctl])
            server.ip("route", "add", "203.0.113.0/24", "via", balancer.ipv4)
            server.ip("-6", "route", "add", "2001:db8:1::/64", "via", balancer.ipv6)
            server.spawn([sys.executable, "-c", SERVER, f"rs{i}"])
        env = LbLab(lab)
        for server in servers:  # direct, not through the balancer: each is up and answers its name
            assert wait_for(lambda s=server: _answers(env, s.ipv4), timeout=10)
        yield env
    finally:
        lab.close()


def _answers(env: LbLab, address: str) -> bool:
    try:
        return env.call("get", address).startswith("rs")
    except OSError:
        return False


def service(key: ServiceKey, *destinations: Destination, scheduler: str = "rr", **more) -> Service:
    return Service(key, scheduler, destinations=destinations, **more)


HTTP = ServiceKey(4, "TCP", VIP, 80)


# --- tests ---------------------------------------------------------------------------------------------


def test_rr_and_wrr_spread_new_connections_by_weight(lb):
    lb.plane.apply((service(HTTP, lb.rs(1), lb.rs(2), lb.rs(3, port=8080)),))
    assert Counter(lb.call("get_many", str(VIP), 9)) == {"rs1": 3, "rs2": 3, "rs3": 3}

    lb.plane.apply(
        (service(HTTP, lb.rs(1, weight=3), lb.rs(2, weight=1), lb.rs(3, weight=0), scheduler="wrr"),)
    )
    assert Counter(lb.call("get_many", str(VIP), 8)) == {"rs1": 6, "rs2": 2}


def test_udp_service_to_other_port(lb):
    dns = ServiceKey(4, "UDP", VIP, 53)
    lb.plane.apply((service(dns, lb.rs(1, port=5353), lb.rs(2, port=5353)),))
    assert Counter(lb.call("udp_ask", str(VIP), 53) for _ in range(4)) == {"rs1": 2, "rs2": 2}


def test_sh_sticks_each_source_to_one_server(lb):
    lb.plane.apply((service(HTTP, lb.rs(1), lb.rs(2), lb.rs(3), scheduler="sh"),))
    chosen = {}
    for source in CLIENT_EXTRA:
        names = set(lb.call("get_many", str(VIP), 3, source=source))
        assert len(names) == 1, f"{source} went to {names}"
        chosen[source] = names.pop()
    assert len(set(chosen.values())) > 1  # the sources spread over the servers


def test_persistence_keeps_a_client_network_on_its_server(lb):
    sticky = dict(persistence_timeout=60, persistence_granularity=A("255.255.255.0"))
    lb.plane.apply((service(HTTP, lb.rs(1), lb.rs(2), lb.rs(3), **sticky),))
    first = lb.call("get", str(VIP), source=CLIENT_EXTRA[0])
    # rr alone would move on; the client and its /24 neighbours stay
    for source in CLIENT_EXTRA[:4]:
        assert set(lb.call("get_many", str(VIP), 3, source=source)) == {first}
    # its server at weight 0: the client is scheduled afresh and stays on the new choice
    index = int(first[2:])
    weights = [lb.rs(i, weight=0 if i == index else 1) for i in (1, 2, 3)]
    lb.plane.apply((service(HTTP, *weights, **sticky),))
    moved = set(lb.call("get_many", str(VIP), 4, source=CLIENT_EXTRA[0]))
    assert len(moved) == 1 and first not in moved


def test_weight_0_removal_and_readd_keep_established_connections(lb):
    lb.plane.apply((service(HTTP, lb.rs(1), lb.rs(2), lb.rs(3)),))
    kept = lb.client_worker.new("test_nftables:KeepAlive", str(VIP))
    first = kept.get()
    index = int(first[2:])
    others = [i for i in (1, 2, 3) if i != index]

    lb.plane.apply((service(HTTP, *(lb.rs(i, weight=0 if i == index else 1) for i in (1, 2, 3))),))
    assert first not in lb.call("get_many", str(VIP), 6)
    assert kept.get() == first  # established: still flowing to the server at weight 0

    lb.plane.apply((service(HTTP, *(lb.rs(i) for i in others)),))
    assert set(lb.call("get_many", str(VIP), 4)) == {f"rs{i}" for i in others}
    assert kept.get() == first  # conntrack keeps the removed server's connection

    lb.plane.apply((service(HTTP, *(lb.rs(i) for i in (1, 2, 3))),))
    assert set(lb.call("get_many", str(VIP), 6)) == {"rs1", "rs2", "rs3"}
    assert kept.get() == first
    kept.close()


def test_fwmark_service_and_a_handmade_table_survives(lb):
    # the user's own table marks the traffic: the plane must use the mark and never touch the table
    lb.nft("-f", "-", input=USER_TABLE)
    lb.nft(
        "add",
        "rule",
        "inet",
        "handmade",
        "pre",
        "ip",
        "daddr",
        str(VIP_FWM),
        "meta",
        "mark",
        "set",
        str(FWMARK),
    )
    try:
        fwm = ServiceKey(4, fwmark=FWMARK)
        lb.plane.apply((service(fwm, lb.rs(1, port=None), lb.rs(2, port=None)),))
        assert Counter(lb.call("get_many", str(VIP_FWM), 4, port=8080)) == {"rs1": 2, "rs2": 2}
        assert Counter(lb.call("get_many", str(VIP_FWM), 2, port=80)) == {"rs1": 1, "rs2": 1}
        lb.plane.close()
        assert "handmade" in lb.nft("list", "tables")
        lb.plane.apply((service(fwm, lb.rs(3, port=80)),))
        assert lb.call("get", str(VIP_FWM), port=8080) == "rs3"  # the real server's port
    finally:
        lb.nft("delete", "table", "inet", "handmade")


def test_ipv6_service(lb):
    key = ServiceKey(6, "TCP", VIP6, 80)
    lb.plane.apply((service(key, *(lb.rs(i, family=6) for i in (1, 2, 3))),))
    assert Counter(lb.call("get_many", str(VIP6), 6)) == {"rs1": 2, "rs2": 2, "rs3": 2}


def test_port_0_service_keeps_the_port(lb):
    every_port = ServiceKey(4, "TCP", VIP, 0)
    lb.plane.apply((service(every_port, lb.rs(2, port=None)),))
    assert lb.call("get", str(VIP), port=8080) == "rs2"
    assert lb.call("get", str(VIP), port=80) == "rs2"


def test_counters_count_connections_packets_and_bytes(lb):
    ipv6 = ServiceKey(6, "TCP", VIP6, 80)
    lb.plane.apply((service(HTTP, lb.rs(1), lb.rs(2)), service(ipv6, lb.rs(3, family=6))))
    lb.call("get_many", str(VIP), 4)
    lb.call("get_many", str(VIP6), 1)
    before = lb.plane.counters()
    rs1, rs3 = before[(HTTP, A(lb.servers[0].ipv4), 80)], before[(ipv6, A(lb.servers[2].ipv6), 80)]
    assert rs1.connections == 2 and rs1.packets >= 2 * 6 and rs1.bytes > rs1.packets * 40
    assert rs3.connections == 1 and rs3.packets >= 6
    lb.call("get_many", str(VIP), 2)
    after = lb.plane.counters()[(HTTP, A(lb.servers[0].ipv4), 80)]
    assert after.connections == 3 and after.packets > rs1.packets and after.bytes > rs1.bytes


def test_masquerade_when_servers_do_not_route_back(lb):
    masq = lb.lb_worker.new("tandem.lb.nftables:NftablesPlane", masquerade=True)
    for server in lb.servers:
        server.ip("route", "del", "203.0.113.0/24")
    try:
        masq.apply((service(HTTP, lb.rs(1)),))
        assert lb.call("seen_as", str(VIP)) == lb.lb.ipv4
    finally:
        masq.close()
        for server in lb.servers:
            server.ip("route", "add", "203.0.113.0/24", "via", lb.lb.ipv4)


def test_a_stale_table_is_replaced_and_close_removes_it(lb):
    lb.plane.apply((service(HTTP, lb.rs(1)),))
    crashed = lb.lb_worker.new("tandem.lb.nftables:NftablesPlane")  # left its table behind
    crashed.apply((service(HTTP, lb.rs(1)), service(ServiceKey(4, "TCP", VIP, 8080), lb.rs(2))))
    restarted = lb.lb_worker.new("tandem.lb.nftables:NftablesPlane")
    restarted.apply((service(HTTP, lb.rs(3)),))  # starts from its own desired state
    assert lb.call("get", str(VIP)) == "rs3"
    assert "8080" not in lb.nft("list", "map", "inet", "tandem_lb", "svc4")
    # the first plane's idea of the table is now wrong: its next change rebuilds the table
    lb.plane.apply((service(HTTP, lb.rs(2)),))
    assert lb.call("get", str(VIP)) == "rs2"
    lb.nft("-f", "-", input=USER_TABLE)
    lb.plane.close()
    tables = lb.nft("list", "tables")
    assert "tandem_lb" not in tables and "handmade" in tables
    lb.nft("delete", "table", "inet", "handmade")


def test_refusals_keep_the_previous_state(lb):
    lb.plane.apply((service(HTTP, lb.rs(1)),))
    dr = Destination(A(lb.servers[1].ipv4), 80, method="DR")
    with pytest.raises(PlaneError, match="lb_kind DR; the nftables plane carries NAT only"):
        lb.plane.apply((service(HTTP, dr),))
    with pytest.raises(PlaneError, match="scheduler 'nope'"):
        lb.plane.apply((service(HTTP, lb.rs(2), scheduler="nope"),))
    assert lb.call("get", str(VIP)) == "rs1"
    lb.plane.close()
