"""Interfaces, virtual addresses and virtual routes through rtnetlink.

Interfaces are looked up with pyroute2's asyncio API. Address and route changes are encoded with
pyroute2's message classes and sent synchronously on a socket of their own: the kernel handles an
rtnetlink request inside the sender's send() and has queued its acknowledgement when send() returns,
so a takeover's addresses are in place with no event-loop round trip (and none of pyroute2's request
processing, ~0.25 ms a request) before its gratuitous ARPs. Encoded requests are cached: a takeover
sends bytes ready since the first time.
"""

from __future__ import annotations

import errno
import itertools
import os
import socket
import struct
from dataclasses import dataclass
from functools import lru_cache
from ipaddress import IPv4Address, IPv6Address, ip_address

from tandem.config.model import IPAddress, VirtualAddress, VirtualRoute
from tandem.rtnetlink import AsyncIPRoute, NetlinkError, ifaddrmsg, rtmsg

# `ip` accepts these names for scopes (rt_scopes); numbers are taken as they are.
SCOPES = {"global": 0, "universe": 0, "site": 200, "link": 253, "host": 254, "nowhere": 255}
IFA_F_NODAD = 0x02  # IPv6 virtual addresses are usable at once, as keepalived adds them
RTM_DELLINK, RTM_NEWADDR, RTM_DELADDR, RTM_NEWROUTE, RTM_DELROUTE = 17, 20, 21, 24, 25
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE = 0x1, 0x4, 0x200, 0x400
RT_TABLE_MAIN, RTPROT_STATIC, RTN_UNICAST = 254, 4, 1
_TYPE = struct.Struct("=H")  # nlmsghdr.nlmsg_type, after the length
_ERROR = struct.Struct("=i")  # nlmsgerr.error after the 16-octet header: 0 or a negative errno
_DELLINK = struct.Struct("=IHHIIBxHiII")  # nlmsghdr, then ifinfomsg: family, type, index, flags, change
NLMSG_ERROR = 2  # the acknowledgement's type: an error code, 0 for success
# s: the answer is queued within send(), so this only bounds a kernel that fails to answer; the event
# loop waits for it, as keepalived's does for its netlink requests
CHANGE_TIMEOUT = 1.0


def scope_number(scope: str | None) -> int:
    if scope is None:
        return 0
    return int(scope) if scope.isdigit() else SCOPES[scope]


@dataclass(frozen=True)
class Interface:
    """What the driver needs of a link: index, MAC, and its first IPv4 and IPv6 link-local address."""

    name: str
    index: int
    mac: bytes
    ipv4: IPv4Address | None
    link_local: IPv6Address | None

    def primary(self, family: int) -> IPAddress | None:
        return self.ipv4 if family == 4 else self.link_local


class Netlink:
    """rtnetlink requests; create it inside the running event loop."""

    def __init__(self) -> None:
        self._ipr = AsyncIPRoute()
        self._changes = socket.socket(
            socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, socket.NETLINK_ROUTE
        )
        self._changes.settimeout(CHANGE_TIMEOUT)
        self._sequence = itertools.count(1)

    def close(self) -> None:
        self._ipr.close()
        self._changes.close()

    async def interface(self, name: str) -> Interface:
        """Look ``name`` up; raises LookupError when there is no such link."""
        indexes = await self._ipr.link_lookup(ifname=name)
        if not indexes:
            raise LookupError(f"no interface {name}")
        index = indexes[0]
        links = await self._ipr.link("get", index=index)
        link = links[0]
        ipv4 = link_local = None
        async for msg in await self._ipr.addr("dump", index=index):
            address = ip_address(msg.get("IFA_ADDRESS"))
            if ipv4 is None and address.version == 4:
                ipv4 = address
            elif link_local is None and address.version == 6 and address.is_link_local:
                link_local = address
        mac = bytes.fromhex((link.get("IFLA_ADDRESS") or "00:00:00:00:00:00").replace(":", ""))
        return Interface(name, index, mac, ipv4, link_local)

    # --- links (use_vmac) --------------------------------------------------------------------

    async def links_named(self, name: str) -> list[tuple[int, str | None]]:
        """(index, kind) of the link called ``name``, if there is one (kind None: a plain device)."""
        found = []
        for index in await self._ipr.link_lookup(ifname=name):
            links = await self._ipr.link("get", index=index)
            found.append((index, links[0].get_nested("IFLA_LINKINFO", "IFLA_INFO_KIND") if links else None))
        return found

    async def add_macvlan(self, name: str, base_index: int, mac: bytes) -> int:
        """Make macvlan ``name`` (mode private, down) on link ``base_index`` with ``mac``; its index."""
        address = ":".join(f"{octet:02x}" for octet in mac)
        try:
            await self._ipr.link(
                "add", ifname=name, kind="macvlan", link=base_index, macvlan_mode="private", address=address
            )
        except NetlinkError as error:
            raise OSError(error.code, os.strerror(error.code)) from None
        return (await self._ipr.link_lookup(ifname=name))[0]

    async def set_up(self, index: int) -> None:
        try:
            await self._ipr.link("set", index=index, state="up")
        except NetlinkError as error:
            raise OSError(error.code, os.strerror(error.code)) from None

    def remove_link(self, index: int) -> None:
        self._change(dellink_request(index), errno.ENODEV)

    # address and route changes raise OSError; the one that means "already done" is not one

    def add_address(self, vip: VirtualAddress, index: int) -> None:
        self._change(address_request(vip, index, add=True), errno.EEXIST)

    def remove_address(self, vip: VirtualAddress, index: int) -> None:
        self._change(address_request(vip, index, add=False), errno.EADDRNOTAVAIL)

    def add_route(self, route: VirtualRoute, index: int | None) -> None:
        self._change(route_request(route, index, add=True), errno.EEXIST)

    def remove_route(self, route: VirtualRoute, index: int | None) -> None:
        self._change(route_request(route, index, add=False), errno.ESRCH)

    def _change(self, request: bytes, tolerated: int) -> None:
        sequence = struct.pack("=I", next(self._sequence) & 0xFFFFFFFF)
        self._changes.send(request[:8] + sequence + request[12:])
        reply = self._changes.recv(65536)
        while reply[8:12] != sequence:  # the answer to an earlier request that timed out
            reply = self._changes.recv(65536)
        if _TYPE.unpack_from(reply, 4)[0] != NLMSG_ERROR:
            raise OSError(errno.EPROTO, "rtnetlink answered without an acknowledgement")
        (error,) = _ERROR.unpack_from(reply, 16)
        if error and -error != tolerated:
            raise OSError(-error, os.strerror(-error))


def dellink_request(index: int) -> bytes:
    """RTM_DELLINK of link ``index`` (nlmsghdr + ifinfomsg), asking for an acknowledgement."""
    return _DELLINK.pack(_DELLINK.size, RTM_DELLINK, NLM_F_REQUEST | NLM_F_ACK, 0, 0, 0, 0, index, 0, 0)


@lru_cache(maxsize=4096)
def address_request(vip: VirtualAddress, index: int, add: bool) -> bytes:
    """RTM_NEWADDR / RTM_DELADDR for ``vip`` on link ``index``, as pyroute2's ``addr()`` encodes it."""
    ip = str(vip.address.ip)
    msg = ifaddrmsg()
    msg["family"] = socket.AF_INET if vip.address.version == 4 else socket.AF_INET6
    msg["prefixlen"] = vip.address.network.prefixlen
    msg["scope"] = scope_number(vip.scope) if add else 0
    msg["index"] = index
    attrs: list[tuple[str, object]] = [("IFA_ADDRESS", ip)]
    if add and vip.label:
        attrs.append(("IFA_LABEL", vip.label))
    if add and vip.brd is not None:
        attrs.append(("IFA_BROADCAST", str(vip.brd)))
    if vip.address.version == 4:
        attrs.append(("IFA_LOCAL", ip))
    elif add:
        attrs.append(("IFA_FLAGS", IFA_F_NODAD))
    return _encoded(msg, RTM_NEWADDR if add else RTM_DELADDR, add, attrs)


@lru_cache(maxsize=4096)
def route_request(route: VirtualRoute, index: int | None, add: bool) -> bytes:
    """RTM_NEWROUTE / RTM_DELROUTE for ``route`` (via link ``index``), as pyroute2's ``route()`` does."""
    table = int(route.table) if route.table is not None and route.table.isdigit() else None
    msg = rtmsg()
    msg["family"] = socket.AF_INET if route.destination.version == 4 else socket.AF_INET6
    msg["dst_len"] = route.destination.prefixlen
    msg["table"] = table if table is not None and table < 256 else RT_TABLE_MAIN  # RTA_TABLE has it whole
    msg["proto"] = RTPROT_STATIC if add else 0
    msg["scope"] = scope_number(route.scope)
    msg["type"] = RTN_UNICAST if add else 0
    attrs: list[tuple[str, object]] = [("RTA_DST", str(route.destination.network_address))]
    if index is not None:
        attrs.append(("RTA_OIF", index))
    if route.via is not None:
        attrs.append(("RTA_GATEWAY", str(route.via)))
    if route.metric is not None:
        attrs.append(("RTA_PRIORITY", route.metric))
    if table is not None:
        attrs.append(("RTA_TABLE", table))
    if route.src is not None:
        attrs.append(("RTA_PREFSRC", str(route.src)))
    return _encoded(msg, RTM_NEWROUTE if add else RTM_DELROUTE, add, attrs)


def _encoded(msg, kind: int, add: bool, attrs: list[tuple[str, object]]) -> bytes:
    """``msg`` with ``attrs`` as a request of type ``kind`` that asks for an acknowledgement; an add
    creates and fails with EEXIST when the object is there already."""
    msg["header"]["type"] = kind
    msg["header"]["flags"] = NLM_F_REQUEST | NLM_F_ACK | (NLM_F_CREATE | NLM_F_EXCL if add else 0)
    msg["attrs"] = attrs
    msg.encode()
    return bytes(msg.data)
