"""LinkMonitor: link up/down (administratively up and with carrier) from rtnetlink events.

interface_up_down_delays: a link's change is reported only once it has lasted that long (the down
delay for up → down, the up delay for down → up); one that is undone sooner is never reported, so a
bouncing link makes no transitions (keepalived.conf(5), "Interface up/down transition delays").

linkbeat (keepalived's linkbeat_interfaces, linkbeat_use_polling): for drivers that do not report
carrier changes, a polled link's state comes from asking the driver every POLL_INTERVAL instead of
from rtnetlink (its events are ignored for it): ETHTOOL_GLINK where the driver answers it (not with type
IOCTL), then the interface flags (SIOCGIFFLAGS: up and running), as keepalived's linkbeat does. MII
registers are not read (keepalived tries them first): type MII is polled as the default.
"""

from __future__ import annotations

import array
import asyncio
import fcntl
import logging
import socket
import struct
from collections.abc import Callable, Iterable, Mapping

from tandem.config.model import Config
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

log = logging.getLogger("tandem")
RTMGRP_LINK = 0x1
DUMP_TIMEOUT = 5.0  # s: the kernel answers a link dump at once; this only bounds one that does not
POLL_INTERVAL = 1.0  # s: keepalived's linkbeat POLLING_DELAY

IFF_UP = 0x1
IFF_RUNNING = 0x40  # carrier: what keepalived calls a link being up
SIOCGIFFLAGS, SIOCETHTOOL, ETHTOOL_GLINK = 0x8913, 0x8946, 0x0000000A
IFREQ = struct.Struct("16sP16x")  # struct ifreq: the name, then ifr_data (a pointer); 40 bytes


def _rtnetlink(flags: int = 0) -> socket.socket:
    kind = socket.SOCK_RAW | socket.SOCK_CLOEXEC | flags
    return socket.socket(socket.AF_NETLINK, kind, socket.NETLINK_ROUTE)


def link_is_up(flags: int) -> bool:
    return flags & (IFF_UP | IFF_RUNNING) == IFF_UP | IFF_RUNNING


def polled_links(config: Config, watched: Iterable[str]) -> dict[str, str]:
    """The watched links whose state is polled, with their linkbeat type ("" for the default): those of
    linkbeat_interfaces, and the interface of an instance with linkbeat_use_polling (or of every
    instance with the top-level one). As keepalived, a link nothing tracks is not polled."""
    wanted = {entry[0]: (entry[1] if len(entry) > 1 else "") for entry in config.linkbeat_interfaces}
    for instance in config.vrrp_instances:
        if instance.interface and (instance.linkbeat_use_polling or config.linkbeat_use_polling):
            wanted.setdefault(instance.interface, "")
    watched = frozenset(watched)
    return {name: kind for name, kind in wanted.items() if name in watched}


def probe_link(sock: socket.socket, ifname: str, kind: str = "") -> bool:
    """One linkbeat poll: is ``ifname`` up (a missing interface is down)?"""
    name = ifname.encode()[:15]
    try:
        answer = fcntl.ioctl(sock, SIOCGIFFLAGS, IFREQ.pack(name, 0))
    except OSError:
        return False
    if not link_is_up(struct.unpack_from("=H", answer, 16)[0]):
        return False
    if kind != "IOCTL":
        value = array.array("I", [ETHTOOL_GLINK, 0])  # struct ethtool_value {cmd, data}
        try:
            fcntl.ioctl(sock, SIOCETHTOOL, IFREQ.pack(name, value.buffer_info()[0]))
        except OSError:
            pass  # the driver has no get_link: the flags decide
        else:
            return bool(value[1])
    return True


class LinkMonitor:
    """``on_change(ifname, up)`` for each watched link: its state at start, then every change.

    Works in the namespace the process runs in. A link that does not exist counts as down.
    """

    def __init__(
        self,
        ifnames: Iterable[str],
        on_change: Callable[[str, bool], None],
        delays: Mapping[str, tuple[float, float]] | None = None,  # ifname → (down delay, up delay)
        polled: Mapping[str, str] | None = None,  # ifname → linkbeat type: polled, not from rtnetlink
        probe: Callable[[socket.socket, str, str], bool] = probe_link,
        poll_interval: float = POLL_INTERVAL,
    ) -> None:
        self.ifnames = frozenset(ifnames)
        self.on_change = on_change
        self.delays = dict(delays or {})
        self.polled = {name: kind for name, kind in (polled or {}).items() if name in self.ifnames}
        self.probe = probe
        self.poll_interval = poll_interval
        self._state: dict[str, bool] = {}  # as reported
        self._pending: dict[str, tuple[bool, asyncio.TimerHandle]] = {}  # changes waiting out their delay
        self._ioctl: socket.socket | None = None  # the linkbeat polls' socket
        self._probed: dict[str, bool] = {}  # what the last poll of each polled link said
        self._poll_handle: asyncio.TimerHandle | None = None

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        events = _rtnetlink(socket.SOCK_NONBLOCK)
        readable = asyncio.Event()
        try:
            events.bind((0, RTMGRP_LINK))  # before the dump, so no change falls in between
            if self.polled:
                self._ioctl = socket.socket(socket.AF_INET, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                names = ", ".join(sorted(self.polled))
                log.info(
                    "linkbeat: polling %s every %g s instead of netlink link events",
                    names,
                    self.poll_interval,
                )
            self._initial_state()
            if self.polled:
                self._poll_handle = loop.call_later(self.poll_interval, self._poll)
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
                            if name not in self.polled:
                                self._report(name, kind == RTM_NEWLINK and link_is_up(flags))
        finally:
            loop.remove_reader(events.fileno())
            events.close()
            for _, handle in self._pending.values():
                handle.cancel()
            if self._poll_handle is not None:
                self._poll_handle.cancel()
            if self._ioctl is not None:
                self._ioctl.close()

    def _poll(self) -> None:
        loop = asyncio.get_running_loop()
        self._poll_handle = loop.call_later(self.poll_interval, self._poll)  # keepalived's cadence
        for name, kind in sorted(self.polled.items()):
            up = self.probe(self._ioctl, name, kind)
            if up != self._probed.get(name):
                self._probed[name] = up
                log.info("Linkbeat reports %s %s", name, "up" if up else "down")
            self._report(name, up)

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
        for name, kind in self.polled.items():
            seen[name] = self._probed[name] = self.probe(self._ioctl, name, kind)
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
