"""Interfaces, virtual addresses and virtual routes through rtnetlink (pyroute2's asyncio API)."""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address

from tandem.config.model import IPAddress, VirtualAddress, VirtualRoute
from tandem.rtnetlink import AsyncIPRoute, NetlinkError

# `ip` accepts these names for scopes (rt_scopes); numbers are taken as they are.
SCOPES = {"global": 0, "universe": 0, "site": 200, "link": 253, "host": 254, "nowhere": 255}
IFA_F_NODAD = 0x02  # IPv6 virtual addresses are usable at once, as keepalived adds them


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

    def close(self) -> None:
        self._ipr.close()

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

    async def add_address(self, vip: VirtualAddress, index: int) -> None:
        kwargs = {"scope": scope_number(vip.scope)}
        if vip.label:
            kwargs["label"] = vip.label
        if vip.brd is not None:
            kwargs["broadcast"] = str(vip.brd)
        if vip.address.version == 6:
            kwargs["flags"] = IFA_F_NODAD
        await self._tolerate(errno.EEXIST, self._ipr.addr("add", index=index, **_address_of(vip), **kwargs))

    async def remove_address(self, vip: VirtualAddress, index: int) -> None:
        await self._tolerate(errno.EADDRNOTAVAIL, self._ipr.addr("del", index=index, **_address_of(vip)))

    async def add_route(self, route: VirtualRoute, index: int | None) -> None:
        await self._tolerate(errno.EEXIST, self._ipr.route("add", **_route_of(route, index)))

    async def remove_route(self, route: VirtualRoute, index: int | None) -> None:
        await self._tolerate(errno.ESRCH, self._ipr.route("del", **_route_of(route, index)))

    @staticmethod
    async def _tolerate(code: int, request) -> None:
        """Run ``request``; the error that means "already done" is not one."""
        try:
            await request
        except NetlinkError as error:
            if error.code != code:
                raise


def _address_of(vip: VirtualAddress) -> dict[str, object]:
    return {"address": str(vip.address.ip), "prefixlen": vip.address.network.prefixlen}


def _route_of(route: VirtualRoute, index: int | None) -> dict[str, object]:
    spec: dict[str, object] = {
        "dst": str(route.destination),
        "family": socket.AF_INET if route.destination.version == 4 else socket.AF_INET6,
        "scope": scope_number(route.scope),
    }
    if index is not None:
        spec["oif"] = index
    if route.via is not None:
        spec["gateway"] = str(route.via)
    if route.src is not None:
        spec["prefsrc"] = str(route.src)
    if route.metric is not None:
        spec["priority"] = route.metric
    if route.table is not None and route.table.isdigit():
        spec["table"] = int(route.table)
    return spec
