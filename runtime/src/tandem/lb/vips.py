"""AddressMonitor: whether virtual-server addresses are local (``ha_suspend``), from rtnetlink events.

Like :class:`tandem.track.links.LinkMonitor`: subscribe first, then dump, so no change falls in
between; ``on_change(address, local)`` is called for every watched address at start (its state then)
and on every change. An address counts as local while any interface of this namespace carries it
(VRRP adds and removes VIPs; so can an operator).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable

from tandem.config.model import IPAddress
from tandem.rtnetlink import RTM_DELADDR, RTM_NEWADDR, RTMGRP_IPV4_IFADDR, RTMGRP_IPV6_IFADDR, AsyncIPRoute


def _address(msg) -> IPAddress | None:
    text = msg.get("IFA_LOCAL") or msg.get("IFA_ADDRESS")  # IPv4: IFA_LOCAL (IFA_ADDRESS is a peer's)
    return ipaddress.ip_address(text) if text else None


class AddressMonitor:
    def __init__(self, addresses: Iterable[IPAddress], on_change: Callable[[IPAddress, bool], None]) -> None:
        self.addresses = frozenset(addresses)
        self.on_change = on_change
        self._where: dict[IPAddress, set[int]] = {a: set() for a in self.addresses}  # interfaces holding it
        self._local: dict[IPAddress, bool] = {}

    async def run(self) -> None:
        events = AsyncIPRoute()
        try:
            await events.bind(groups=RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR)
            dump = AsyncIPRoute()
            try:
                async for msg in await dump.addr("dump"):
                    self._seen(msg, True)
            finally:
                dump.close()
            for address in sorted(self.addresses, key=lambda a: (a.version, a)):
                self._report(address)
            while True:
                async for msg in events.get():
                    kind = msg["header"]["type"]
                    if kind in (RTM_NEWADDR, RTM_DELADDR) and (
                        address := self._seen(msg, kind == RTM_NEWADDR)
                    ):
                        self._report(address)
        finally:
            events.close()

    def _seen(self, msg, present: bool) -> IPAddress | None:
        address = _address(msg)
        if address not in self._where:
            return None
        (self._where[address].add if present else self._where[address].discard)(msg["index"])
        return address

    def _report(self, address: IPAddress) -> None:
        local = bool(self._where[address])
        if self._local.get(address) != local:
            self._local[address] = local
            self.on_change(address, local)
