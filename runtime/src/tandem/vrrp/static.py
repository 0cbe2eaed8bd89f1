"""static_ipaddress / static_routes: addresses and routes held for as long as the VRRP process runs.

keepalived adds them when its VRRP process starts, whatever the instances' states, and removes them
when it stops; a reload removes those the new config no longer has and adds the new ones. An address
without ``dev`` goes on global_defs ``default_interface`` (keepalived's default: eth0); a route without
``dev`` goes where the kernel routes its gateway. A change that fails (no such interface, a route the
kernel refuses) is logged and the rest go on; :meth:`StaticEntries.apply` tries the missing ones again.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from tandem.config.model import NOWHERE, Config, VirtualAddress, VirtualRoute
from tandem.vrrp.netlink import Netlink

log = logging.getLogger("tandem")
DEFAULT_INTERFACE = "eth0"  # keepalived's when global_defs has no default_interface

Entry = tuple[VirtualAddress | VirtualRoute, str | None]  # what, and on which interface (None: any)


def static_entries(config: Config) -> list[Entry]:
    """The config's static addresses and routes (where they were written left out: a reload that only
    moves them keeps them), each with the interface it goes on."""
    default = config.global_defs.default_interface or DEFAULT_INTERFACE
    entries: list[Entry] = [(replace(a, pos=NOWHERE), a.dev or default) for a in config.static_ipaddresses]
    entries += [(replace(route, pos=NOWHERE), route.dev) for route in config.static_routes]
    return entries


def _key(entry: Entry):
    what, ifname = entry
    return (
        type(what).__name__,
        what.address if isinstance(what, VirtualAddress) else what.destination,
        ifname,
    )


class StaticEntries:
    """The static addresses and routes this process holds."""

    def __init__(self, netlink: Netlink | None = None) -> None:
        self._netlink = netlink
        self._held: dict[object, Entry] = {}

    async def apply(self, config: Config) -> None:
        """Hold exactly ``config``'s entries: remove those it no longer has, add the others."""
        wanted = {_key(entry): entry for entry in static_entries(config)}
        for key in [k for k, entry in self._held.items() if wanted.get(k) != entry]:
            await self._change(self._held.pop(key), add=False)
        for key, entry in wanted.items():
            if key not in self._held and await self._change(entry, add=True):
                self._held[key] = entry

    async def clear(self) -> None:
        for entry in self._held.values():
            await self._change(entry, add=False)
        self._held.clear()
        if self._netlink is not None:
            self._netlink.close()
            self._netlink = None

    async def _change(self, entry: Entry, add: bool) -> bool:
        what, ifname = entry
        if self._netlink is None:
            self._netlink = Netlink()
        netlink = self._netlink
        kind = "address" if isinstance(what, VirtualAddress) else "route"
        shown = what.address if isinstance(what, VirtualAddress) else what.destination
        try:
            index = (await netlink.interface(ifname)).index if ifname is not None else None
            if isinstance(what, VirtualAddress):
                (netlink.add_address if add else netlink.remove_address)(what, index)
            else:
                (netlink.add_route if add else netlink.remove_route)(what, index)
        except (LookupError, OSError) as error:
            log.error("static %s %s not %s: %s", kind, shown, "added" if add else "removed", error)
            return False
        log.info("static %s %s %s", kind, shown, "added" if add else "removed")
        return True
