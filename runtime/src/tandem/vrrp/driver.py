"""The asyncio driver: carries out what the sans-IO instances ask, and feeds them packets and time.

One raw socket per (interface, family), a :class:`Channel`, is shared by the instances on it; received
packets go to the instance of their VRID, stamped with their arrival time (SO_TIMESTAMPNS), so their
deadlines do not depend on when they are read. A kernel filter keeps only the candidates on it (adverts
for its VRIDs and versions, TTL 255): everything else queues on the channel's second socket, read at
most REJECT_BATCH per REJECT_PAUSE and counted under its reason (what that leaves unread is counted by
the kernel, Drop.UNREAD), so no flood of bad packets delays the candidates or costs more than that.

Packets are read in batches, one wake-up per batch rather than per packet (the wake-ups were most of a
backup's CPU), every ``poll_interval`` while they keep coming (two or more a poll), and waited for
(readability) when they stop. The interval is at most half of each Backup's Skew_Time, so a
priority-0 advert is read before the takeover it triggers is due, and at most POLL_INTERVAL_MAX while
a Master is on the channel (it yields to a higher priority as soon as it hears one), else
BACKUP_POLL_INTERVAL_MAX. A channel of Backups alone is not read at once when its first packet arrives
either, but one interval later, with what came meanwhile (its masters' burst of adverts, in one go):
their deadlines count from the packets' arrival times, whenever they are read. A Master_Down takeover
reads its channel first, all of it (bounded by TAKEOVER_READ_MAX, not by a count), so it never happens
over an advert waiting unread; a new Master's channel is read within POLL_INTERVAL_MAX from then on.

Timers: one :class:`tandem.timers.TimerQueue` for all instances behind a single ``loop.call_at``
handle, at monotonic deadlines (``loop.time()`` is ``time.monotonic()``), so advert cadence never
drifts. A backup's deadline moves later with every advert it hears; its queue entry is left alone then
and only moved when it reaches the front of the queue: hundreds of backups cost a few wake-ups a
second, not one per instance per Master_Down_Interval. Master_Down_Timer is woken ``TAKEOVER_LEAD``
early and the rest slept precisely: the loop's timers fire up to a millisecond late (epoll's resolution).

Interfaces are looked up once and cached; :meth:`Driver.revalidate` looks again (and forgets them
all when one changed), a failed :meth:`Driver.prepare` forgets its interface, a reload all of them.

Instances are added, updated in place and removed by name (reloads); one whose interface or source
address is missing stays *unprepared* until :meth:`Driver.prepare` succeeds. Transitions and sync
group wishes go to ``on_report``: deciding about them is the owner's business.

Actions run at once, in the order returned, inside the callback that produced them: adverts and
GARP/NA are sent, and address and route changes are made synchronously (see :mod:`tandem.vrrp.netlink`),
so a takeover's addresses exist before its GARP/NA leave and nothing can overtake.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from ipaddress import IPv4Address, IPv6Address, ip_interface

from tandem.config.model import NOWHERE, IPAddress, VirtualAddress, VirtualRoute, VirtualRule
from tandem.timers import TimerQueue
from tandem.vrrp.announce import ETH_P_ARP, ETH_P_IPV6, announcement
from tandem.vrrp.instance import (
    NOTHING,
    Action,
    AddVips,
    Announce,
    Instance,
    LowerPriorityHeard,
    Notice,
    RemoveVips,
    SendAdvert,
    State,
    Transition,
    WantMaster,
)
from tandem.vrrp.netlink import AddressEvents, Interface, Netlink
from tandem.vrrp.packet import Drop, Dropped, encode, is_carp
from tandem.vrrp.params import OWNER_PRIORITY, InstanceParams
from tandem.vrrp.protect import TABLE as PROTECTION_TABLE
from tandem.vrrp.protect import ProtectionError, VipProtection
from tandem.vrrp.sockets import CANDIDATES_RCVBUF, LinkSocket, ReplaySocket, VrrpSocket, vrrp_filter
from tandem.vrrp.vmac import VmacError, Vmacs

log = logging.getLogger("tandem.vrrp")

SocketKey = tuple[str, int]  # (interface, family)
TAKEOVER_LEAD = 0.0015  # s: how early the loop wakes for Master_Down_Timer; slept away with time.sleep
# s: the longest a busy channel's packets wait to be read while a Master is on it
POLL_INTERVAL_MAX = 0.01
# s: the same for a channel of Backups alone (a Backup only needs its priority-0 adverts read within
# Skew_Time: half of it at most, whichever is shorter)
BACKUP_POLL_INTERVAL_MAX = 0.1
# s: below this a busy channel is still read at once: a poll may fire up to 1 ms late, and must stay
# within Skew_Time (the interval is at most half of it, so 1 ms is at most a quarter)
POLL_INTERVAL_MIN = 0.002
# packets read per wake-up at most: under a flood (valid or not) the loop gets back to its timers, so a
# Master's adverts keep their cadence (20,000 bad-checksum adverts in 4 s once stalled them for 0.47 s)
READ_BATCH = 256
# s: how long a Master_Down takeover may spend reading what is queued before it (a flood of candidates
# at 12,000/s filled more than READ_BATCH, and the master's advert behind them was never read)
TAKEOVER_READ_MAX = 0.05
# what the kernel filter set apart is read at most REJECT_BATCH per REJECT_PAUSE (~6,400/s): a flood
# beyond that costs no more CPU; the kernel drops the rest and counts it (Drop.UNREAD)
REJECT_BATCH = 64
REJECT_PAUSE = 0.01


class DriverError(Exception):
    """An instance cannot run as configured (missing interface or source address)."""


@dataclass(eq=False, slots=True)
class Channel:
    """A VRRP socket, the units receiving on it (by VRID) and how it is being read."""

    sock: VrrpSocket  # the candidates (kernel filter); adverts leave from it
    rejects: VrrpSocket  # everything else (the inverse filter)
    units: dict[int, Unit] = field(default_factory=dict)
    rejects_paused: asyncio.TimerHandle | None = None  # while a flood of rejects is being paced
    poll: asyncio.TimerHandle | None = None  # while polling (its reader is removed)
    poll_interval: float | None = None  # None: to be worked out again (the units changed)
    backups_only: bool = False  # no Master on it (as of poll_interval): read a poll interval late
    # when the socket was last found empty: what it holds now arrived after that, whatever the wall
    # clock (which arrival times are stamped on) did meanwhile
    drained_at: float = 0.0
    # while the early listener (tandem.vrrp.early) covers the channel, until Driver.replay_early: since when
    # (loop time) its adverts are heard, and when (time.time()) its own sockets existed; it is not read
    heard_since: float | None = None
    replay_until: float = 0.0
    rcvbuf: int = 0  # the kernel_rx_buf_size the candidates' SO_RCVBUF was set to (0: CANDIDATES_RCVBUF)


@dataclass(eq=False, slots=True)
class Unit:
    """One instance and the I/O resources it uses (none until it could be prepared)."""

    instance: Instance
    channel: Channel | None = None
    destinations: tuple[IPAddress, ...] = ()
    addresses: list[tuple[VirtualAddress, int]] = field(default_factory=list)  # (address, ifindex)
    routes: list[tuple[VirtualRoute, int | None]] = field(default_factory=list)
    announcements: list[tuple[LinkSocket, bytes]] = field(default_factory=list)
    extra_announcements: list[tuple[LinkSocket, bytes]] = field(default_factory=list)  # garp_extra_if's
    paced: list[asyncio.TimerHandle] = field(default_factory=list)  # GARP/NA due later (garp_interval)
    netlink_errors: int = 0
    send_errors: int = 0
    encoded: tuple[tuple, tuple[bytes, ...]] | None = None  # ((advert, source, destinations), messages)

    @property
    def sock(self) -> VrrpSocket | None:
        return None if self.channel is None else self.channel.sock

    @property
    def channel_key(self) -> SocketKey:
        params = self.instance.params
        return params.socket_interface, params.family


@dataclass
class Driver:
    """Runs instances, added and removed by name, until :meth:`close`.

    An instance whose interface or source address is missing is kept *unprepared* (its reason in
    :attr:`unprepared`); the caller keeps it in FAULT and calls :meth:`prepare` again later.
    """

    # what the instances report to their owner rather than to the wire: transitions, sync group wishes,
    # lower-priority adverts heard as Master
    on_report: Callable[[Instance, Transition | WantMaster | LowerPriorityHeard], None] | None = None
    # a tandem.vrrp.early.EarlyListener heard adverts before the instances existed: see replay_early
    early: object | None = None
    log_unknown_vrids: bool = False  # global_defs: each advert for a VRID no instance has is logged
    # addresses (interface index, address) removed by someone else: the owner of static ones puts them back
    on_addresses_removed: Callable[[set[tuple[int, IPAddress]]], None] | None = None

    def __post_init__(self) -> None:
        self._unclaimed: Counter[Drop] = Counter()  # drops before an instance was known
        self.units: dict[str, Unit] = {}
        self.unprepared: dict[str, str] = {}
        self._channels: dict[SocketKey, Channel] = {}
        self._links: dict[str, LinkSocket] = {}
        self._interfaces: dict[str, Interface] = {}

    @property
    def instances(self) -> list[Instance]:
        return [unit.instance for unit in self.units.values()]

    @property
    def unclaimed(self) -> Counter[Drop]:
        """Drops no instance counted: before one was known, and the kernel's (receive buffers full)."""
        counts = Counter(self._unclaimed)
        for channel in self._channels.values():
            _count_kernel_drops(channel, counts)
        return +counts

    def open(self) -> None:
        self._loop = loop = asyncio.get_running_loop()
        self._netlink = Netlink()
        self._address_events = AddressEvents()
        loop.add_reader(self._address_events.fileno(), self._on_address_events)
        self._vmacs = Vmacs(self._netlink)
        self._protection: VipProtection | None = None  # made for the first instance not in accept mode
        self._timers: TimerQueue[Unit] = TimerQueue(
            now=loop.time,
            call_at=loop.call_at,
            deadline=lambda unit: _wake_time(unit.instance),
            fire=self._fire,
        )

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

    def start(self, name: str) -> None:
        """Startup of ``name``. A Backup on a channel the early listener covers counts Master_Down_Interval
        from when listening began: it has heard every advert since (fed to it by :meth:`replay_early`)."""
        unit = self.units[name]
        since = None if unit.channel is None else unit.channel.heard_since

        def start(instance: Instance, now: float) -> list[Action]:
            backdated = since is not None and instance.priority != OWNER_PRIORITY  # an owner advertises now
            return instance.start(since if backdated else now)

        self.act(name, start)

    def replay_early(self) -> None:
        """Once the first instances started: feed each channel the early listener covers what it heard on
        that interface before the channel's sockets existed (in arrival order, as if read from the channel),
        then read the channel as usual; the early listener is closed."""
        early, self.early = self.early, None
        if early is None:
            return
        try:
            for channel in self._channels.values():
                if channel.heard_since is None:
                    continue
                channel.heard_since = None
                heard = early.heard_on(channel.sock.family, channel.sock.ifname, channel.replay_until)
                self._read(channel, ReplaySocket(channel.sock.family, channel.sock.ifname, heard), len(heard))
                self._start_reading(channel)
        finally:
            early.close()

    def act(self, name: str, event: Callable[[Instance, float], list[Action]]) -> None:
        """Feed ``event(instance, now)`` to ``name`` and carry out the actions it returns."""
        unit = self.units[name]
        if unit.channel is not None:
            self._reading_changed(unit.channel)  # priority or timers may have changed
        self._dispatch(unit, event(unit.instance, self.now()))

    async def update(self, params: InstanceParams) -> None:
        """Apply in-place changes (priority, VIPs, routes, rules, timers). A Master first removes what it
        holds and the new config does not have as it is: its rules, routes and addresses dropped, moved
        to another device or changed (label, scope, brd, peer, route options), then adds the new ones."""
        unit = self.units[params.name]
        if unit.sock is not None:
            addresses, routes, rules = unit.addresses, unit.routes, unit.instance.params.rules
            unit.addresses, unit.routes, unit.announcements, unit.extra_announcements = await self._resources(
                params
            )
            if unit.instance.state is State.MASTER:
                self._change_rules(unit, False, _stale(rules, params.rules))
                stale = _stale(addresses, unit.addresses)
                self._change_addresses(unit, False, stale, _stale(routes, unit.routes))
                self._block(unit, stale, False)
        self.act(params.name, lambda instance, now: instance.update(params, now))
        if unit.channel is not None:  # unicast or not decides whether the kernel checks the TTL
            self._filter(unit.channel)
            self._fit_rcvbuf(unit.channel)

    def remove(self, name: str) -> None:
        """Shutdown ``name`` (priority-0 advert, address removal) and forget it."""
        unit = self.units[name]
        self.act(name, lambda instance, now: instance.stop(now))
        del self.units[name]
        self.unprepared.pop(name, None)
        self._release(unit)
        if (vmac := unit.instance.params.vmac) is not None:
            self._remove_vmac(vmac)

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
        if (link := self._links.pop(unit.sock.ifname, None)) is not None:
            link.close()
        for other in list(unit.channel.units.values()):
            self._release(other)
            self.unprepared[other.instance.params.name] = reason
        log.warning("(%s) %s: reopening when it is back", name, reason)

    def _release(self, unit: Unit) -> None:
        """Forget ``unit``'s I/O; its socket closes with the last unit using it."""
        channel, unit.channel = unit.channel, None
        if channel is None:
            return
        if channel.units.get(unit.instance.params.vrid) is unit:
            del channel.units[unit.instance.params.vrid]
        self._reading_changed(channel)
        if not channel.units:
            del self._channels[unit.channel_key]
            self._close_channel(channel)
            return
        self._filter(channel)
        self._fit_rcvbuf(channel)
        params = unit.instance.params
        if not params.unicast and params.group not in _groups(channel):
            for sock in (channel.sock, channel.rejects):
                try:
                    sock.join(params.group, False)
                except OSError as error:
                    log.warning("multicast group %s not left on %s: %s", params.group, sock.ifname, error)

    def _close_channel(self, channel: Channel) -> None:
        self._stop_reading(channel)
        _count_kernel_drops(channel, self._unclaimed)  # they are not lost with the sockets
        channel.sock.close()
        channel.rejects.close()

    def _filter(self, channel: Channel) -> None:
        """Split the channel's packets for its units as they are now (see tandem.vrrp.sockets)."""
        units = [(u.instance.params.vrid, u.instance.params.version, u.instance.params.unicast) for u in
                 channel.units.values()]  # fmt: skip
        family = channel.sock.family
        try:
            channel.sock.set_filter(vrrp_filter(family, units))
            channel.rejects.set_filter(vrrp_filter(family, units, candidates=False))
        except OSError as error:  # the channel keeps working: only what it reads first may differ
            log.error("kernel filter of %s not set: %s", channel.sock.ifname, error)

    @staticmethod
    def _fit_rcvbuf(channel: Channel) -> None:
        """The candidates' receive buffer: the sum of its instances' kernel_rx_buf_size, as keepalived
        sizes a VRRP socket (SO_RCVBUF, within net.core.rmem_max), where they set it; else
        CANDIDATES_RCVBUF."""
        size = sum(u.instance.params.rcvbuf or 0 for u in channel.units.values())
        if size == channel.rcvbuf:
            return
        try:
            channel.sock.set_rcvbuf(size or CANDIDATES_RCVBUF, force=not size)
        except OSError as error:
            log.error("receive buffer of %s not set: %s", channel.sock.ifname, error)
            return
        channel.rcvbuf = size

    def forget_interfaces(self) -> None:
        """Look interfaces up afresh from now on (a reload may follow changed links)."""
        self._interfaces.clear()

    def close(self) -> None:
        """Shutdown every instance and release every resource."""
        for name in list(self.units):
            self.act(name, lambda instance, now: instance.stop(now))
        for unit in self.units.values():
            for handle in unit.paced:
                handle.cancel()
        self._timers.close()
        for channel in self._channels.values():
            self._close_channel(channel)
        for link in self._links.values():
            link.close()
        self._channels.clear()
        self._links.clear()
        for error in self._vmacs.close():
            log.error("vmac not removed: %s", error)
        if self._protection is not None:
            try:
                self._protection.close()
            except ProtectionError as error:
                log.error("VIP protection table %s not removed: %s", PROTECTION_TABLE, error)
        self._loop.remove_reader(self._address_events.fileno())
        self._address_events.close()
        self._netlink.close()

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
        if params.vmac is not None:
            await self._make_vmac(params, link, local)
        if not params.accept:
            self._protect()
        link = await self._interface(params.socket_interface)
        resources = await self._resources(params)
        channel = self._channels.get(unit.channel_key)
        if channel is not None and not params.unicast and params.group not in _groups(channel):
            for sock in (channel.sock, channel.rejects):  # mcast_dst_ip: heard where it is sent
                sock.join(params.group)
        if channel is None:
            groups = () if params.unicast else (params.group,)
            sock = VrrpSocket(params.family, link.name, link.index, groups, rcvbuf=CANDIDATES_RCVBUF)
            try:
                rejects = VrrpSocket(params.family, link.name, link.index, groups)
            except OSError:
                sock.close()
                raise
            channel = self._channels[unit.channel_key] = Channel(sock, rejects)
            early = self.early
            if early is not None and early.covers(params.family, link.index, link.name, params.group.packed):
                channel.heard_since, channel.replay_until = early.since, time.time()
            else:
                self._start_reading(channel)
        unit.instance.local_address = local
        unit.channel = channel
        channel.units[params.vrid] = unit
        self._reading_changed(channel)
        self._filter(channel)
        self._fit_rcvbuf(channel)
        unit.destinations = params.unicast_peers or (params.group,)
        unit.addresses, unit.routes, unit.announcements, unit.extra_announcements = resources

    async def _make_vmac(self, params: InstanceParams, base: Interface, local: IPAddress) -> None:
        """Make the instance's vmac (tandem.vrrp.vmac); IPv6 adverts leave it from ``local``."""
        self._interfaces.pop(params.vmac, None)
        if (link := self._links.pop(params.vmac, None)) is not None:  # bound to a vmac made before
            link.close()
        self._protect()
        self._quiet(params.vmac, True)  # before it is up and joins groups
        try:
            index = await self._vmacs.ensure(params.vmac, base.name, base.index, params.family, params.vrid)
        except VmacError as error:
            raise DriverError(str(error)) from None
        if params.family == 6:
            self._netlink.add_address(VirtualAddress(address=ip_interface(f"{local}/64")), index)
        log.info("(%s) vmac %s on %s", params.name, params.vmac, base.name)

    def _protect(self) -> None:
        """Make the VIP protection table, once; without nftables, say so and run unprotected (as
        keepalived does without a firewall)."""
        if self._protection is not None:
            return
        self._protection = protection = VipProtection()
        try:
            protection.open()
        except ProtectionError as error:
            log.error(
                "nftables table %s not made (VIPs of instances without accept mode are NOT protected, "
                "vmacs may send IGMP/MLD): %s",
                PROTECTION_TABLE,
                error,
            )
        else:
            log.info("VIP protection and vmac filters in nftables table %s", PROTECTION_TABLE)

    def _quiet(self, vmac: str, on: bool) -> None:
        """No IGMP/MLD from the vmac (tandem.vrrp.protect); said when it cannot be done."""
        if self._protection is None or not self._protection.ready:
            return
        try:
            self._protection.quiet(vmac, on)
        except ProtectionError as error:
            log.error("vmac %s: IGMP/MLD from the virtual MAC not stopped: %s", vmac, error)

    def _remove_vmac(self, name: str) -> None:
        self._quiet(name, False)
        self._interfaces.pop(name, None)
        if (link := self._links.pop(name, None)) is not None:
            link.close()
        try:
            self._vmacs.remove(name)
        except OSError as error:
            log.error("vmac %s not removed: %s", name, error)

    async def _resources(self, params: InstanceParams):
        """The addresses (with interface index), routes and GARP/NA frames of ``params``, and the frames
        garp_extra_if refreshes: of VIPs on the vmac, or with 'all' on any interface but the adverts'."""
        addresses, announcements, extra = [], [], []
        for vip in (*params.vips, *params.excluded_vips):
            dev = await self._interface(vip.dev or params.vip_interface)
            addresses.append((vip, dev.index))
            if dev.name not in self._links:
                self._links[dev.name] = LinkSocket(dev.name)
            announcements.append((self._links[dev.name], announcement(dev.mac, vip.address.ip)))
            if dev.name == params.vmac or (params.garp_extra_if_all and dev.name != params.socket_interface):
                extra.append(announcements[-1])
        routes = [(r, (await self._interface(r.dev)).index if r.dev else None) for r in params.routes]
        return addresses, routes, announcements, extra

    # --- events in ------------------------------------------------------------------------------

    def _on_address_events(self) -> None:
        """Addresses removed by someone else: a Master whose VIP (not no_track) is gone leaves for
        Skew_Time and takes over again (Instance.vip_removed), as keepalived does. Our own changes are
        made synchronously, so their events are queued before anything else happens: taking each
        address's last event in the queue, one we removed and added back is not gone."""
        gone = self._address_events.removed()
        if not gone:
            return
        if self.on_addresses_removed is not None:
            self.on_addresses_removed(gone)
        for name, unit in list(self.units.items()):
            if unit.instance.state is not State.MASTER:
                continue
            lost = [
                vip for vip, index in unit.addresses if not vip.no_track and (index, vip.address.ip) in gone
            ]
            if lost:
                shown = ", ".join(str(vip.address) for vip in lost)
                log.warning("(%s) %s removed by someone else: leaving MASTER to add it again", name, shown)
                self.act(name, lambda instance, now: instance.vip_removed(now))

    def _on_readable(self, channel: Channel) -> None:
        """An idle channel got a packet: read it one poll interval later if only Backups are on it, else
        at once; either way poll the channel while packets keep coming."""
        if self._poll_interval(channel) < POLL_INTERVAL_MIN:
            self._read(channel)  # too short to poll: every packet as it arrives
            return
        if channel.backups_only or self._read(channel) > 0:
            self._loop.remove_reader(channel.sock.fileno())
            self._poll_later(channel)

    def _on_poll(self, channel: Channel) -> None:
        count = 0
        try:
            count = self._read(channel)
        finally:  # whatever went wrong with a packet, the channel is read again
            interval = self._poll_interval(channel)
            if count >= 2 and interval >= POLL_INTERVAL_MIN:  # packets keep coming: poll again
                # a batch cut short by READ_BATCH (a flood): the rest no later than a Master's channel
                self._poll_later(channel, min(interval, POLL_INTERVAL_MAX) if count >= READ_BATCH else None)
            else:  # sparse or idle again, or the interval became too short to poll
                channel.poll = None
                self._loop.add_reader(channel.sock.fileno(), self._on_readable, channel)

    def _poll_later(self, channel: Channel, delay: float | None = None) -> None:
        # the interval worked out now: the read just done may have changed a state (_reading_changed)
        delay = self._poll_interval(channel) if delay is None else delay
        channel.poll = self._loop.call_later(delay, self._on_poll, channel)

    def _reading_changed(self, channel: Channel) -> None:
        """The units of ``channel``, a state, priority or timers changed: its poll interval is worked out
        again at its next poll, which comes within POLL_INTERVAL_MIN (the new interval may be shorter
        than the wait left: a Backup became Master, a priority rose). O(1): a takeover of hundreds of
        instances at once calls it for each."""
        channel.poll_interval = None
        poll = channel.poll
        if poll is not None and poll.when() > self._loop.time() + POLL_INTERVAL_MIN:
            poll.cancel()
            self._poll_later(channel, POLL_INTERVAL_MIN)

    @staticmethod
    def _poll_interval(channel: Channel) -> float:
        if channel.poll_interval is None:
            instances = [unit.instance for unit in channel.units.values()]
            channel.backups_only = all(instance.state is not State.MASTER for instance in instances)
            longest = BACKUP_POLL_INTERVAL_MAX if channel.backups_only else POLL_INTERVAL_MAX
            halves = [instance.skew_time / 2 for instance in instances if instance.state is State.BACKUP]
            channel.poll_interval = min([longest, *halves])
        return channel.poll_interval

    def _start_reading(self, channel: Channel) -> None:
        self._loop.add_reader(channel.sock.fileno(), self._on_readable, channel)
        self._loop.add_reader(channel.rejects.fileno(), self._on_rejects, channel)

    def _stop_reading(self, channel: Channel) -> None:
        if channel.poll is not None:
            channel.poll.cancel()
            channel.poll = None
        else:
            self._loop.remove_reader(channel.sock.fileno())
        if channel.rejects_paused is not None:
            channel.rejects_paused.cancel()
            channel.rejects_paused = None
        else:
            self._loop.remove_reader(channel.rejects.fileno())

    def _on_rejects(self, channel: Channel) -> None:
        """What the kernel filter set apart: counted under its reason, REJECT_BATCH per REJECT_PAUSE."""
        if self._read(channel, channel.rejects, REJECT_BATCH) >= REJECT_BATCH:
            self._loop.remove_reader(channel.rejects.fileno())
            channel.rejects_paused = self._loop.call_later(REJECT_PAUSE, self._resume_rejects, channel)

    def _resume_rejects(self, channel: Channel) -> None:
        channel.rejects_paused = None
        self._loop.add_reader(channel.rejects.fileno(), self._on_rejects, channel)

    def _read(self, channel: Channel, sock: VrrpSocket | None = None, limit: int = READ_BATCH) -> int:
        """Feed the packets queued on ``sock`` (default the candidates; at most ``limit``) to their
        instances at their arrival times; how many there were."""
        candidates = sock is None
        sock, units, unclaimed = channel.sock if candidates else sock, channel.units, self._unclaimed
        debug = log.isEnabledFor(logging.DEBUG)
        now = self._loop.time()
        to_loop_time = now - time.time()  # arrival times are on the wall clock's scale
        count = 0
        while count < limit:
            try:
                packet, arrived = sock.receive()
            except BlockingIOError:
                if candidates:
                    channel.drained_at = self._loop.time()
                return count
            except Dropped as dropped:
                unclaimed[dropped.reason] += 1
                count += 1
                continue
            except OSError as error:
                log.warning("receive on %s: %s", sock.ifname, error)
                return count
            count += 1
            if len(packet.payload) < 2:
                unclaimed[Drop.TRUNCATED] += 1
                continue
            unit = units.get(packet.payload[1])
            if unit is None:  # the kernel filter sets these apart: read from the rejects, not the candidates
                if is_carp(packet.payload):
                    unclaimed[Drop.CARP] += 1
                    continue
                unclaimed[Drop.VRID] += 1
                if self.log_unknown_vrids:  # keepalived's message
                    log.info(
                        "Unknown VRID(%d) received on interface(%s). ignoring...",
                        packet.payload[1],
                        sock.ifname,
                    )
                continue
            at = min(max(arrived + to_loop_time, channel.drained_at), now)
            instance = unit.instance
            interval = instance.master_adver_interval
            accepted = instance.counters.adverts_received if debug else 0
            actions = instance.receive(packet, at)
            # NOTHING: a Backup heard its master's advert again; its deadline only moved later, which the
            # timer queue finds itself when the old one comes up (arrival times never go back: drained_at)
            if actions is NOTHING:
                continue
            self._dispatch(unit, actions)
            if instance.master_adver_interval != interval:  # a v3 backup adopted its master's: new Skew
                self._reading_changed(channel)
            if debug and instance.counters.adverts_received == accepted:
                reason = instance.counters.last_drop.value
                log.debug("(%s) dropped a packet from %s: %s", instance.params.name, packet.src, reason)
        return count

    def _fire(self, unit: Unit) -> None:
        instance = unit.instance
        if instance.deadline == instance.master_down_at:
            late = self._loop.time() - instance.deadline
            if late < 0:  # woken TAKEOVER_LEAD early
                time.sleep(-late)
            if unit.channel is not None:  # the master's last advert may be waiting unread: read all
                until = time.monotonic() + TAKEOVER_READ_MAX
                while self._read(unit.channel) >= READ_BATCH and time.monotonic() < until:
                    pass
        self._dispatch(unit, instance.timer(self._loop.time()))

    # --- actions out ----------------------------------------------------------------------------

    def _dispatch(self, unit: Unit, actions: list[Action]) -> None:
        for action in actions:
            self._do(unit, action)
        self._timers.arm(unit)

    def _do(self, unit: Unit, action: Action) -> None:
        instance = unit.instance
        if isinstance(action, SendAdvert):
            if unit.channel is None:  # released (its interface went away): nothing to send on
                unit.send_errors += 1
                return
            key = (action.advert, instance.local_address, unit.destinations, instance.old_checksum)
            if unit.encoded is None or any(a is not b for a, b in zip(unit.encoded[0], key, strict=True)):
                # a Master sends the same advert every interval (Instance keeps its Advert): encoded once;
                # keepalived's old unicast checksum names the multicast group in the pseudo-header
                old = instance.params.old_checksum_dst if instance.old_checksum else None
                src = instance.local_address
                wires = tuple(encode(action.advert, src, old or dst) for dst in unit.destinations)
                unit.encoded = (key, wires)
            for dst, wire in zip(unit.destinations, unit.encoded[1], strict=True):
                try:
                    unit.sock.send(wire, instance.local_address, dst, instance.params.ttl)
                except OSError as error:
                    unit.send_errors += 1
                    log.warning("(%s) advert to %s not sent: %s", instance.params.name, dst, error)
        elif isinstance(action, AddVips):
            self._block(unit, unit.addresses, True)  # before they exist: never reachable unprotected
            self._change_addresses(unit, True, unit.addresses, unit.routes)
            self._change_rules(unit, True)
        elif isinstance(action, RemoveVips):
            for handle in unit.paced:  # GARP/NA still to come for addresses we no longer hold
                handle.cancel()
            unit.paced.clear()
            self._change_rules(unit, False)
            self._change_addresses(unit, False, unit.addresses, unit.routes)
            self._block(unit, unit.addresses, False)
        elif isinstance(action, Announce):
            self._announce(unit, action.repeat, unit.extra_announcements if action.extra_only else None)
        elif isinstance(action, Notice):
            log.info("(%s) %s", instance.params.name, action.text)
        else:
            if isinstance(action, Transition):
                name, state = instance.params.name, action.new.value
                log.info("(%s) Entering %s STATE (%s)", name, state, action.reason)
                if unit.channel is not None:  # a Master's channel is read sooner than a Backups' one
                    self._reading_changed(unit.channel)
            if self.on_report is not None:
                self.on_report(instance, action)

    def _announce(self, unit: Unit, repeat: int, frames: list | None = None) -> None:
        """``repeat`` GARP/NA per address (of ``frames``, default all); with garp_interval / gna_interval,
        that far apart (per kind, the first at once), else back to back."""
        params = unit.instance.params
        gaps = {ETH_P_ARP: params.garp_interval, ETH_P_IPV6: params.gna_interval}
        now = self._loop.time()
        unit.paced = [handle for handle in unit.paced if handle.when() > now]
        delays: dict[int, float] = {}
        for _ in range(repeat):
            for link, frame in unit.announcements if frames is None else frames:
                kind = int.from_bytes(frame[12:14], "big")
                delay = delays.get(kind, 0.0)
                delays[kind] = delay + gaps.get(kind, 0.0)
                if delay:
                    unit.paced.append(self._loop.call_later(delay, self._send_frame, unit, link, frame))
                else:
                    self._send_frame(unit, link, frame)

    @staticmethod
    def _send_frame(unit: Unit, link: LinkSocket, frame: bytes) -> None:
        try:
            link.send(frame)
        except OSError as error:
            unit.send_errors += 1
            log.warning("(%s) GARP/NA not sent: %s", unit.instance.params.name, error)

    def _block(self, unit: Unit, addresses: list, block: bool) -> None:
        """A Master not in accept mode: traffic to its addresses is dropped (tandem.vrrp.protect)."""
        if unit.instance.params.accept or self._protection is None or not self._protection.ready:
            return
        ips = [vip.address.ip for vip, _ in addresses]
        try:
            (self._protection.block if block else self._protection.unblock)(ips)
        except ProtectionError as error:
            unit.netlink_errors += 1
            verb = "set" if block else "cleared"
            log.error("(%s) VIP protection not %s: %s", unit.instance.params.name, verb, error)

    def _change_addresses(self, unit: Unit, add: bool, addresses: list, routes: list) -> None:
        netlink = self._netlink
        change_address = netlink.add_address if add else netlink.remove_address
        change_route = netlink.add_route if add else netlink.remove_route
        changes = [
            *((change_address, vip, index) for vip, index in addresses),
            *((change_route, route, index) for route, index in routes),
        ]
        for change, what, index in changes:
            try:
                change(what, index)
            except OSError as error:
                unit.netlink_errors += 1
                name, verb = unit.instance.params.name, "add" if add else "remove"
                log.error("(%s) %s virtual address/route: %s", name, verb, error)

    def _change_rules(self, unit: Unit, add: bool, rules: tuple[VirtualRule, ...] | None = None) -> None:
        """virtual_rules (ip rule; default all the instance's): added after the addresses and routes,
        removed before them."""
        params = unit.instance.params
        change = self._netlink.add_rule if add else self._netlink.remove_rule
        for rule in params.rules if rules is None else rules:
            try:
                change(rule, params.family)
            except OSError as error:
                unit.netlink_errors += 1
                log.error("(%s) %s virtual rule: %s", params.name, "add" if add else "remove", error)


def _groups(channel: Channel) -> set[IPAddress]:
    """The multicast groups the instances on ``channel`` advertise to (mcast_dst_ip or the global one)."""
    return {u.instance.params.group for u in channel.units.values() if not u.instance.params.unicast}


def _held_as(entry):
    """What the kernel holds for a VIP, route or rule (or one with its interface index): the entry
    without where it was written and without no_track, which only says how it is watched."""
    if isinstance(entry, tuple):
        return (_held_as(entry[0]), *entry[1:])
    return replace(entry, pos=NOWHERE, no_track=False)


def _stale(held, wanted):
    """The entries of ``held`` that ``wanted`` has not (as the kernel holds them), in ``held``'s order."""
    kept = {_held_as(entry) for entry in wanted}
    return [entry for entry in held if _held_as(entry) not in kept]


def _count_kernel_drops(channel: Channel, counts: Counter[Drop]) -> None:
    try:
        counts[Drop.QUEUE_FULL] += channel.sock.kernel_drops()
        counts[Drop.UNREAD] += channel.rejects.kernel_drops()
    except OSError as error:  # a socket already closed (its interface went away)
        log.debug("kernel drop counts of %s: %s", channel.sock.ifname, error)


def _wake_time(instance: Instance) -> float | None:
    """When the driver must wake for ``instance``: its deadline, ``TAKEOVER_LEAD`` early for Master_Down."""
    deadline = instance.deadline
    if deadline is not None and deadline == instance.master_down_at:
        return deadline - TAKEOVER_LEAD
    return deadline
