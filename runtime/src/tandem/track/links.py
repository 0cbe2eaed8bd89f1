"""LinkMonitor: link up/down (administratively up and with carrier) from rtnetlink events."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from tandem.rtnetlink import RTM_DELLINK, RTM_NEWLINK, RTMGRP_LINK, AsyncIPRoute

IFF_UP = 0x1
IFF_RUNNING = 0x40  # carrier: what keepalived calls a link being up


def link_is_up(flags: int) -> bool:
    return flags & (IFF_UP | IFF_RUNNING) == IFF_UP | IFF_RUNNING


class LinkMonitor:
    """``on_change(ifname, up)`` for each watched link: its state at start, then every change.

    Works in the namespace the process runs in. A link that does not exist counts as down.
    """

    def __init__(self, ifnames: Iterable[str], on_change: Callable[[str, bool], None]) -> None:
        self.ifnames = frozenset(ifnames)
        self.on_change = on_change
        self._state: dict[str, bool] = {}

    async def run(self) -> None:
        events = AsyncIPRoute()
        try:
            await events.bind(groups=RTMGRP_LINK)  # before the dump, so no change falls in between
            await self._initial_state()
            while True:
                async for msg in events.get():
                    kind = msg["header"]["type"]
                    if kind in (RTM_NEWLINK, RTM_DELLINK):
                        self._report(msg.get("IFLA_IFNAME"), kind == RTM_NEWLINK and link_is_up(msg["flags"]))
        finally:
            events.close()

    async def _initial_state(self) -> None:
        seen: dict[str, bool] = dict.fromkeys(self.ifnames, False)
        dump = AsyncIPRoute()
        try:
            async for msg in await dump.link("dump"):
                name = msg.get("IFLA_IFNAME")
                if name in seen:
                    seen[name] = link_is_up(msg["flags"])
        finally:
            dump.close()
        for name, up in sorted(seen.items()):
            self._report(name, up)

    def _report(self, ifname: str | None, up: bool) -> None:
        if ifname in self.ifnames and self._state.get(ifname) != up:
            self._state[ifname] = up
            self.on_change(ifname, up)
