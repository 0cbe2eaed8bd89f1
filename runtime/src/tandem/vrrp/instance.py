"""The VRRP instance state machine, sans-IO: fed packets, events and the time; returns actions.

Theory of operation
-------------------
An :class:`Instance` never reads a clock, opens a socket or logs. Every entry point takes ``now``
(monotonic seconds) and returns a list of actions for the driver to carry out in order. After each
call the driver re-arms one timer at :attr:`Instance.deadline` and calls :meth:`Instance.timer`
when it passes. Everything that decides a transition lives in this file.

The state table (RFC 5798 §6.4, same shape in RFC 3768 §6.4 and RFC 9568 §6.4):

==========  ==========================  ==========================================================
state       event                       action → next state
==========  ==========================  ==========================================================
Initialize  Startup, priority 255       advert, add VIPs, GARP/NA, Adver_Timer → Master  (§6.4.1)
Initialize  Startup                     Master_Down_Timer = Master_Down_Interval → Backup (§6.4.1)
Backup      Master_Down_Timer fires     advert, add VIPs, GARP/NA, Adver_Timer → Master  (§6.4.2)
Backup      advert, priority 0          Master_Down_Timer = Skew_Time                     (§6.4.2)
Backup      advert, priority ≥ ours     v3: adopt its interval; Master_Down_Timer = MDI   (§6.4.2)
            or preempt off
Backup      advert, lower priority      discard (the timer runs out: we preempt)          (§6.4.2)
Master      Adver_Timer fires           advert, Adver_Timer = Advertisement_Interval      (§6.4.3)
Master      advert, priority 0          advert, Adver_Timer = Advertisement_Interval      (§6.4.3)
Master      advert, higher priority,    remove VIPs, Master_Down_Timer = MDI → Backup     (§6.4.3)
            or equal and higher address (keepalived's higher_prio_send_advert: one advert first)
Master      advert, lower priority      advert at once, Adver_Timer reset (RFC 9568 §6.4.3);
                                        GARP/NA (keepalived: heals a split brain's ARP caches),
                                        LowerPriorityHeard (keepalived's MASTER_RX_LOWER_PRI);
                                        at most once per LOWER_PRIO_ANSWER_INTERVAL (below)
Backup,     Shutdown                    Master: priority-0 advert, remove VIPs → Initialize
Master                                                                                    (§6.4.2/3)
any         Fault (keepalived's FAULT)  as Shutdown, but → Fault; Fault cleared → as Startup
any         Reload changed parameters   adopt them; a Master re-advertises and re-adds/announces VIPs
==========  ==========================  ==========================================================

keepalived's vrrp_sync_group: a member's Master_Down_Timer does not make it Master on its own; it
reports :class:`WantMaster` and the group moves when every member is ready (``sync_master``).
A member that leaves Master makes the others follow (``sync_backup``):

==========  ==========================  ==========================================================
Backup      Master_Down_Timer, member   ready, WantMaster (no timer: the group decides)
Backup      sync_master                 as Master_Down_Timer fires → Master
Master      sync_backup                 remove VIPs, Master_Down_Timer = MDI → Backup
==========  ==========================  ==========================================================

Timers (RFC 5798 §6.1 for v3, RFC 3768 §6.1 for v2), in seconds:
  v3: Skew_Time = (256 − Priority) × Master_Adver_Interval / 256
  v2: Skew_Time = (256 − Priority) / 256
  Master_Down_Interval = 3 × Master_Adver_Interval + Skew_Time (v2: the configured interval);
  keepalived's down_timer_adverts replaces the 3 (not RFC-conformant; vrrp_strict keeps 3).

keepalived extensions kept here because they decide timing: ``preempt_delay`` (a lower-priority
master is tolerated that long before we preempt) and the GARP/NA cadence after becoming Master
(one burst at once, another ``garp_delay`` later, then every ``garp_refresh``).
"""

from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass, field

from tandem.config.model import IPAddress
from tandem.vrrp.packet import (
    AUTH_NONE,
    AUTH_PASS,
    VRRP_TTL,
    Advert,
    Drop,
    Dropped,
    Received,
    decode,
    pass_auth_data,
)
from tandem.vrrp.params import OWNER_PRIORITY, InstanceParams

STOP_PRIORITY = 0  # "I am leaving": backups take over after Skew_Time
# s: a Master answers lower-priority adverts (advert + GARP/NA burst) at most this often. keepalived
# answers every one: a flood of them made it send an advert and 5 GARPs per packet. One answer heals a
# split brain; the Master's regular adverts keep doing so.
LOWER_PRIO_ANSWER_INTERVAL = 1.0


class State(enum.Enum):
    INITIALIZE = "INIT"
    BACKUP = "BACKUP"
    MASTER = "MASTER"
    FAULT = "FAULT"


# Actions, carried out by the driver in the order returned.
@dataclass(frozen=True, slots=True)
class SendAdvert:
    advert: Advert


@dataclass(frozen=True, slots=True)
class AddVips:
    """Add the instance's virtual addresses (advertised and excluded) and virtual routes."""


@dataclass(frozen=True, slots=True)
class RemoveVips:
    """Remove what :class:`AddVips` added."""


@dataclass(frozen=True, slots=True)
class Announce:
    """Send ``repeat`` gratuitous ARPs / unsolicited NAs for each virtual address (``extra_only``: only
    those on the interfaces garp_extra_if refreshes)."""

    repeat: int
    extra_only: bool = False


@dataclass(frozen=True, slots=True)
class Notice:
    """Something worth a line in the log (the driver logs ``text`` under the instance's name)."""

    text: str


@dataclass(frozen=True, slots=True)
class Transition:
    old: State
    new: State
    reason: str


@dataclass(frozen=True, slots=True)
class LowerPriorityHeard:
    """A Master heard a lower-priority advert from ``src`` (keepalived's MASTER_RX_LOWER_PRI event): a
    router that should be Backup is Master, so the two lost each other for a while; the owner runs
    notify_master_rx_lower_pri and writes the FIFO line. At most once per LOWER_PRIO_ANSWER_INTERVAL
    (keepalived: for every such advert)."""

    src: IPAddress
    priority: int  # the advert's


@dataclass(frozen=True, slots=True)
class WantMaster:
    """A sync group member's Master_Down_Timer ran out: the group decides (see ``sync_master``)."""


Action = SendAdvert | AddVips | RemoveVips | Announce | Notice | Transition | WantMaster | LowerPriorityHeard
NOTHING: list[Action] = []  # returned (never to be changed) when a Backup hears its master's advert again


@dataclass(slots=True)
class Counters:
    """What the instance has seen and done; ``drops`` counts rejected packets by reason."""

    adverts_received: int = 0
    adverts_sent: int = 0
    priority_zero_received: int = 0
    priority_zero_sent: int = 0
    became_master: int = 0
    drops: Counter[Drop] = field(default_factory=Counter)
    last_drop: Drop | None = None


class Instance:
    """One virtual router on one interface and address family."""

    __slots__ = (  # attributes: a backup touches several for every advert it hears
        "_accepted", "_adver_at", "_advert", "_advertised", "_announced_at", "_answered_at", "_auth_data",
        "_auth_type", "_extra_at", "_garp_at", "_garp_repeat", "_heard", "_local_address",
        "_master_down_at", "_preempt_at", "_refresh_at", "counters", "master_address",
        "master_adver_interval", "old_checksum", "params", "priority", "ready", "state", "sync_group",
    )  # fmt: skip

    def __init__(self, params: InstanceParams, local_address: IPAddress) -> None:
        self.params = params
        self._accepted: tuple[Received, Advert] | None = None
        # a Backup's last advert that reset Master_Down_Timer, with the interval it set: the same packet
        # again (a master repeats its advert) does the same, unless something it depends on changed
        self._heard: tuple[Received, float] | None = None
        self.local_address = local_address
        self.priority = params.priority  # effective priority; tracking may move it
        self.state = State.INITIALIZE
        self.counters = Counters()
        self.master_address: IPAddress | None = None  # who we last accepted as master
        self.master_adver_interval = params.advert_int
        self.sync_group = False  # member of a vrrp_sync_group: Master_Down only makes it ready
        self.ready = False  # a member whose Master_Down_Timer ran out, waiting for its group
        self._auth_type = AUTH_PASS if params.auth_pass is not None else AUTH_NONE
        self._auth_data = pass_auth_data(params.auth_pass) if params.auth_pass is not None else bytes(8)
        self._advertised = frozenset(params.advertised)
        # keepalived's old VRRPv3 unicast checksum: configured, or taken up once a peer's advert has it
        self.old_checksum = params.old_checksum_dst is not None and params.old_checksum == "config"
        self._advert: Advert | None = None  # the last one sent: the next is the same object while it can be
        self._adver_at: float | None = None
        self._master_down_at: float | None = None
        self._garp_at: float | None = None
        self._garp_repeat = params.garp_repeat  # of the pending second burst (_garp_at)
        self._refresh_at: float | None = None
        self._extra_at: float | None = None  # garp_extra_if: next refresh on the other interfaces
        self._preempt_at: float | None = None  # preempt_delay: when a lower-priority master stops counting
        self._answered_at: float | None = None  # when we last answered a lower-priority advert
        # when an answer's GARP/NA burst (at once, or its second one garp_lower_prio_delay later) last
        # went: an answer sends none within LOWER_PRIO_ANSWER_INTERVAL of it
        self._announced_at: float | None = None

    @property
    def local_address(self) -> IPAddress:
        """Our primary address: the source of our adverts, the tie-breaker between equal priorities."""
        return self._local_address

    @local_address.setter
    def local_address(self, address: IPAddress) -> None:
        self._local_address = address
        self._accepted = self._heard = None  # whether a packet is our own depends on it

    # --- timers -------------------------------------------------------------------------------

    @property
    def skew_time(self) -> float:
        if self.params.version == 2:
            return (256 - self.priority) / 256
        return (256 - self.priority) * self.master_adver_interval / 256

    @property
    def master_down_interval(self) -> float:
        interval = self.params.advert_int if self.params.version == 2 else self.master_adver_interval
        return self.params.down_timer_adverts * interval + self.skew_time

    @property
    def master_down_at(self) -> float | None:
        """When Master_Down_Timer runs out (None: not running)."""
        return self._master_down_at

    @property
    def deadline(self) -> float | None:
        """When :meth:`timer` must be called next (None: nothing pending)."""
        deadline = self._master_down_at  # a backup's only timer: checked for every packet it hears
        for t in (self._adver_at, self._garp_at, self._refresh_at, self._extra_at):
            if t is not None and (deadline is None or t < deadline):
                deadline = t
        return deadline

    # --- events ---------------------------------------------------------------------------------

    def start(self, now: float) -> list[Action]:
        """Startup (§6.4.1)."""
        if self.state is not State.INITIALIZE:
            return []
        return self._startup(now, "startup")

    def stop(self, now: float) -> list[Action]:
        """Shutdown (§6.4.2, §6.4.3): a Master sends priority 0 first, then drops its addresses."""
        return self._leave(State.INITIALIZE, now, "shutdown")

    def vip_removed(self, now: float) -> list[Action]:
        """As Master, one of our addresses (not no_track) was removed by someone else: as keepalived
        (set_vrrp_backup), say goodbye with priority 0, remove the rest and be Backup for Skew_Time only,
        so that we take over again, adding them all back and announcing them."""
        if self.state is not State.MASTER:
            return []
        actions = [*self._advertise(now, STOP_PRIORITY), RemoveVips()]
        actions += self._become_backup(now, "virtual address removed")
        self._master_down_at = now + self.skew_time
        return actions

    def fault(self, now: float) -> list[Action]:
        """An interface or tracked object failed: leave like Shutdown, into Fault."""
        return self._leave(State.FAULT, now, "fault")

    def recover(self, now: float) -> list[Action]:
        """The fault cleared: start over as at Startup."""
        if self.state is not State.FAULT:
            return []
        return self._startup(now, "fault cleared")

    def update(self, params: InstanceParams, now: float) -> list[Action]:
        """A reload changed this instance in place (same VRID, interface, family, version, auth).

        The effective priority is left to the caller (tracking derives it from the new base priority
        and follows with :meth:`set_priority`). When the addresses changed, a Master advertises the new
        VIP list at once and adds and announces its addresses, so added VIPs appear without a flap; the
        driver removes dropped ones.
        """
        old, self.params = self.params, params
        self._advertised = frozenset(params.advertised)
        if params.old_checksum_dst is None or params.old_checksum == "never":
            self.old_checksum = False
        elif params.old_checksum == "config":
            self.old_checksum = True
        self._accepted = self._heard = self._advert = None
        if self.state is State.BACKUP and old.advert_int != params.advert_int:
            self.master_adver_interval = params.advert_int

        def addresses(p: InstanceParams):
            return p.vips, p.excluded_vips, p.routes, p.rules

        if self.state is not State.MASTER or addresses(old) == addresses(params):
            return []
        self._refresh_at = now + params.garp_refresh if params.garp_refresh > 0 else None
        return [*self._advertise(now), AddVips(), Announce(params.garp_repeat)]

    def set_priority(self, priority: int, now: float) -> list[Action]:
        """Tracking moved our priority (kept within 1..254 unless we own the addresses).

        A Master advertises the new priority at once so a better backup can preempt without waiting.
        """
        if self.params.priority != OWNER_PRIORITY:
            priority = max(1, min(OWNER_PRIORITY - 1, priority))
        self.priority = priority
        self._heard = None  # Skew_Time, and whether we preempt, depend on it
        return self._advertise(now) if self.state is State.MASTER else []

    def sync_master(self, now: float) -> list[Action]:
        """The sync group goes Master together: every member is ready or Master already."""
        if self.state is not State.BACKUP:
            return []
        return self._become_master(now, "sync group")

    def sync_backup(self, now: float) -> list[Action]:
        """Another member of the sync group left Master: follow it."""
        if self.state is not State.MASTER:
            return []
        return [RemoveVips(), *self._become_backup(now, "sync group")]

    def timer(self, now: float) -> list[Action]:
        """Run every timer that is due at ``now``."""
        actions: list[Action] = []
        if self._master_down_at is not None and now >= self._master_down_at:
            if self.sync_group:
                self._master_down_at, self.ready = None, True
                actions.append(WantMaster())
            else:
                actions += self._become_master(now, "master down")
        if self._adver_at is not None and now >= self._adver_at:
            due = self._adver_at
            actions += self._advertise(now)
            # keep the cadence on the original grid: a late wake-up must not push every later advert
            if due + self.params.advert_int > now:
                self._adver_at = due + self.params.advert_int
        if self._garp_at is not None and now >= self._garp_at:
            self._garp_at, self._announced_at = None, now
            actions.append(Announce(self._garp_repeat))
        if self._refresh_at is not None and now >= self._refresh_at:
            self._refresh_at = now + self.params.garp_refresh
            actions.append(Announce(self.params.garp_refresh_repeat))
        if self._extra_at is not None and now >= self._extra_at:
            self._extra_at = now + self.params.garp_extra_if
            actions.append(Announce(1, extra_only=True))
        return actions

    def receive(self, packet: Received, now: float) -> list[Action]:
        """A packet addressed to this instance; rejected ones are counted in ``counters.drops``."""
        heard = self._heard
        if heard is not None and heard[0] == packet:  # a Backup hears its master's advert again
            self.counters.adverts_received += 1
            self._master_down_at, self.ready = now + heard[1], False
            return NOTHING
        try:
            advert = self._accept(packet)
        except Dropped as dropped:
            self.counters.drops[dropped.reason] += 1
            self.counters.last_drop = dropped.reason
            return []
        self.counters.adverts_received += 1
        if advert.priority == STOP_PRIORITY:
            self.counters.priority_zero_received += 1
        if advert.old_checksum and not self.old_checksum:  # as keepalived: ours take the old form too
            self.old_checksum = True
            notice = Notice("Setting unicast VRRPv3 checksum to old version")  # keepalived's words
            if self.state is State.BACKUP:
                return [notice, *self._backup_hears(packet, advert, now)]
            return [notice, *self._master_hears(packet.src, advert, now)]
        if self.state is State.BACKUP:
            return self._backup_hears(packet, advert, now)
        return self._master_hears(packet.src, advert, now)

    # --- receive checks (RFC 5798 §7.1, RFC 3768 §7.1, and keepalived's address-list check) ---

    def _accept(self, packet: Received) -> Advert:
        if self.state is not State.BACKUP and self.state is not State.MASTER:
            raise Dropped(Drop.FAULT)
        # a master sends the same packet every interval: the last one accepted passed every check below
        # (they depend on the packet, params and local_address only; changing those forgets it)
        if self._accepted is not None and self._accepted[0] == packet:
            return self._accepted[1]
        params = self.params
        if not params.unicast and packet.ttl != VRRP_TTL:
            raise Dropped(Drop.TTL)
        if params.check_unicast_src and params.unicast and packet.src not in params.unicast_peers:
            raise Dropped(Drop.NOT_PEER)
        if packet.src == self.local_address:
            raise Dropped(Drop.OWN)
        # keepalived's skip_check_adv_addr: a Backup takes its master's VIP list on trust
        trusted = (
            params.skip_check_adv_addr and self.state is State.BACKUP and packet.src == self.master_address
        )
        old_checksum_dst = params.old_checksum_dst if params.old_checksum != "never" else None
        advert = decode(packet, None if trusted else len(self._advertised), old_checksum_dst)
        if advert.version != params.version:
            raise Dropped(Drop.VERSION)
        if advert.vrid != params.vrid:
            raise Dropped(Drop.VRID)
        if params.version == 2:
            if advert.auth_type != self._auth_type:
                raise Dropped(Drop.AUTH_TYPE)
            if self._auth_type == AUTH_PASS and advert.auth_data != self._auth_data:
                raise Dropped(Drop.AUTH)
            if advert.interval_cs != params.advert_cs:
                raise Dropped(Drop.INTERVAL)
        if trusted:
            return advert  # not remembered: as Master the same packet is checked in full
        if len(advert.addresses) != len(self._advertised) or frozenset(advert.addresses) != self._advertised:
            raise Dropped(Drop.ADDRESS_LIST)
        self._accepted = (packet, advert)
        return advert

    # --- per-state handling of an accepted advert -------------------------------------------

    def _backup_hears(self, packet: Received, advert: Advert, now: float) -> list[Action]:
        self._heard = None
        if advert.priority == STOP_PRIORITY:
            self._master_down_at, self.ready = now + self.skew_time, False
            return []
        tolerated = False  # a lower-priority master within preempt_delay: judged again every time
        if advert.priority > self.priority:
            self._preempt_at = None
        elif self.params.preempt and advert.priority < self.priority:
            if not self._tolerate(now):
                return []  # discard: Master_Down_Timer runs out and we preempt
            tolerated = True
        self.master_address = packet.src
        if self.params.version == 3:
            self.master_adver_interval = advert.interval_cs / 100
        interval = self.master_down_interval
        self._master_down_at, self.ready = now + interval, False
        if not tolerated:
            self._heard = (packet, interval)
        return []

    def _tolerate(self, now: float) -> bool:
        """preempt_delay: accept a lower-priority master until the delay since we first saw it ends."""
        if not self.params.preempt_delay:
            return False
        if self._preempt_at is None:
            self._preempt_at = now + self.params.preempt_delay
        return now < self._preempt_at

    def _master_hears(self, src: IPAddress, advert: Advert, now: float) -> list[Action]:
        if advert.priority == STOP_PRIORITY:
            return self._advertise(now)
        if advert.priority > self.priority or (advert.priority == self.priority and src > self.local_address):
            self.master_address = src
            if self.params.version == 3:
                self.master_adver_interval = advert.interval_cs / 100
            first = self._advertise(now) if self.params.higher_prio_send_advert else []
            return [*first, RemoveVips(), *self._become_backup(now, "higher priority advert")]
        if self._answered_at is not None and now - self._answered_at < LOWER_PRIO_ANSWER_INTERVAL:
            return []
        self._answered_at = now
        repeat = self.params.garp_lower_prio_repeat
        heard = LowerPriorityHeard(src, advert.priority)
        announce: list[Action] = []
        # the previous answer's second burst may have just gone (garp_lower_prio_delay ≤ the interval):
        # a flood then got two bursts a second, this answer's and the last one's second
        if repeat and (self._announced_at is None or now - self._announced_at >= LOWER_PRIO_ANSWER_INTERVAL):
            announce.append(Announce(repeat))
            self._announced_at = now
            if self.params.garp_lower_prio_delay > 0:  # keepalived: a second burst that much later
                self._garp_at, self._garp_repeat = now + self.params.garp_lower_prio_delay, repeat
        if self.params.lower_prio_no_advert:
            return [*announce, heard]
        return [*self._advertise(now), *announce, heard]

    # --- transitions ------------------------------------------------------------------------------

    def _advertise(self, now: float, priority: int | None = None) -> list[Action]:
        priority = self.priority if priority is None else priority
        self._adver_at = now + self.params.advert_int
        self.counters.adverts_sent += 1
        if priority == STOP_PRIORITY:
            self.counters.priority_zero_sent += 1
        advert = self._advert
        if advert is None or advert.priority != priority:  # else unchanged: the driver reuses its bytes
            advert = self._advert = Advert(
                self.params.version,
                self.params.vrid,
                priority,
                self.params.advert_cs,
                self.params.advertised,
                self._auth_type if self.params.version == 2 else AUTH_NONE,
                self._auth_data if self.params.version == 2 else b"",
            )
        return [SendAdvert(advert)]

    def _startup(self, now: float, reason: str) -> list[Action]:
        if self.priority == OWNER_PRIORITY:
            return self._become_master(now, reason)
        # a Backup must not hold the addresses: clear any left by a crashed run, as keepalived does
        return [RemoveVips(), *self._become_backup(now, reason)]

    def _become_master(self, now: float, reason: str) -> list[Action]:
        old, self.state = self.state, State.MASTER
        self._heard = None
        self._master_down_at = self._preempt_at = None
        self.ready = False
        self.master_address = self.local_address
        self.counters.became_master += 1
        actions = [*self._advertise(now), AddVips(), Announce(self.params.garp_repeat)]
        self._garp_at = now + self.params.garp_delay if self.params.garp_delay > 0 else None
        self._garp_repeat = self.params.garp_repeat
        self._refresh_at = now + self.params.garp_refresh if self.params.garp_refresh > 0 else None
        self._extra_at = now + self.params.garp_extra_if if self.params.garp_extra_if > 0 else None
        return [*actions, Transition(old, State.MASTER, reason)]

    def _become_backup(self, now: float, reason: str) -> list[Action]:
        old, self.state = self.state, State.BACKUP
        self._heard = None
        self._adver_at = self._garp_at = self._refresh_at = self._extra_at = None
        self.ready = False
        if old is not State.MASTER:
            self.master_adver_interval = self.params.advert_int
        self._master_down_at = now + self.master_down_interval
        return [Transition(old, State.BACKUP, reason)]

    def _leave(self, new: State, now: float, reason: str) -> list[Action]:
        old = self.state
        if old is new:
            return []
        actions: list[Action] = []
        if old is State.MASTER:
            actions += [*self._advertise(now, STOP_PRIORITY), RemoveVips()]
        self.state, self.ready, self._heard = new, False, None
        self._adver_at = self._master_down_at = self._garp_at = self._refresh_at = self._preempt_at = None
        self._extra_at = None
        self.master_address = None
        return [*actions, Transition(old, new, reason)]
