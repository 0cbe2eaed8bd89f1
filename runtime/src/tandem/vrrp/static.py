"""static_ipaddress / static_routes / static_rules: held for as long as the VRRP process runs.

keepalived adds them when its VRRP process starts, whatever the instances' states, and removes them
when it stops; a reload removes those the new config no longer has and adds the new ones. An address
without ``dev`` goes on global_defs ``default_interface`` (keepalived's default: eth0); a route without
``dev`` goes where the kernel routes its gateway; a rule naming no prefix is an IPv4 rule. A change that
fails (no such interface, a route the kernel refuses) is logged and the rest go on;
:meth:`StaticEntries.apply` tries the missing ones again.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from tandem.config.model import NOWHERE, Config, VirtualAddress, VirtualRoute, VirtualRule
from tandem.vrrp.netlink import Netlink, rule_carried

log = logging.getLogger("tandem")
DEFAULT_INTERFACE = "eth0"  # keepalived's when global_defs has no default_interface

# what, and where: the interface of an address or route (None: any), the family of a rule
Entry = tuple[VirtualAddress | VirtualRoute | VirtualRule, str | int | None]


def static_entries(config: Config) -> list[Entry]:
    """The config's static addresses, routes and rules (where they were written left out: a reload that
    only moves them keeps them), each with where it goes."""
    default = config.global_defs.default_interface or DEFAULT_INTERFACE
    entries: list[Entry] = [(replace(a, pos=NOWHERE), a.dev or default) for a in config.static_ipaddresses]
    entries += [(replace(route, pos=NOWHERE), route.dev) for route in config.static_routes]
    entries += [(replace(rule, pos=NOWHERE), 4) for rule in config.static_rules if rule_carried(rule)]
    return entries


def _shown(what: VirtualAddress | VirtualRoute | VirtualRule) -> str:
    if isinstance(what, VirtualAddress):
        return str(what.address)
    if isinstance(what, VirtualRoute):
        return str(what.destination)
    words = [f"from {what.from_}" if what.from_ else "", f"to {what.to}" if what.to else ""]
    words += [f"table {what.table}" if what.table else "", what.action or ""]
    return " ".join(w for w in words if w) or "all"


def _key(entry: Entry) -> Entry:
    """What the kernel holds for ``entry``: all it says but no_track (two routes to one destination in
    different tables, or an address whose label changed, are different entries)."""
    what, where = entry
    return replace(what, no_track=False), where


class StaticEntries:
    """The static addresses, routes and rules this process holds."""

    def __init__(self, netlink: Netlink | None = None) -> None:
        self._netlink = netlink
        self._held: dict[tuple[object, ...], Entry] = {}

    async def apply(self, config: Config) -> None:
        """Hold exactly ``config``'s entries: remove those it no longer has, add the others."""
        wanted = {_key(entry): entry for entry in static_entries(config)}
        for key in [k for k in self._held if k not in wanted]:
            await self._change(self._held.pop(key), add=False)
        for key, entry in wanted.items():
            if key in self._held or await self._change(entry, add=True):
                self._held[key] = entry

    async def reinstate(self, gone: set[tuple[object, object]]) -> None:
        """Put back the static addresses (not no_track) in ``gone`` ((interface index, address) removed
        by someone else), as keepalived's reinstate_static_address does."""
        for what, where in list(self._held.values()):
            if not isinstance(what, VirtualAddress) or what.no_track or self._netlink is None:
                continue
            try:
                index = (await self._netlink.interface(where)).index
            except LookupError:
                continue
            if (index, what.address.ip) in gone and await self._change((what, where), add=True):
                log.warning("static address %s was removed by someone else: added again", what.address)

    async def clear(self) -> None:
        for entry in self._held.values():
            await self._change(entry, add=False)
        self._held.clear()
        if self._netlink is not None:
            self._netlink.close()
            self._netlink = None

    async def _change(self, entry: Entry, add: bool) -> bool:
        what, where = entry
        if self._netlink is None:
            self._netlink = Netlink()
        netlink = self._netlink
        kind = type(what).__name__.removeprefix("Virtual").lower()
        try:
            if isinstance(what, VirtualRule):
                (netlink.add_rule if add else netlink.remove_rule)(what, where)
            else:
                index = (await netlink.interface(where)).index if where is not None else None
                if isinstance(what, VirtualAddress):
                    (netlink.add_address if add else netlink.remove_address)(what, index)
                else:
                    (netlink.add_route if add else netlink.remove_route)(what, index)
        except (LookupError, OSError) as error:
            log.error("static %s %s not %s: %s", kind, _shown(what), "added" if add else "removed", error)
            return False
        log.info("static %s %s %s", kind, _shown(what), "added" if add else "removed")
        return True
