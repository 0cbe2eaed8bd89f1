"""Interfaces, virtual addresses and virtual routes through rtnetlink.

Every request is our own, a few struct formats: interface lookups and vmacs (RTM_GETLINK / RTM_GETADDR /
RTM_NEWLINK; pyroute2's IPRoute would cost the process ~10 MB and 180 modules), address, route and rule
changes (encoded as pyroute2's ``addr()`` / ``route()`` encode them, which tests check; its message
classes cost the VRRP process ~0.5 MB of modules, and each message they encode leaves reference cycles
behind: 14 objects for every address a Backup clears at start-up). All are sent synchronously
on a socket of their own: the kernel handles an
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

from tandem.config.model import IPAddress, VirtualAddress, VirtualRoute, VirtualRule
from tandem.vrrp.sockets import SO_RCVBUFFORCE

# `ip` accepts these names for scopes (rt_scopes); numbers are taken as they are.
SCOPES = {"global": 0, "universe": 0, "site": 200, "link": 253, "host": 254, "nowhere": 255}
IFA_F_NODAD = 0x02  # IPv6 virtual addresses are usable at once, as keepalived adds them
RTM_DELLINK, RTM_NEWADDR, RTM_DELADDR, RTM_NEWROUTE, RTM_DELROUTE = 17, 20, 21, 24, 25
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE = 0x1, 0x4, 0x200, 0x400
RT_TABLE_MAIN, RTPROT_STATIC, RTN_UNICAST = 254, 4, 1
# route types that need no device or gateway (ip route's "blackhole 203.0.113.0/24" and friends)
RTN_NOWHERE = {"blackhole": 6, "unreachable": 7, "prohibit": 8, "throw": 9}
_TYPE = struct.Struct("=H")  # nlmsghdr.nlmsg_type, after the length
_ERROR = struct.Struct("=i")  # nlmsgerr.error after the 16-octet header: 0 or a negative errno
NLMSGHDR = struct.Struct("=IHHII")  # length, type, flags, sequence, port
IFINFOMSG = struct.Struct("=BxHiII")  # family, type, index, flags, change
IFADDRMSG = struct.Struct("=BBBBI")  # family, prefix length, flags, scope, index
RTA = struct.Struct("=HH")  # length, type
RTM_NEWLINK, RTM_GETLINK, RTM_GETADDR = 16, 18, 22
NLMSG_DONE, NLM_F_MULTI, NLM_F_DUMP, NLA_F_NESTED = 3, 0x2, 0x300, 0x8000
IFLA_ADDRESS, IFLA_IFNAME, IFLA_LINK, IFLA_LINKINFO = 1, 3, 5, 18
IFLA_INFO_KIND, IFLA_INFO_DATA, IFLA_MACVLAN_MODE, MACVLAN_MODE_PRIVATE = 1, 2, 1, 1
IFA_ADDRESS, IFA_LOCAL, IFA_LABEL, IFA_BROADCAST, IFA_FLAGS = 1, 2, 3, 4, 8
RTMSG = struct.Struct("=BBBBBBBBI")  # family, dst_len, src_len, tos, table, protocol, scope, type, flags
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_PRIORITY, RTA_PREFSRC, RTA_TABLE = 1, 4, 5, 6, 7, 15
IFF_UP = 0x1
NLMSG_ERROR = 2  # the acknowledgement's type: an error code, 0 for success
# ip rule (virtual_rules, static_rules): struct fib_rule_hdr and the attributes of linux/fib_rules.h
RTM_NEWRULE, RTM_DELRULE = 32, 33
FIB_RULE_HDR = struct.Struct("=BBBBBBBBI")  # family, dst_len, src_len, tos, table, 2 reserved, action, flags
FRA_DST, FRA_SRC, FRA_IIFNAME, FRA_GOTO, FRA_PRIORITY = 1, 2, 3, 4, 6
FRA_FWMARK, FRA_TABLE, FRA_OIFNAME = 10, 15, 17
FR_ACTIONS = {"goto": 2, "blackhole": 6, "unreachable": 7, "prohibit": 8}  # else 1: look up a table
RT_TABLES = {"default": 253, "main": 254, "local": 255}  # iproute2's names; others are numbers here
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
    """rtnetlink requests on one socket of its own: lookups (answered within the request) and changes."""

    def __init__(self) -> None:
        self._changes = socket.socket(
            socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, socket.NETLINK_ROUTE
        )
        self._changes.settimeout(CHANGE_TIMEOUT)
        self._sequence = itertools.count(1)

    def close(self) -> None:
        self._changes.close()

    async def interface(self, name: str) -> Interface:
        """Look ``name`` up; raises LookupError when there is no such link."""
        link = self._link(name)
        if link is None:
            raise LookupError(f"no interface {name}")
        index, _flags, attrs = link
        ipv4 = link_local = None
        for message in self._query(request(RTM_GETADDR, NLM_F_DUMP, IFADDRMSG.pack(0, 0, 0, 0, 0))):
            if _TYPE.unpack_from(message, 4)[0] != RTM_NEWADDR:
                continue
            _, _, _, _, owner = IFADDRMSG.unpack_from(message, NLMSGHDR.size)
            data = attributes(message, NLMSGHDR.size + IFADDRMSG.size).get(IFA_ADDRESS)
            if owner != index or data is None:
                continue
            address = ip_address(data)
            if ipv4 is None and address.version == 4:
                ipv4 = address
            elif link_local is None and address.version == 6 and address.is_link_local:
                link_local = address
        return Interface(name, index, attrs.get(IFLA_ADDRESS, bytes(6))[:6], ipv4, link_local)

    def _link(self, name: str) -> tuple[int, int, dict[int, bytes]] | None:
        """(index, flags, attributes) of link ``name``, None when there is none."""
        body = IFINFOMSG.pack(0, 0, 0, 0, 0) + attribute(IFLA_IFNAME, name.encode() + b"\0")
        try:
            (message,) = self._query(request(RTM_GETLINK, 0, body))
        except OSError as error:
            if error.errno in (errno.ENODEV, errno.EINVAL):  # EINVAL: a name too long to be a link's
                return None
            raise
        return link_of(message)

    def _query(self, message: bytes) -> list[bytes]:
        """Send ``message``; the kernel's answers to it up to NLMSG_DONE (a dump) or the first one."""
        sequence = next(self._sequence) & 0xFFFFFFFF
        self._changes.send(message[:8] + struct.pack("=I", sequence) + message[12:])
        answers: list[bytes] = []
        while True:
            for reply in split(self._changes.recv(1 << 16)):
                kind, flags, seq = struct.unpack_from("=HHI", reply, 4)
                if seq != sequence:
                    continue  # the answer to an earlier request that timed out
                if kind == NLMSG_ERROR:
                    (error,) = _ERROR.unpack_from(reply, 16)
                    if error:
                        raise OSError(-error, os.strerror(-error))
                    return answers
                if kind == NLMSG_DONE:
                    return answers
                answers.append(reply)
                if not flags & NLM_F_MULTI:
                    return answers

    # --- links (use_vmac) --------------------------------------------------------------------

    async def links_named(self, name: str) -> list[tuple[int, str | None]]:
        """(index, kind) of the link called ``name``, if there is one (kind None: a plain device)."""
        link = self._link(name)
        if link is None:
            return []
        index, _flags, attrs = link
        kind = attributes(attrs[IFLA_LINKINFO], 0).get(IFLA_INFO_KIND) if IFLA_LINKINFO in attrs else None
        return [(index, kind.rstrip(b"\0").decode() if kind else None)]

    async def add_macvlan(self, name: str, base_index: int, mac: bytes) -> int:
        """Make macvlan ``name`` (mode private, down) on link ``base_index`` with ``mac``; its index."""
        self._change(macvlan_request(name, base_index, mac), 0)
        link = self._link(name)
        if link is None:
            raise OSError(errno.ENODEV, f"{name} vanished after it was made")
        return link[0]

    async def set_up(self, index: int) -> None:
        self._change(request(RTM_NEWLINK, NLM_F_ACK, IFINFOMSG.pack(0, 0, index, IFF_UP, IFF_UP)), 0)

    def remove_link(self, index: int) -> None:
        self._change(dellink_request(index), errno.ENODEV)

    def add_rule(self, rule: VirtualRule, family: int) -> None:
        self._change(rule_request(rule, family, add=True), errno.EEXIST)

    def remove_rule(self, rule: VirtualRule, family: int) -> None:
        self._change(rule_request(rule, family, add=False), errno.ENOENT)

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


class AddressEvents:
    """The kernel's address notifications (IPv4 and IPv6), read without blocking."""

    GROUPS = 0x10 | 0x100  # RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR

    def __init__(self) -> None:
        self._sock = socket.socket(
            socket.AF_NETLINK,
            socket.SOCK_RAW | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC,
            socket.NETLINK_ROUTE,
        )
        try:  # room for the events of a takeover of hundreds of instances (root may pass rmem_max)
            self._sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 1 << 20)
        except PermissionError:
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self._sock.bind((0, self.GROUPS))

    def fileno(self) -> int:
        return self._sock.fileno()

    def close(self) -> None:
        self._sock.close()

    def removed(self) -> set[tuple[int, IPAddress]]:
        """(interface index, address) of every address whose last event queued is its removal; none
        when the kernel dropped events (ENOBUFS): a lost re-add would make one of ours look removed."""
        last: dict[tuple[int, IPAddress], int] = {}
        lost = False
        while True:
            try:
                data = self._sock.recv(1 << 16)
            except BlockingIOError:
                break
            except OSError as error:
                if error.errno != errno.ENOBUFS:
                    raise
                lost = True  # the rest is still read, so that the socket is empty again
                continue
            for message in split(data):
                kind = _TYPE.unpack_from(message, 4)[0]
                if kind not in (RTM_NEWADDR, RTM_DELADDR):
                    continue
                index = IFADDRMSG.unpack_from(message, NLMSGHDR.size)[4]
                attrs = attributes(message, NLMSGHDR.size + IFADDRMSG.size)
                local = attrs.get(IFA_LOCAL, attrs.get(IFA_ADDRESS))
                if local is not None:
                    last[(index, ip_address(local))] = kind
        return set() if lost else {key for key, kind in last.items() if kind == RTM_DELADDR}


def request(kind: int, flags: int, body: bytes) -> bytes:
    """A netlink request of ``kind`` (sequence 0: filled in when sent)."""
    return NLMSGHDR.pack(NLMSGHDR.size + len(body), kind, NLM_F_REQUEST | flags, 0, 0) + body


def attribute(kind: int, data: bytes) -> bytes:
    """One rtattr, padded to 4 octets."""
    length = RTA.size + len(data)
    return RTA.pack(length, kind) + data + bytes(-length % 4)


def attributes(data: bytes, offset: int) -> dict[int, bytes]:
    """The rtattrs in ``data`` from ``offset`` by type (the first of each; nested ones are data)."""
    found: dict[int, bytes] = {}
    while offset + RTA.size <= len(data):
        length, kind = RTA.unpack_from(data, offset)
        if length < RTA.size:
            break
        found.setdefault(kind & 0x3FFF, data[offset + RTA.size : offset + length])  # without NLA_F_NESTED
        offset += (length + 3) & ~3
    return found


def split(buffer: bytes) -> list[bytes]:
    """The netlink messages in what one recv() returned."""
    messages, offset = [], 0
    while offset + NLMSGHDR.size <= len(buffer):
        (length,) = struct.unpack_from("=I", buffer, offset)
        if length < NLMSGHDR.size:
            break
        messages.append(buffer[offset : offset + length])
        offset += (length + 3) & ~3
    return messages


def link_of(message: bytes) -> tuple[int, int, dict[int, bytes]]:
    """(index, flags, attributes) of an RTM_NEWLINK / RTM_DELLINK message."""
    _family, _type, index, flags, _change = IFINFOMSG.unpack_from(message, NLMSGHDR.size)
    return index, flags, attributes(message, NLMSGHDR.size + IFINFOMSG.size)


def dellink_request(index: int) -> bytes:
    """RTM_DELLINK of link ``index``, asking for an acknowledgement."""
    return request(RTM_DELLINK, NLM_F_ACK, IFINFOMSG.pack(0, 0, index, 0, 0))


def macvlan_request(name: str, base_index: int, mac: bytes) -> bytes:
    """RTM_NEWLINK making macvlan ``name`` in private mode on ``base_index`` with address ``mac``."""
    data = attribute(IFLA_MACVLAN_MODE, struct.pack("=I", MACVLAN_MODE_PRIVATE))
    info = attribute(IFLA_INFO_KIND, b"macvlan\0") + attribute(IFLA_INFO_DATA | NLA_F_NESTED, data)
    body = IFINFOMSG.pack(0, 0, 0, 0, 0) + attribute(IFLA_IFNAME, name.encode() + b"\0")
    body += attribute(IFLA_LINK, struct.pack("=I", base_index)) + attribute(IFLA_ADDRESS, mac)
    body += attribute(IFLA_LINKINFO | NLA_F_NESTED, info)
    return request(RTM_NEWLINK, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, body)


@lru_cache(maxsize=4096)
def address_request(vip: VirtualAddress, index: int, add: bool) -> bytes:
    """RTM_NEWADDR / RTM_DELADDR for ``vip`` on link ``index``, as pyroute2's ``addr()`` encodes it."""
    ip = vip.address.ip.packed
    family = socket.AF_INET if vip.address.version == 4 else socket.AF_INET6
    scope = scope_number(vip.scope) if add else 0
    header = IFADDRMSG.pack(family, vip.address.network.prefixlen, 0, scope, index)
    # with a peer (point-to-point, as ip address's "peer"): IFA_ADDRESS is the peer, IFA_LOCAL ours
    attrs = attribute(IFA_ADDRESS, vip.peer.packed if vip.peer is not None else ip)
    if add and vip.label:
        attrs += attribute(IFA_LABEL, vip.label.encode() + b"\0")
    if add and vip.brd is not None:
        attrs += attribute(IFA_BROADCAST, vip.brd.packed)
    if vip.address.version == 4 or vip.peer is not None:
        attrs += attribute(IFA_LOCAL, ip)
    if vip.address.version == 6 and add:
        attrs += attribute(IFA_FLAGS, struct.pack("=I", IFA_F_NODAD))
    return request(RTM_NEWADDR if add else RTM_DELADDR, _change_flags(add), header + attrs)


@lru_cache(maxsize=4096)
def route_request(route: VirtualRoute, index: int | None, add: bool) -> bytes:
    """RTM_NEWROUTE / RTM_DELROUTE for ``route`` (via link ``index``), as pyroute2's ``route()`` does."""
    table = int(route.table) if route.table is not None and route.table.isdigit() else None
    nowhere = RTN_NOWHERE.get(route.type)
    header = RTMSG.pack(
        socket.AF_INET if route.destination.version == 4 else socket.AF_INET6,
        route.destination.prefixlen,
        0,
        0,
        table if table is not None and table < 256 else RT_TABLE_MAIN,  # RTA_TABLE has it whole
        RTPROT_STATIC if add else 0,
        scope_number(route.scope),
        (nowhere or RTN_UNICAST) if add else 0,
        0,
    )
    attrs = attribute(RTA_DST, route.destination.network_address.packed)
    if index is not None and nowhere is None:
        attrs += attribute(RTA_OIF, struct.pack("=I", index))
    if route.via is not None and nowhere is None:
        attrs += attribute(RTA_GATEWAY, route.via.packed)
    if route.metric is not None:
        attrs += attribute(RTA_PRIORITY, struct.pack("=I", route.metric))
    if table is not None:
        attrs += attribute(RTA_TABLE, struct.pack("=I", table))
    if route.src is not None:
        attrs += attribute(RTA_PREFSRC, route.src.packed)
    return request(RTM_NEWROUTE if add else RTM_DELROUTE, _change_flags(add), header + attrs)


def _change_flags(add: bool) -> int:
    """An address or route change asks for an acknowledgement; an add creates, and fails with EEXIST
    when the object is there already."""
    return NLM_F_ACK | (NLM_F_CREATE | NLM_F_EXCL if add else 0)


def rule_carried(rule: VirtualRule) -> bool:
    """Whether :func:`rule_request` can say what ``rule`` means (a table name from rt_tables, or the
    no_route action, it cannot)."""
    return rule.action != "no_route" and (rule.table is None or rule_table(rule) is not None)


def rule_table(rule: VirtualRule) -> int | None:
    """The table a rule looks up: a number, or one of iproute2's own names; None: it names none, or
    one this module cannot resolve (from /etc/iproute2/rt_tables: not read)."""
    if rule.table is None:
        return None
    return int(rule.table) if rule.table.isdigit() else RT_TABLES.get(rule.table)


@lru_cache(maxsize=1024)
def rule_request(rule: VirtualRule, family: int, add: bool) -> bytes:
    """RTM_NEWRULE / RTM_DELRULE for ``rule`` (``family`` 4 or 6 when it names no prefix), as ip rule."""
    prefix = rule.from_ or rule.to
    family = prefix.version if prefix is not None else family
    word = (rule.action or "").split()[0] if rule.action else None
    action = FR_ACTIONS.get(word, 1) if word != "no_route" else 1
    table = rule_table(rule) if action == 1 else None
    attrs = b""
    for kind, prefix_ in ((FRA_SRC, rule.from_), (FRA_DST, rule.to)):
        if prefix_ is not None:
            attrs += attribute(kind, prefix_.network_address.packed)
    if rule.priority is not None:
        attrs += attribute(FRA_PRIORITY, struct.pack("=I", rule.priority))
    if rule.fwmark is not None:
        attrs += attribute(FRA_FWMARK, struct.pack("=I", rule.fwmark))
    for kind, ifname in ((FRA_IIFNAME, rule.iif), (FRA_OIFNAME, rule.oif)):
        if ifname is not None:
            attrs += attribute(kind, ifname.encode() + b"\0")
    if word == "goto":
        attrs += attribute(FRA_GOTO, struct.pack("=I", int(rule.action.split()[1])))
    if table is not None:
        attrs += attribute(FRA_TABLE, struct.pack("=I", table))
    header = FIB_RULE_HDR.pack(
        socket.AF_INET if family == 4 else socket.AF_INET6,
        rule.to.prefixlen if rule.to is not None else 0,
        rule.from_.prefixlen if rule.from_ is not None else 0,
        0,
        table if table is not None and table < 256 else 0,
        0,
        0,
        action if add or rule.action else 0,
        0,
    )
    return request(RTM_NEWRULE if add else RTM_DELRULE, _change_flags(add), header + attrs)
