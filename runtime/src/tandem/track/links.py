"""LinkMonitor: link up/down (administratively up and with carrier) from rtnetlink events.

interface_up_down_delays: a link's change is reported only once it has lasted that long (the down
delay for up → down, the up delay for down → up); one that is undone sooner is never reported, so a
bouncing link makes no transitions (keepalived.conf(5), "Interface up/down transition delays").
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Callable, Iterable, Mapping

from tandem.vrrp.netlink import (
    IFINFOMSG,
    IFLA_IFNAME,
    NLM_F_DUMP,
    NLMSG_DONE,
    NLMSG_ERROR,
    RTM_DELLINK,
    RTM_GETLINK,
    RTM_NEWLINK,
    link_of,
    request,
    split,
)

RTMGRP_LINK = 0x1
DUMP_TIMEOUT = 5.0  # s: the kernel answers a link dump at once; this only bounds one that does not

IFF_UP = 0x1
IFF_RUNNING = 0x40  # carrier: what keepalived calls a link being up


def _rtnetlink(flags: int = 0) -> socket.socket:
    kind = socket.SOCK_RAW | socket.SOCK_CLOEXEC | flags
    return socket.socket(socket.AF_NETLINK, kind, socket.NETLINK_ROUTE)


def link_is_up(flags: int) -> bool:
    return flags & (IFF_UP | IFF_RUNNING) == IFF_UP | IFF_RUNNING


class LinkMonitor:
    """``on_change(ifname, up)`` for each watched link: its state at start, then every change.

    Works in the namespace the process runs in. A link that does not exist counts as down.
    """

    def __init__(
        self,
        ifnames: Iterable[str],
        on_change: Callable[[str, bool], None],
        delays: Mapping[str, tuple[float, float]] | None = None,  # ifname → (down delay, up delay)
    ) -> None:
        self.ifnames = frozenset(ifnames)
        self.on_change = on_change
        self.delays = dict(delays or {})
        self._state: dict[str, bool] = {}  # as reported
        self._pending: dict[str, tuple[bool, asyncio.TimerHandle]] = {}  # changes waiting out their delay

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        events = _rtnetlink(socket.SOCK_NONBLOCK)
        readable = asyncio.Event()
        try:
            events.bind((0, RTMGRP_LINK))  # before the dump, so no change falls in between
            self._initial_state()
            loop.add_reader(events.fileno(), readable.set)
            while True:
                await readable.wait()
                readable.clear()
                while True:
                    try:
                        data = events.recv(1 << 16)
                    except BlockingIOError:
                        break
                    for message in split(data):
                        kind = struct.unpack_from("=H", message, 4)[0]
                        if kind in (RTM_NEWLINK, RTM_DELLINK):
                            _index, flags, attrs = link_of(message)
                            name = attrs.get(IFLA_IFNAME, b"").rstrip(b"\0").decode(errors="replace")
                            self._report(name, kind == RTM_NEWLINK and link_is_up(flags))
        finally:
            loop.remove_reader(events.fileno())
            events.close()
            for _, handle in self._pending.values():
                handle.cancel()

    def _initial_state(self) -> None:
        seen: dict[str, bool] = dict.fromkeys(self.ifnames, False)
        with _rtnetlink() as dump:
            dump.settimeout(DUMP_TIMEOUT)
            dump.send(request(RTM_GETLINK, NLM_F_DUMP, IFINFOMSG.pack(0, 0, 0, 0, 0)))
            done = False
            while not done:
                for message in split(dump.recv(1 << 16)):
                    kind = struct.unpack_from("=H", message, 4)[0]
                    if kind in (NLMSG_DONE, NLMSG_ERROR):
                        done = True
                    elif kind == RTM_NEWLINK:
                        _index, flags, attrs = link_of(message)
                        name = attrs.get(IFLA_IFNAME, b"").rstrip(b"\0").decode(errors="replace")
                        if name in seen:
                            seen[name] = link_is_up(flags)
        for name, up in sorted(seen.items()):
            self._settle(name, up)  # the state at start counts at once

    def _report(self, ifname: str | None, up: bool) -> None:
        if ifname not in self.ifnames:
            return
        if (pending := self._pending.get(ifname)) is not None:
            if pending[0] == up:
                return  # the same change again: its delay keeps running
            del self._pending[ifname]
            pending[1].cancel()  # undone before its delay ran out
        if self._state.get(ifname) == up:
            return
        down_delay, up_delay = self.delays.get(ifname, (0.0, 0.0))
        delay = up_delay if up else down_delay
        if delay > 0 and ifname in self._state:
            loop = asyncio.get_running_loop()
            self._pending[ifname] = (up, loop.call_later(delay, self._settle, ifname, up))
        else:
            self._settle(ifname, up)

    def _settle(self, ifname: str, up: bool) -> None:
        self._pending.pop(ifname, None)
        if self._state.get(ifname) != up:
            self._state[ifname] = up
            self.on_change(ifname, up)
