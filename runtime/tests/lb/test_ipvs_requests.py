"""The IPVS plane's generic netlink requests read as pyroute2's own IPVS API writes them (no kernel
needed: pyroute2 encodes into its batch buffer). The plane against a real kernel: the VM lane
(runtime/tests/vm/test_ipvs_vm.py)."""

from __future__ import annotations

import asyncio
import socket
from ipaddress import ip_address

import pytest
import tandem.lb.ipvs as ipvs
from pyroute2.ipvs import AsyncIPVS, IPVSDest, IPVSService
from pyroute2.netlink.generic.ipvs import ipvsmsg
from pyroute2.netlink.nlsocket import AsyncNetlinkSocket
from tandem.lb.plane import Destination, PlaneError, Service, ServiceKey, Timeouts

FAMILY_ID = 42  # any generic netlink family id: the kernel assigns IPVS's at module load
V4 = ServiceKey(4, "TCP", ip_address("198.51.100.10"), 80)
V6 = ServiceKey(6, "UDP", ip_address("2001:db8::10"), 53)
MARK = ServiceKey(4, fwmark=7)
MARK6 = ServiceKey(6, fwmark=8)
SCTP = ServiceKey(4, "SCTP", ip_address("198.51.100.11"), 3868)
ALL_PORTS = ServiceKey(4, "TCP", ip_address("198.51.100.12"), None)
HOST_MASK = {"flags": 0, "mask": 0xFFFFFFFF}

# each service with the keywords pyroute2's IPVSService takes for it, written out by hand
SERVICES = [
    (Service(V4), dict(addr="198.51.100.10", port=80, protocol=6, sched_name="wlc", flags=HOST_MASK)),
    *[
        (
            Service(V4, scheduler=scheduler),
            dict(addr="198.51.100.10", port=80, protocol=6, sched_name=scheduler, flags=HOST_MASK),
        )
        for scheduler in ipvs.SCHEDULERS
    ],
    (
        Service(V4, scheduler="sh", scheduler_flags=("sh-port", "sh-fallback")),
        dict(
            addr="198.51.100.10",
            port=80,
            protocol=6,
            sched_name="sh",
            flags={"flags": 0x18, "mask": 0xFFFFFFFF},
        ),
    ),
    (
        Service(V4, scheduler="mh", scheduler_flags=("mh-port",)),
        dict(
            addr="198.51.100.10",
            port=80,
            protocol=6,
            sched_name="mh",
            flags={"flags": 0x10, "mask": 0xFFFFFFFF},
        ),
    ),
    (
        Service(V4, scheduler="mh", scheduler_flags=("mh-fallback", "flag-3")),
        dict(
            addr="198.51.100.10",
            port=80,
            protocol=6,
            sched_name="mh",
            flags={"flags": 0x28, "mask": 0xFFFFFFFF},
        ),
    ),
    (
        Service(
            V4, scheduler="rr", persistence_timeout=300, persistence_granularity=ip_address("255.255.255.0")
        ),
        dict(
            addr="198.51.100.10",
            port=80,
            protocol=6,
            sched_name="rr",
            flags={"flags": 1, "mask": 0xFFFFFFFF},
            timeout=300,
            netmask="255.255.255.0",
        ),
    ),
    (
        Service(ALL_PORTS, scheduler="wrr", persistence_timeout=60),
        dict(
            addr="198.51.100.12",
            port=0,
            protocol=6,
            sched_name="wrr",
            flags={"flags": 1, "mask": 0xFFFFFFFF},
            timeout=60,
        ),
    ),
    (
        Service(V6, scheduler="lc", ops=True),
        # IPv6: the netmask attribute carries the prefix length (128) as a host-order u32
        dict(
            addr="2001:db8::10",
            port=53,
            protocol=17,
            sched_name="lc",
            flags={"flags": 4, "mask": 0xFFFFFFFF},
            netmask=socket.inet_ntoa((128).to_bytes(4, "little")),
        ),
    ),
    (
        Service(V6, persistence_timeout=30, persistence_granularity=ip_address("ffff:ffff:ffff:ffff::")),
        dict(
            addr="2001:db8::10",
            port=53,
            protocol=17,
            sched_name="wlc",
            flags={"flags": 1, "mask": 0xFFFFFFFF},
            timeout=30,
            netmask=socket.inet_ntoa((64).to_bytes(4, "little")),
        ),
    ),
    (
        Service(MARK, scheduler="dh"),
        dict(af=2, fwmark=7, sched_name="dh", flags=HOST_MASK, netmask="255.255.255.255"),
    ),
    (
        Service(MARK6, scheduler="rr"),
        dict(
            af=10,
            fwmark=8,
            sched_name="rr",
            flags=HOST_MASK,
            netmask=socket.inet_ntoa((128).to_bytes(4, "little")),
        ),
    ),
    (
        Service(SCTP, scheduler="nq"),
        dict(addr="198.51.100.11", port=3868, protocol=132, sched_name="nq", flags=HOST_MASK),
    ),
]

# each destination (of service V4, or the one named) with pyroute2's IPVSDest keywords
DESTINATIONS = [
    (V4, Destination(ip_address("203.0.113.1"), None), dict(addr="203.0.113.1", port=80, fwd_method=0)),
    (
        V4,
        Destination(ip_address("203.0.113.2"), 8080, weight=0, method="DR"),
        # DR and TUN forward unchanged: the service's port, as keepalived and ipvsadm program it
        dict(addr="203.0.113.2", port=80, fwd_method=3, weight=0),
    ),
    (
        V4,
        Destination(ip_address("203.0.113.3"), 80, weight=5, method="TUN"),
        dict(addr="203.0.113.3", port=80, fwd_method=2, weight=5),
    ),
    (
        V4,
        Destination(
            ip_address("203.0.113.4"),
            80,
            method="TUN",
            tunnel_type="gue",
            tunnel_port=6080,
            tunnel_flags=("csum", "remcsum"),
        ),
        # the kernel reads the tunnel port in network order
        dict(addr="203.0.113.4", port=80, fwd_method=2, tun_type=1, tun_port=socket.htons(6080), tun_flags=3),
    ),
    (
        V4,
        Destination(ip_address("203.0.113.5"), 80, method="TUN", tunnel_type="gre", tunnel_flags=("nocsum",)),
        dict(addr="203.0.113.5", port=80, fwd_method=2, tun_type=2),
    ),
    (
        V4,
        Destination(ip_address("203.0.113.6"), 80, weight=3, upper_threshold=100, lower_threshold=10),
        dict(addr="203.0.113.6", port=80, fwd_method=0, weight=3, u_thresh=100, l_thresh=10),
    ),
    (V6, Destination(ip_address("2001:db8:1::1"), None), dict(addr="2001:db8:1::1", port=53, fwd_method=0)),
    (
        MARK,
        Destination(ip_address("203.0.113.7"), None, method="DR"),
        dict(addr="203.0.113.7", port=0, fwd_method=3),
    ),
    (
        MARK,
        Destination(ip_address("203.0.113.9"), 80, method="TUN"),
        dict(addr="203.0.113.9", port=0, fwd_method=2),
    ),
    (MARK, Destination(ip_address("203.0.113.8"), 443), dict(addr="203.0.113.8", port=443, fwd_method=0)),
]


class _Compiler(AsyncIPVS):
    """pyroute2's IPVS API with no kernel behind it: no family lookup, requests go to its batch."""

    async def setup_endpoint(self):
        if getattr(self.local, "transport", None) is None:
            await AsyncNetlinkSocket.setup_endpoint(self)


def pyroute2_encoding(method: str, command: str, **arguments) -> bytes:
    async def compile_request() -> bytes:
        compiler = _Compiler()
        compiler._prid = FAMILY_ID
        compiler.batch = bytearray()
        try:
            await getattr(compiler, method)(command, **arguments)
            return bytes(compiler.batch)
        finally:
            compiler.close()

    return asyncio.run(compile_request())


def decoded(data: bytes) -> dict:
    """What the kernel reads: header type and flags, command, version, nested attributes (any order)."""
    msg = ipvsmsg(data)
    msg.decode()

    def attrs(nla) -> list:
        return sorted(
            (name, str(attrs(value) if isinstance(value, dict) and "attrs" in value else value))
            for name, value in nla["attrs"]
        )

    header = msg["header"]
    return {
        "type": header["type"],
        "flags": header["flags"],
        "cmd": msg["cmd"],
        "version": msg["version"],
    } | {"attrs": attrs(msg)}


COMMANDS = {
    "add": ipvs.IPVS_CMD_NEW_SERVICE,
    "set": ipvs.IPVS_CMD_SET_SERVICE,
    "del": ipvs.IPVS_CMD_DEL_SERVICE,
}
DEST_COMMANDS = {"add": ipvs.IPVS_CMD_NEW_DEST, "set": ipvs.IPVS_CMD_SET_DEST, "del": ipvs.IPVS_CMD_DEL_DEST}


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize(("service", "keywords"), SERVICES, ids=lambda v: str(getattr(v, "key", "")) or None)
def test_service_requests_read_as_pyroute2_writes_them(service, keywords, command):
    expected = pyroute2_encoding("service", command, service=IPVSService(**keywords))
    assert decoded(ipvs.service_request(FAMILY_ID, COMMANDS[command], service)) == decoded(expected)


@pytest.mark.parametrize("command", DEST_COMMANDS)
@pytest.mark.parametrize(("key", "destination", "keywords"), DESTINATIONS, ids=lambda v: str(v)[:40])
def test_destination_requests_read_as_pyroute2_writes_them(key, destination, keywords, command):
    service = next(keywords for service, keywords in SERVICES if service.key == key)
    expected = pyroute2_encoding("dest", command, service=IPVSService(**service), dest=IPVSDest(**keywords))
    got = ipvs.destination_request(FAMILY_ID, DEST_COMMANDS[command], key, destination)
    assert decoded(got) == decoded(expected)


@pytest.mark.parametrize(
    "bad",
    [
        Service(V4, scheduler="sh", scheduler_flags=("sh-portt",)),
        Service(V4, destinations=(Destination(ip_address("203.0.113.1"), 80, method="MASQ"),)),
        Service(
            V4, destinations=(Destination(ip_address("203.0.113.1"), 80, method="TUN", tunnel_type="vxlan"),)
        ),
    ],
)
def test_unknown_values_are_plane_errors_not_requests(bad):
    with pytest.raises(PlaneError, match="unknown"):
        ipvs.service_request(FAMILY_ID, ipvs.IPVS_CMD_NEW_SERVICE, bad)
        for destination in bad.destinations:
            ipvs.destination_request(FAMILY_ID, ipvs.IPVS_CMD_NEW_DEST, bad.key, destination)


def test_no_ip_vs_is_one_clear_plane_error():
    """This machine's kernel has no IP_VS (where it has, the plane opens: nothing to show here)."""
    from tandem.lb.ipvs import GenericNetlink

    netlink = GenericNetlink()
    try:
        has_ipvs = netlink.family("IPVS") is not None
    finally:
        netlink.close()
    if has_ipvs:
        pytest.skip("this kernel has IP_VS: the plane opens (the VM lane tests it)")
    with pytest.raises(PlaneError, match=r"^the kernel has no IP_VS \(modprobe ip_vs: .+\)$"):
        ipvs.IpvsPlane()


def test_timeout_requests_read_as_pyroute2_decodes_them():
    """IPVS_CMD_SET_CONFIG carries the three u32 timeouts (pyroute2 shows them as hex octets, host
    order); IPVS_CMD_GET_CONFIG carries none; a reply's attributes read back."""
    data = ipvs.config_request(FAMILY_ID, ipvs.IPVS_CMD_SET_CONFIG, Timeouts(tcp=900, udp=60))
    msg = ipvsmsg(data)
    msg.decode()
    assert (msg["cmd"], msg["header"]["type"], msg["header"]["length"]) == (12, FAMILY_ID, len(data))
    assert [(attr[0], attr[1]) for attr in msg["attrs"]] == [
        ("IPVS_CMD_ATTR_TIMEOUT_TCP", "84:03:00:00"),
        ("IPVS_CMD_ATTR_TIMEOUT_TCP_FIN", "00:00:00:00"),
        ("IPVS_CMD_ATTR_TIMEOUT_UDP", "3c:00:00:00"),
    ]
    get = ipvsmsg(ipvs.config_request(FAMILY_ID, ipvs.IPVS_CMD_GET_CONFIG))
    get.decode()
    assert (get["cmd"], get["attrs"]) == (13, [])
    assert ipvs.parse_timeouts(data) == Timeouts(tcp=900, udp=60)


class ConfigNetlink:
    """A stand-in for the kernel's IPVS config: answers GET_CONFIG, applies SET_CONFIG as the kernel
    does (a 0 leaves that timeout), and records each command."""

    def __init__(self):
        self.timeouts = Timeouts(tcp=900, tcpfin=120, udp=300)  # the kernel's defaults
        self.commands: list[int] = []

    def exchange(self, data: bytes) -> list[bytes]:
        command = data[16]
        self.commands.append(command)
        if command == ipvs.IPVS_CMD_GET_CONFIG:
            return [ipvs.config_request(FAMILY_ID, command, self.timeouts)]
        given = ipvs.parse_timeouts(data)
        self.timeouts = Timeouts(
            *(getattr(given, n) or getattr(self.timeouts, n) for n in ipvs.TIMEOUT_ATTRS)
        )
        return []

    def close(self):
        pass


def test_the_plane_reads_the_kernel_s_timeouts_once_and_gives_them_back():
    plane = object.__new__(ipvs.IpvsPlane)
    kernel = ConfigNetlink()
    plane._netlink, plane._family, plane._services, plane._destinations = kernel, FAMILY_ID, {}, {}
    plane._timeouts, plane._original = Timeouts(), None
    plane.set_timeouts(Timeouts())  # nothing asked, nothing sent
    assert kernel.commands == []
    plane.set_timeouts(Timeouts(tcp=60))
    assert kernel.timeouts == Timeouts(tcp=60, tcpfin=120, udp=300)
    plane.set_timeouts(Timeouts(tcp=60))
    plane.set_timeouts(Timeouts(udp=5))  # tcp is the kernel's own again
    assert kernel.timeouts == Timeouts(tcp=900, tcpfin=120, udp=5)
    plane.close()
    assert kernel.timeouts == Timeouts(tcp=900, tcpfin=120, udp=300)
    get, set_ = ipvs.IPVS_CMD_GET_CONFIG, ipvs.IPVS_CMD_SET_CONFIG
    assert kernel.commands == [get, set_, set_, set_]
