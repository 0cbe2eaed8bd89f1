"""The asyncio driver: carries out what the sans-IO instances ask, and feeds them packets and time.

One raw socket per (interface, family) is shared by the instances on it; received packets go to the
instance of their VRID. Each instance has one timer armed with ``loop.call_at`` at its own monotonic
deadline (``loop.time()`` is ``time.monotonic()``), so advert cadence never drifts.

Actions run in the order returned. Sends happen at once inside the callback; netlink changes are
awaited, so an instance's later actions (its GARP/NA after adding addresses, or a removal that
follows an add) queue behind them and never overtake.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pyroute2.netlink.exceptions import NetlinkError

from tandem.config.model import IPAddress, VirtualAddress, VirtualRoute
from tandem.vrrp.announce import announcement
from tandem.vrrp.instance import Action, AddVips, Announce, Instance, RemoveVips, SendAdvert, Transition
from tandem.vrrp.netlink import Interface, Netlink
from tandem.vrrp.packet import Drop, Dropped, encode
from tandem.vrrp.params import InstanceParams
from tandem.vrrp.sockets import LinkSocket, VrrpSocket

log = logging.getLogger("tandem.vrrp")

SocketKey = tuple[str, int]  # (interface, family)


class DriverError(Exception):
    """The instances cannot run as configured (missing interface or source address)."""


@dataclass
class Unit:
    """One running instance and the I/O resources it uses."""

    instance: Instance
    sock: VrrpSocket
    destinations: tuple[IPAddress, ...]
    addresses: list[tuple[VirtualAddress, int]]  # (address, ifindex), advertised and excluded
    routes: list[tuple[VirtualRoute, int | None]]
    announcements: list[tuple[LinkSocket, bytes]]
    timer: asyncio.TimerHandle | None = None
    busy: asyncio.Task | None = None
    netlink_errors: int = 0
    send_errors: int = 0


@dataclass
class Driver:
    """Runs a set of instances until :meth:`stop`."""

    params: Sequence[InstanceParams]
    on_transition: Callable[[InstanceParams, Transition], None] | None = None
    unclaimed: Counter[Drop] = field(default_factory=Counter)  # drops before an instance was known

    def __post_init__(self) -> None:
        self.units: dict[tuple[SocketKey, int], Unit] = {}
        self._sockets: dict[SocketKey, VrrpSocket] = {}
        self._links: dict[str, LinkSocket] = {}
        self._interfaces: dict[str, Interface] = {}

    @property
    def instances(self) -> list[Instance]:
        return [unit.instance for unit in self.units.values()]

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._netlink = Netlink()
        try:
            for params in self.params:
                await self._prepare(params)
        except BaseException:
            self._close()
            raise
        for key, sock in self._sockets.items():
            self._loop.add_reader(sock.fileno(), self._on_readable, key, sock)
        for unit in self.units.values():
            self._dispatch(unit, unit.instance.start(self._loop.time()))

    async def stop(self) -> None:
        """Shutdown every instance (priority-0 advert, then address removal) and release resources."""
        for unit in self.units.values():
            self._dispatch(unit, unit.instance.stop(self._loop.time()))
        await asyncio.gather(
            *(u.busy for u in self.units.values() if u.busy is not None), return_exceptions=True
        )
        for unit in self.units.values():
            if unit.timer is not None:
                unit.timer.cancel()
        self._close()

    # --- set-up ---------------------------------------------------------------------------------

    async def _interface(self, name: str) -> Interface:
        if name not in self._interfaces:
            try:
                self._interfaces[name] = await self._netlink.interface(name)
            except LookupError as error:
                raise DriverError(str(error)) from None
        return self._interfaces[name]

    async def _prepare(self, params: InstanceParams) -> None:
        link = await self._interface(params.interface)
        local = params.source or link.primary(params.family)
        if local is None:
            raise DriverError(
                f"{params.name}: {params.interface} has no IPv{params.family} address to send from"
            )
        key = (params.interface, params.family)
        if key not in self._sockets:
            groups = {p.group for p in self.params if (p.interface, p.family) == key and not p.unicast}
            self._sockets[key] = VrrpSocket(params.family, params.interface, link.index, tuple(groups))
        addresses, announcements = [], []
        for vip in (*params.vips, *params.excluded_vips):
            dev = await self._interface(vip.dev or params.interface)
            addresses.append((vip, dev.index))
            if dev.name not in self._links:
                self._links[dev.name] = LinkSocket(dev.name)
            announcements.append((self._links[dev.name], announcement(dev.mac, vip.address.ip)))
        routes = [(r, (await self._interface(r.dev)).index if r.dev else None) for r in params.routes]
        self.units[(key, params.vrid)] = Unit(
            instance=Instance(params, local),
            sock=self._sockets[key],
            destinations=params.unicast_peers or (params.group,),
            addresses=addresses,
            routes=routes,
            announcements=announcements,
        )

    def _close(self) -> None:
        for sock in self._sockets.values():
            if hasattr(self, "_loop"):
                self._loop.remove_reader(sock.fileno())
            sock.close()
        for link in self._links.values():
            link.close()
        self._sockets.clear()
        self._links.clear()
        self._netlink.close()

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
            unit = self.units.get((key, packet.payload[1]))
            if unit is None:
                self.unclaimed[Drop.VRID] += 1
                continue
            counters = unit.instance.counters
            drops = counters.drops.total()
            self._dispatch(unit, unit.instance.receive(packet, self._loop.time()))
            if counters.drops.total() != drops:
                name, reason = unit.instance.params.name, counters.last_drop.value
                log.debug("(%s) dropped a packet from %s: %s", name, packet.src, reason)

    def _on_timer(self, unit: Unit) -> None:
        unit.timer = None
        self._dispatch(unit, unit.instance.timer(self._loop.time()))

    # --- actions out ----------------------------------------------------------------------------

    def _dispatch(self, unit: Unit, actions: list[Action]) -> None:
        previous = unit.busy if unit.busy is not None and not unit.busy.done() else None
        if previous is None:
            while actions and not isinstance(actions[0], AddVips | RemoveVips):
                self._do(unit, actions.pop(0))
        if actions:
            unit.busy = self._loop.create_task(self._do_after(unit, actions, previous))
        if unit.timer is not None:
            unit.timer.cancel()
        deadline = unit.instance.deadline
        unit.timer = None if deadline is None else self._loop.call_at(deadline, self._on_timer, unit)

    async def _do_after(self, unit: Unit, actions: list[Action], previous: asyncio.Task | None) -> None:
        if previous is not None:
            await asyncio.wait([previous])
        for action in actions:
            if isinstance(action, AddVips | RemoveVips):
                await self._change_addresses(unit, add=isinstance(action, AddVips))
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
        elif isinstance(action, Transition):
            log.info("(%s) Entering %s STATE (%s)", instance.params.name, action.new.value, action.reason)
            if self.on_transition is not None:
                self.on_transition(instance.params, action)

    async def _change_addresses(self, unit: Unit, add: bool) -> None:
        name = unit.instance.params.name
        netlink = self._netlink
        change_address = netlink.add_address if add else netlink.remove_address
        change_route = netlink.add_route if add else netlink.remove_route
        changes = [
            *(change_address(vip, index) for vip, index in unit.addresses),
            *(change_route(route, index) for route, index in unit.routes),
        ]
        for change in changes:
            try:
                await change
            except (OSError, NetlinkError) as error:
                unit.netlink_errors += 1
                log.error("(%s) %s virtual address/route: %s", name, "add" if add else "remove", error)
        log.info("(%s) %s %d virtual addresses", name, "added" if add else "removed", len(unit.addresses))
