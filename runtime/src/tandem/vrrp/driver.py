"""The asyncio driver: carries out what the sans-IO instances ask, and feeds them packets and time.

One raw socket per (interface, family) is shared by the instances on it; received packets go to the
instance of their VRID. Each instance has one timer armed with ``loop.call_at`` at its own monotonic
deadline (``loop.time()`` is ``time.monotonic()``), so advert cadence never drifts. A handle that
would fire before the deadline is kept rather than re-armed (a backup's deadline moves later with
every advert); it re-arms when it fires early. Master_Down_Timer is woken ``TAKEOVER_LEAD`` early
and the rest slept precisely: the loop's timers fire up to a millisecond late (epoll's resolution).

Interfaces are looked up once and cached; :meth:`Driver.revalidate` looks again (and forgets them
all when one changed), a failed :meth:`Driver.prepare` forgets its interface, a reload all of them.

Instances are added, updated in place and removed by name (reloads); one whose interface or source
address is missing stays *unprepared* until :meth:`Driver.prepare` succeeds. Transitions and sync
group wishes go to ``on_report``: deciding about them is the owner's business.

Actions run in the order returned. Sends happen at once inside the callback; netlink changes are
awaited, so an instance's later actions (its GARP/NA after adding addresses, or a removal that
follows an add) queue behind them and never overtake.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address

from pyroute2.netlink.exceptions import NetlinkError

from tandem.config.model import IPAddress, VirtualAddress, VirtualRoute
from tandem.vrrp.announce import announcement
from tandem.vrrp.instance import (
    Action,
    AddVips,
    Announce,
    Instance,
    RemoveVips,
    SendAdvert,
    State,
    Transition,
    WantMaster,
)
from tandem.vrrp.netlink import Interface, Netlink
from tandem.vrrp.packet import Drop, Dropped, encode
from tandem.vrrp.params import InstanceParams
from tandem.vrrp.sockets import LinkSocket, VrrpSocket

log = logging.getLogger("tandem.vrrp")

SocketKey = tuple[str, int]  # (interface, family)
TAKEOVER_LEAD = 0.0015  # s: how early the loop wakes for Master_Down_Timer; slept away with time.sleep


class DriverError(Exception):
    """An instance cannot run as configured (missing interface or source address)."""


@dataclass
class Unit:
    """One instance and the I/O resources it uses (none until it could be prepared)."""

    instance: Instance
    sock: VrrpSocket | None = None
    destinations: tuple[IPAddress, ...] = ()
    addresses: list[tuple[VirtualAddress, int]] = field(default_factory=list)  # (address, ifindex)
    routes: list[tuple[VirtualRoute, int | None]] = field(default_factory=list)
    announcements: list[tuple[LinkSocket, bytes]] = field(default_factory=list)
    timer: asyncio.TimerHandle | None = None
    busy: asyncio.Task | None = None
    netlink_errors: int = 0
    send_errors: int = 0

    @property
    def key(self) -> tuple[SocketKey, int]:
        params = self.instance.params
        return (params.interface, params.family), params.vrid


@dataclass
class Driver:
    """Runs instances, added and removed by name, until :meth:`close`.

    An instance whose interface or source address is missing is kept *unprepared* (its reason in
    :attr:`unprepared`); the caller keeps it in FAULT and calls :meth:`prepare` again later.
    """

    # what the instances report to their owner rather than to the wire: transitions, sync group wishes
    on_report: Callable[[Instance, Transition | WantMaster], None] | None = None
    unclaimed: Counter[Drop] = field(default_factory=Counter)  # drops before an instance was known

    def __post_init__(self) -> None:
        self.units: dict[str, Unit] = {}
        self.unprepared: dict[str, str] = {}
        self._receivers: dict[tuple[SocketKey, int], Unit] = {}
        self._sockets: dict[SocketKey, VrrpSocket] = {}
        self._links: dict[str, LinkSocket] = {}
        self._interfaces: dict[str, Interface] = {}

    @property
    def instances(self) -> list[Instance]:
        return [unit.instance for unit in self.units.values()]

    def open(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._netlink = Netlink()

    def now(self) -> float:
        return self._loop.time()

    async def add(self, params: InstanceParams) -> Instance:
        """Create an instance (in INITIALIZE) and prepare its I/O if it can be."""
        placeholder = params.source or (IPv4Address(0) if params.family == 4 else IPv6Address(0))
        unit = self.units[params.name] = Unit(Instance(params, placeholder))
        await self.prepare(params.name)
        return unit.instance

    async def prepare(self, name: str) -> bool:
        """(Re)try to open what ``name`` needs; False (and the reason in ``unprepared``) when it cannot."""
        unit = self.units[name]
        if unit.sock is not None:
            return True
        try:
            await self._prepare(unit)
        except (DriverError, OSError) as error:
            self._interfaces.pop(unit.instance.params.interface, None)  # look again at the next try
            if self.unprepared.get(name) != str(error):
                log.error("(%s) cannot run: %s", name, error)
            self.unprepared[name] = str(error)
            return False
        self.unprepared.pop(name, None)
        return True

    def act(self, name: str, event: Callable[[Instance, float], list[Action]]) -> None:
        """Feed ``event(instance, now)`` to ``name`` and carry out the actions it returns."""
        unit = self.units[name]
        self._dispatch(unit, event(unit.instance, self.now()))

    async def update(self, params: InstanceParams) -> None:
        """Apply in-place changes (priority, VIPs, timers): addresses dropped from a Master are removed."""
        unit = self.units[params.name]
        if unit.sock is not None:
            addresses, routes, announcements = await self._resources(params)
            kept = {(vip.address, index) for vip, index in addresses}
            stale = [(vip, index) for vip, index in unit.addresses if (vip.address, index) not in kept]
            unit.addresses, unit.routes, unit.announcements = addresses, routes, announcements
            if stale and unit.instance.state is State.MASTER:
                await self._settle(unit)
                await self._change_addresses(unit, False, stale, [])
        self.act(params.name, lambda instance, now: instance.update(params, now))

    async def remove(self, name: str) -> None:
        """Shutdown ``name`` (priority-0 advert, address removal) and forget it."""
        unit = self.units[name]
        self.act(name, lambda instance, now: instance.stop(now))
        await self._settle(unit)
        if unit.timer is not None:
            unit.timer.cancel()
        del self.units[name]
        self.unprepared.pop(name, None)
        self._release(unit)

    async def revalidate(self, name: str) -> None:
        """Drop the I/O of ``name`` (not running) if its interface is gone or was re-created, so that
        :meth:`prepare` opens it anew; every instance sharing that socket is released with it."""
        unit = self.units[name]
        if unit.sock is None:
            return
        self._interfaces.pop(unit.sock.ifname, None)
        try:
            index = (await self._interface(unit.sock.ifname)).index
        except DriverError:
            index = None
        if index == unit.sock.ifindex:
            return
        self.forget_interfaces()  # links changed: the other cached ones may be stale too
        reason = f"interface {unit.sock.ifname} {'is gone' if index is None else 'was re-created'}"
        self._loop.remove_reader(unit.sock.fileno())
        del self._sockets[unit.key[0]]
        if (link := self._links.pop(unit.sock.ifname, None)) is not None:
            link.close()
        for other in [u for u in self.units.values() if u.sock is unit.sock]:
            self._release(other)
            self.unprepared[other.instance.params.name] = reason
        log.warning("(%s) %s: reopening when it is back", name, reason)

    def _release(self, unit: Unit) -> None:
        """Forget ``unit``'s I/O; its socket closes with the last unit using it."""
        sock, unit.sock = unit.sock, None
        if self._receivers.get(unit.key) is unit:
            del self._receivers[unit.key]
        if sock is None or any(u.sock is sock for u in self.units.values()):
            return
        if self._sockets.get(unit.key[0]) is sock:
            self._loop.remove_reader(sock.fileno())
            del self._sockets[unit.key[0]]
        sock.close()

    def forget_interfaces(self) -> None:
        """Look interfaces up afresh from now on (a reload may follow changed links)."""
        self._interfaces.clear()

    async def close(self) -> None:
        """Shutdown every instance and release every resource."""
        for name in list(self.units):
            self.act(name, lambda instance, now: instance.stop(now))
        await asyncio.gather(*(self._settle(u) for u in self.units.values()))
        for unit in self.units.values():
            if unit.timer is not None:
                unit.timer.cancel()
        for sock in self._sockets.values():
            self._loop.remove_reader(sock.fileno())
            sock.close()
        for link in self._links.values():
            link.close()
        self._sockets.clear()
        self._links.clear()
        self._netlink.close()

    @staticmethod
    async def _settle(unit: Unit) -> None:
        """Wait for the unit's queued address changes."""
        if unit.busy is not None:
            await asyncio.wait([unit.busy])

    # --- set-up ---------------------------------------------------------------------------------

    async def _interface(self, name: str) -> Interface:
        if (cached := self._interfaces.get(name)) is not None:
            return cached
        try:
            found = self._interfaces[name] = await self._netlink.interface(name)
        except LookupError as error:
            raise DriverError(str(error)) from None
        return found

    async def _prepare(self, unit: Unit) -> None:
        params = unit.instance.params
        link = await self._interface(params.interface)
        local = params.source or link.primary(params.family)
        if local is None:
            raise DriverError(f"{params.interface} has no IPv{params.family} address to send from")
        addresses, routes, announcements = await self._resources(params)
        key = (params.interface, params.family)
        if key not in self._sockets:
            # one multicast group per family (global_defs): the first instance's is everyone's
            sock = VrrpSocket(params.family, params.interface, link.index, (params.group,))
            self._sockets[key] = sock
            self._loop.add_reader(sock.fileno(), self._on_readable, key, sock)
        unit.instance.local_address = local
        unit.sock = self._sockets[key]
        unit.destinations = params.unicast_peers or (params.group,)
        unit.addresses, unit.routes, unit.announcements = addresses, routes, announcements
        self._receivers[unit.key] = unit

    async def _resources(self, params: InstanceParams):
        """The addresses (with interface index), routes and GARP/NA frames of ``params``."""
        addresses, announcements = [], []
        for vip in (*params.vips, *params.excluded_vips):
            dev = await self._interface(vip.dev or params.interface)
            addresses.append((vip, dev.index))
            if dev.name not in self._links:
                self._links[dev.name] = LinkSocket(dev.name)
            announcements.append((self._links[dev.name], announcement(dev.mac, vip.address.ip)))
        routes = [(r, (await self._interface(r.dev)).index if r.dev else None) for r in params.routes]
        return addresses, routes, announcements

    # --- events in ------------------------------------------------------------------------------

    def _on_readable(self, key: SocketKey, sock: VrrpSocket) -> None:
        while True:
            try:
                packet = sock.receive()
            except BlockingIOError:
                return
            except Dropped as dropped:
                self.unclaimed[dropped.reason] += 1
                continue
            except OSError as error:
                log.warning("receive on %s: %s", sock.ifname, error)
                return
            if len(packet.payload) < 2:
                self.unclaimed[Drop.TRUNCATED] += 1
                continue
            unit = self._receivers.get((key, packet.payload[1]))
            if unit is None:
                self.unclaimed[Drop.VRID] += 1
                continue
            counters = unit.instance.counters
            accepted = counters.adverts_received
            self._dispatch(unit, unit.instance.receive(packet, self._loop.time()))
            if counters.adverts_received == accepted:
                name, reason = unit.instance.params.name, counters.last_drop.value
                log.debug("(%s) dropped a packet from %s: %s", name, packet.src, reason)

    def _on_timer(self, unit: Unit) -> None:
        unit.timer = None
        instance, now = unit.instance, self._loop.time()
        deadline = instance.deadline
        if deadline is not None and deadline > now:
            if deadline != instance.master_down_at or deadline - now > TAKEOVER_LEAD:
                self._arm(unit)
                return
            time.sleep(deadline - now)
            now = self._loop.time()
        self._dispatch(unit, instance.timer(now))

    def _arm(self, unit: Unit) -> None:
        """Make sure a timer handle fires by ``unit``'s deadline (early for Master_Down_Timer)."""
        instance = unit.instance
        deadline = instance.deadline
        if deadline is None:
            if unit.timer is not None:
                unit.timer.cancel()
                unit.timer = None
            return
        when = deadline - TAKEOVER_LEAD if deadline == instance.master_down_at else deadline
        if unit.timer is not None:
            if unit.timer.when() <= when:
                return
            unit.timer.cancel()
        unit.timer = self._loop.call_at(when, self._on_timer, unit)

    # --- actions out ----------------------------------------------------------------------------

    def _dispatch(self, unit: Unit, actions: list[Action]) -> None:
        previous = unit.busy if unit.busy is not None and not unit.busy.done() else None
        if previous is None:
            while actions and not isinstance(actions[0], AddVips | RemoveVips):
                self._do(unit, actions.pop(0))
        if actions:
            unit.busy = self._loop.create_task(self._do_after(unit, actions, previous))
        self._arm(unit)

    async def _do_after(self, unit: Unit, actions: list[Action], previous: asyncio.Task | None) -> None:
        if previous is not None:
            await asyncio.wait([previous])
        for action in actions:
            if isinstance(action, AddVips | RemoveVips):
                await self._change_addresses(unit, isinstance(action, AddVips), unit.addresses, unit.routes)
            else:
                self._do(unit, action)

    def _do(self, unit: Unit, action: Action) -> None:
        instance = unit.instance
        if isinstance(action, SendAdvert):
            for dst in unit.destinations:
                wire = encode(action.advert, instance.local_address, dst)
                try:
                    unit.sock.send(wire, instance.local_address, dst)
                except OSError as error:
                    unit.send_errors += 1
                    log.warning("(%s) advert to %s not sent: %s", instance.params.name, dst, error)
        elif isinstance(action, Announce):
            for _ in range(action.repeat):
                for link, frame in unit.announcements:
                    try:
                        link.send(frame)
                    except OSError as error:
                        unit.send_errors += 1
                        log.warning("(%s) GARP/NA not sent: %s", instance.params.name, error)
        else:
            if isinstance(action, Transition):
                name, state = instance.params.name, action.new.value
                log.info("(%s) Entering %s STATE (%s)", name, state, action.reason)
            if self.on_report is not None:
                self.on_report(instance, action)

    async def _change_addresses(self, unit: Unit, add: bool, addresses: list, routes: list) -> None:
        name = unit.instance.params.name
        netlink = self._netlink
        change_address = netlink.add_address if add else netlink.remove_address
        change_route = netlink.add_route if add else netlink.remove_route
        changes = [
            *(change_address(vip, index) for vip, index in addresses),
            *(change_route(route, index) for route, index in routes),
        ]
        for change in changes:
            try:
                await change
            except (OSError, NetlinkError) as error:
                unit.netlink_errors += 1
                log.error("(%s) %s virtual address/route: %s", name, "add" if add else "remove", error)
        log.info("(%s) %s %d virtual addresses", name, "added" if add else "removed", len(addresses))
