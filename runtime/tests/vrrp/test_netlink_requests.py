"""Address and route changes: encoded as pyroute2's own API encodes them, sent synchronously to a real
kernel (a lab namespace), with "already done" answers tolerated and real errors raised."""

from __future__ import annotations

import asyncio
import socket
import sys
from ipaddress import ip_address, ip_interface, ip_network

import pytest
from tandem.config.model import VirtualAddress, VirtualRoute
from tandem.rtnetlink import AsyncIPRoute, ifaddrmsg, rtmsg
from tandem.vrrp.netlink import address_request, route_request

ADDRESSES = [
    VirtualAddress(address=ip_interface("203.0.113.1/32")),
    VirtualAddress(
        address=ip_interface("203.0.113.2/24"),
        label="eth0:vip",
        brd=ip_address("203.0.113.255"),
        scope="link",
    ),
    VirtualAddress(address=ip_interface("2001:db8::5/64")),
    VirtualAddress(address=ip_interface("2001:db8::6/128"), scope="host"),
]
ROUTES = [
    VirtualRoute(destination=ip_network("198.51.100.0/25"), via=ip_address("203.0.113.254")),
    VirtualRoute(destination=ip_network("198.51.100.128/25"), table="100", metric=7, scope="link"),
    VirtualRoute(destination=ip_network("198.51.100.64/26"), table="1000", src=ip_address("203.0.113.1")),
    VirtualRoute(destination=ip_network("2001:db8:1::/64"), metric=10, src=ip_address("2001:db8::5")),
]


def decoded(message_class, data: bytes) -> dict:
    """What the kernel reads of a request: header type and flags, the fields, the attributes (any order)."""
    msg = message_class(data)
    msg.decode()
    fields = {name: msg[name] for name, _ in message_class.fields}
    attrs = sorted((name, str(value)) for name, value in msg["attrs"])
    return {"type": msg["header"]["type"], "flags": msg["header"]["flags"], **fields, "attrs": attrs}


def pyroute2_encoding(method: str, command: str, **request) -> bytes:
    """What pyroute2's asyncio API would send for ``method(command, **request)`` (its batch mode)."""

    async def compile_request() -> bytes:
        compiler = AsyncIPRoute()
        compiler.batch = bytearray()  # IPBatch's mechanism: requests are encoded into it, not sent
        try:
            await getattr(compiler, method)(command, **request)
            return bytes(compiler.batch)
        finally:
            compiler.close()

    return asyncio.run(compile_request())


@pytest.mark.parametrize("vip", ADDRESSES, ids=[str(a.address) for a in ADDRESSES])
@pytest.mark.parametrize("add", [True, False], ids=["add", "del"])
def test_address_requests_read_as_pyroute2_writes_them(vip, add):
    request = {"index": 7, "address": str(vip.address.ip), "prefixlen": vip.address.network.prefixlen}
    if add:
        scope = {"link": 253, "host": 254}.get(vip.scope, 0)
        request.update(scope=scope, **({"label": vip.label} if vip.label else {}))
        if vip.brd is not None:
            request["broadcast"] = str(vip.brd)
        if vip.address.version == 6:
            request["flags"] = 0x02  # IFA_F_NODAD
    expected = pyroute2_encoding("addr", "add" if add else "del", **request)
    assert decoded(ifaddrmsg, address_request(vip, 7, add)) == decoded(ifaddrmsg, expected)


@pytest.mark.parametrize("route", ROUTES, ids=[str(r.destination) for r in ROUTES])
@pytest.mark.parametrize("add", [True, False], ids=["add", "del"])
def test_route_requests_read_as_pyroute2_writes_them(route, add):
    family = socket.AF_INET if route.destination.version == 4 else socket.AF_INET6
    request = {"dst": str(route.destination), "family": family, "oif": 7}
    request["scope"] = {"link": 253}.get(route.scope, 0)
    for key, value in (("gateway", route.via), ("prefsrc", route.src), ("priority", route.metric)):
        if value is not None:
            request[key] = str(value) if key != "priority" else value
    if route.table is not None:
        request["table"] = int(route.table)
    expected = pyroute2_encoding("route", "add" if add else "del", **request)
    assert decoded(rtmsg, route_request(route, 7, add)) == decoded(rtmsg, expected)


CHANGE = """
import errno, sys
from ipaddress import ip_interface, ip_network
from socket import if_nametoindex
from tandem.config.model import VirtualAddress, VirtualRoute
from tandem.vrrp.netlink import Netlink

netlink, index = Netlink(), if_nametoindex("eth0")
vip = VirtualAddress(address=ip_interface("203.0.113.9/32"), label="eth0:vip")
route = VirtualRoute(destination=ip_network("198.51.100.128/25"))
if sys.argv[1] == "add":
    for _ in range(2):  # the second time the kernel answers "exists": no error
        netlink.add_address(vip, index)
        netlink.add_route(route, index)
elif sys.argv[1] == "remove":
    for _ in range(2):
        netlink.remove_route(route, index)
        netlink.remove_address(vip, index)
else:
    try:
        netlink.add_address(vip, 999999)
    except OSError as error:
        print(errno.errorcode[error.errno])
netlink.close()
"""


def routes(host) -> str:
    return host.run(["ip", "route"]).stdout


@pytest.mark.lab
def test_changes_reach_the_kernel_and_errors_come_back(make_lab):
    host = make_lab(1).hosts[0]
    host.run([sys.executable, "-c", CHANGE, "add"])
    assert host.has_address("203.0.113.9")
    assert "198.51.100.128/25 dev eth0" in routes(host)
    host.run([sys.executable, "-c", CHANGE, "remove"])
    assert not host.has_address("203.0.113.9")
    assert "198.51.100.128" not in routes(host)
    assert host.run([sys.executable, "-c", CHANGE, "missing link"]).stdout.strip() == "ENODEV"


def test_macvlan_request_reads_as_pyroute2_reads_it():
    from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
    from tandem.vrrp.netlink import macvlan_request

    msg = ifinfmsg(macvlan_request("vrrp.51", 7, bytes.fromhex("00005e000133")))
    msg.decode()
    assert (msg["header"]["type"], msg["header"]["flags"]) == (16, 0x1 | 0x4 | 0x200 | 0x400)
    assert (msg.get("IFLA_IFNAME"), msg.get("IFLA_LINK"), msg.get("IFLA_ADDRESS")) == (
        "vrrp.51",
        7,
        "00:00:5e:00:01:33",
    )
    assert msg.get_nested("IFLA_LINKINFO", "IFLA_INFO_KIND") == "macvlan"
    assert msg.get_nested("IFLA_LINKINFO", "IFLA_INFO_DATA", "IFLA_MACVLAN_MODE") == "private"


LOOKUP = """
import asyncio, json
from tandem.vrrp.netlink import Netlink

async def main():
    netlink = Netlink()
    eth0 = await netlink.interface("eth0")
    index = await netlink.add_macvlan("vrrp.9", eth0.index, bytes.fromhex("00005e000109"))
    await netlink.set_up(index)
    made = await netlink.links_named("vrrp.9")
    vmac = await netlink.interface("vrrp.9")
    netlink.remove_link(index)
    try:
        await netlink.interface("vrrp.9")
        gone = False
    except LookupError:
        gone = True
    print(json.dumps({
        "eth0": [eth0.index, eth0.mac.hex(), str(eth0.ipv4), str(eth0.link_local)],
        "made": made == [(index, "macvlan")], "plain": await netlink.links_named("eth0"),
        "vmac_mac": vmac.mac.hex(), "gone": gone, "none": await netlink.links_named("nope0"),
    }))
    netlink.close()

asyncio.run(main())
"""


@pytest.mark.lab
def test_lookups_and_vmac_links_against_a_real_kernel(make_lab):
    import json

    host = make_lab(1).hosts[0]
    found = json.loads(host.run([sys.executable, "-c", LOOKUP]).stdout)
    link = json.loads(host.run(["ip", "-j", "addr", "show", "dev", "eth0"]).stdout)[0]
    link_local = next(a["local"] for a in link["addr_info"] if a["local"].startswith("fe80"))
    assert found["eth0"] == [link["ifindex"], link["address"].replace(":", ""), host.ipv4, link_local]
    assert found["made"] and found["plain"] == [[link["ifindex"], "veth"]]
    assert found["vmac_mac"] == "00005e000109" and found["gone"] and found["none"] == []
