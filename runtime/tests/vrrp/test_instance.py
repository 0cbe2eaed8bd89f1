"""The sans-IO state machine on a fake clock: every RFC 5798 §6.4 transition and §6.1 timer formula."""

from __future__ import annotations

import itertools
from dataclasses import replace
from ipaddress import IPv4Address, IPv4Interface

import pytest
from tandem.vrrp.instance import (
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
from tandem.vrrp.packet import Drop, Received, encode, pass_auth_data
from vrrp_helpers import GROUP, ME, OTHER, PEER, V2, V3, advert_from, packet


def started(params=V3, now=0.0, local=ME) -> Instance:
    instance = Instance(params, local)
    instance.start(now)
    return instance


def kinds(actions) -> list[type]:
    return [type(a) for a in actions]


# --- §6.1 timer formulas --------------------------------------------------------------------------


@pytest.mark.parametrize(("priority", "skew", "mdi"), [(100, 0.609375, 3.609375), (200, 0.21875, 3.21875)])
def test_v2_skew_and_master_down_interval(priority, skew, mdi):
    instance = Instance(replace(V2, priority=priority), ME)
    assert instance.skew_time == pytest.approx(skew)
    assert instance.master_down_interval == pytest.approx(mdi)
    instance.start(10.0)
    assert instance.deadline == pytest.approx(10.0 + mdi)


@pytest.mark.parametrize(
    ("priority", "interval", "mdi"), [(100, 0.1, 0.3609375), (200, 0.1, 0.321875), (1, 2.0, 7.9921875)]
)
def test_v3_skew_and_master_down_interval(priority, interval, mdi):
    instance = Instance(replace(V3, priority=priority, advert_int=interval), ME)
    assert instance.skew_time == pytest.approx((256 - priority) * interval / 256)
    assert instance.master_down_interval == pytest.approx(mdi)


@pytest.mark.parametrize(("adverts", "version"), [(1, 3), (10, 3), (1, 2)])
def test_down_timer_adverts_replaces_the_three_intervals(adverts, version):
    """keepalived's down_timer_adverts N: Master_Down_Interval = N × Master_Adver_Interval + Skew_Time."""
    params = replace(V3 if version == 3 else V2, down_timer_adverts=adverts)
    instance = Instance(params, ME)
    assert instance.master_down_interval == pytest.approx(adverts * params.advert_int + instance.skew_time)
    instance.start(0.0)
    assert instance.deadline == pytest.approx(instance.master_down_interval)


# --- Initialize (§6.4.1) --------------------------------------------------------------------------


def test_startup_goes_backup_and_waits_master_down_interval():
    instance = Instance(V3, ME)
    actions = instance.start(5.0)
    assert actions == [RemoveVips(), Transition(State.INITIALIZE, State.BACKUP, "startup")]
    assert instance.state is State.BACKUP
    assert instance.deadline == pytest.approx(5.0 + instance.master_down_interval)
    assert instance.timer(5.3) == []  # not yet
    actions = instance.timer(5.0 + instance.master_down_interval)
    assert kinds(actions) == [SendAdvert, AddVips, Announce, Transition]
    assert actions[0].advert == advert_from(V3, 100)
    assert instance.state is State.MASTER


def test_address_owner_becomes_master_at_once():
    instance = Instance(replace(V3, priority=255), ME)
    actions = instance.start(0.0)
    assert kinds(actions) == [SendAdvert, AddVips, Announce, Transition]
    assert actions[0].advert.priority == 255
    assert instance.state is State.MASTER
    assert instance.deadline == pytest.approx(0.1)


# --- Backup (§6.4.2) ------------------------------------------------------------------------------


def test_backup_resets_master_down_timer_on_higher_priority_advert():
    instance = started()
    for t in (0.1, 0.2, 0.3, 0.4, 0.5):
        assert instance.receive(packet(advert_from(V3, 150)), t) == []
        assert instance.deadline == pytest.approx(t + instance.master_down_interval)
    assert instance.master_address == PEER
    assert instance.state is State.BACKUP


def test_v3_backup_adopts_master_advert_interval():
    instance = started()
    instance.receive(packet(advert_from(V3, 150, interval_cs=50)), 1.0)
    assert instance.master_adver_interval == pytest.approx(0.5)
    assert instance.deadline == pytest.approx(1.0 + 3 * 0.5 + 156 * 0.5 / 256)


def test_backup_priority_zero_advert_takes_over_after_skew_time():
    instance = started()
    instance.receive(packet(advert_from(V3, 150)), 1.0)
    instance.receive(packet(advert_from(V3, 0)), 1.05)
    assert instance.deadline == pytest.approx(1.05 + instance.skew_time)
    assert instance.counters.priority_zero_received == 1
    instance.timer(instance.deadline)
    assert instance.state is State.MASTER


def test_backup_with_preempt_discards_lower_priority_and_takes_over():
    instance = started()
    instance.receive(packet(advert_from(V3, 150)), 0.05)
    taken_at = 0.05 + instance.master_down_interval
    for t in (0.1, 0.2, 0.3):
        instance.receive(packet(advert_from(V3, 50)), t)
    assert instance.deadline == pytest.approx(taken_at)
    instance.timer(taken_at)
    assert instance.state is State.MASTER


def test_nopreempt_backup_accepts_lower_priority_master():
    instance = started(replace(V3, preempt=False))
    for step in range(1, 50):
        instance.receive(packet(advert_from(V3, 50)), step * 0.1)
        instance.timer(step * 0.1)
    assert instance.state is State.BACKUP


def test_preempt_delay_tolerates_lower_priority_master_for_the_delay():
    instance = started(replace(V3, preempt_delay=2.0))
    t = 0.1
    while t < 1.9:
        instance.receive(packet(advert_from(V3, 50)), t)
        assert instance.timer(t) == []
        t += 0.1
    while instance.state is State.BACKUP and t < 5:
        instance.receive(packet(advert_from(V3, 50)), t)
        instance.timer(t)
        t += 0.01
    assert instance.state is State.MASTER
    assert 2.1 + instance.master_down_interval - 0.2 < t < 2.1 + instance.master_down_interval + 0.1


def test_a_repeated_advert_is_judged_again_once_our_priority_changed():
    """A Backup hearing its master's same advert again takes a short cut (tandem.vrrp.instance NOTHING);
    after our priority rises above the master's it must discard that advert and preempt."""
    instance = started()
    repeated = packet(advert_from(V3, 150))
    for t in (0.1, 0.2, 0.3):
        assert instance.receive(repeated, t) == []
    down_at = instance.deadline
    assert down_at == pytest.approx(0.3 + instance.master_down_interval)
    assert instance.counters.adverts_received == 3
    instance.set_priority(200, 0.35)
    for t in (0.4, 0.5):
        instance.receive(repeated, t)
    assert instance.deadline == down_at  # discarded: the timer runs out
    instance.timer(instance.deadline)
    assert instance.state is State.MASTER


def test_equal_priority_is_accepted_by_backup():
    instance = started()
    instance.receive(packet(advert_from(V3, 100), src=IPv4Address("198.51.100.1")), 1.0)
    assert instance.deadline == pytest.approx(1.0 + instance.master_down_interval)


# --- Master (§6.4.3) ------------------------------------------------------------------------------


def master(params=V3, local=ME) -> Instance:
    """An instance that became Master (master down timer ran out) at time 0."""
    instance = Instance(params, local)
    instance.start(-instance.master_down_interval)
    instance.timer(instance.deadline)
    assert instance.state is State.MASTER
    return instance


def test_master_advertises_on_a_fixed_grid_even_when_woken_late():
    instance = master()
    sent_at = []
    for wake in (0.1003, 0.2001, 0.3042, 0.4):
        if instance.deadline <= wake:
            actions = instance.timer(wake)
            assert kinds(actions) == [SendAdvert]
            sent_at.append(wake)
    assert instance.deadline == pytest.approx(0.5)
    assert len(sent_at) == 4


def test_a_master_sends_one_advert_object_until_its_priority_or_params_change():
    """The driver encodes an advert once and resends those bytes while the Advert is the same object."""
    instance = master()
    [first] = instance.timer(instance.deadline)
    [again] = instance.timer(instance.deadline)
    assert again.advert is first.advert
    [lowered] = [a for a in instance.set_priority(90, 0.25) if isinstance(a, SendAdvert)]
    assert lowered.advert.priority == 90 and lowered.advert is not first.advert
    more = replace(V3, vips=(*V3.vips, replace(V3.vips[0], address=IPv4Interface("198.51.100.101/24"))))
    [updated] = [a for a in instance.update(more, 0.3) if isinstance(a, SendAdvert)]
    assert updated.advert == advert_from(more, 90) and updated.advert is not lowered.advert


def test_master_answers_priority_zero_with_an_advert():
    instance = master()
    actions = instance.receive(packet(advert_from(V3, 0)), 0.05)
    assert kinds(actions) == [SendAdvert]
    assert instance.deadline == pytest.approx(0.15)


def test_master_yields_to_higher_priority():
    instance = master()
    actions = instance.receive(packet(advert_from(V3, 200, interval_cs=20)), 0.05)
    assert actions == [RemoveVips(), Transition(State.MASTER, State.BACKUP, "higher priority advert")]
    assert instance.master_adver_interval == pytest.approx(0.2)
    assert instance.deadline == pytest.approx(0.05 + 3 * 0.2 + 156 * 0.2 / 256)


def test_equal_priority_won_by_higher_primary_address():
    instance = master()
    assert kinds(instance.receive(packet(advert_from(V3, 100), src=IPv4Address("198.51.100.1")), 0.05)) == [
        SendAdvert,
        Announce,
        LowerPriorityHeard,  # equal priority, lower address: keepalived's MASTER_RX_LOWER_PRI too
    ]
    assert instance.state is State.MASTER
    actions = instance.receive(packet(advert_from(V3, 100), src=OTHER), 0.06)
    assert kinds(actions) == [RemoveVips, Transition]
    assert instance.state is State.BACKUP


def test_higher_prio_send_advert_advertises_once_before_yielding():
    """keepalived's higher_prio_send_advert: the Master's own advert goes out first, then it is Backup."""
    instance = master(replace(V3, higher_prio_send_advert=True))
    actions = instance.receive(packet(advert_from(V3, 200)), 0.05)
    reason = "higher priority advert"
    assert actions == [
        SendAdvert(advert_from(V3, 100)),
        RemoveVips(),
        Transition(State.MASTER, State.BACKUP, reason),
    ]
    assert instance.deadline == pytest.approx(0.05 + instance.master_down_interval)


def test_skip_check_adv_addr_trusts_only_the_current_masters_vip_list():
    """keepalived checks a Backup's first advert from a master in full; with skip_check_adv_addr the
    next ones from that master are not checked against the VIP list. A Master always checks."""
    other_vips = advert_from(V3, 150, addresses=(IPv4Address("198.51.100.200"),))
    for skip, drops in ((False, 1), (True, 0)):
        instance = started(replace(V3, skip_check_adv_addr=skip))
        assert instance.receive(packet(other_vips), 0.1) == []  # not its master yet: checked
        instance.receive(packet(advert_from(V3, 150)), 0.2)  # the master, VIP list as ours
        before = instance.master_down_at
        instance.receive(packet(other_vips), 0.3)
        assert instance.counters.drops[Drop.ADDRESS_LIST] == 1 + drops
        assert (instance.master_down_at > before) is skip  # accepted: Master_Down_Timer restarted
        assert instance.receive(packet(other_vips, src=OTHER), 0.4) == []  # another router: checked
        assert instance.counters.drops[Drop.ADDRESS_LIST] == 2 + drops
    leader = master(replace(V3, skip_check_adv_addr=True))
    assert leader.receive(packet(advert_from(V3, 50, addresses=())), 0.05) == []
    assert leader.counters.drops[Drop.ADDRESS_LIST] == 1


def test_master_hearing_lower_priority_readvertises_and_announces_at_once():
    """RFC 9568 §6.4.3 re-advert; keepalived's GARP/NA burst repairs ARP caches after a split brain."""
    instance = master(replace(V3, garp_lower_prio_repeat=3))
    actions = instance.receive(packet(advert_from(V3, 50)), 0.05)
    assert actions == [SendAdvert(advert_from(V3, 100)), Announce(3), LowerPriorityHeard(PEER, 50)]
    assert instance.deadline == pytest.approx(0.15)
    quiet = master(replace(V3, lower_prio_no_advert=True, garp_lower_prio_repeat=0))
    # neither advert nor GARP/NA, but the owner still hears of it (notify_master_rx_lower_pri, FIFO)
    assert quiet.receive(packet(advert_from(V3, 50)), 0.05) == [LowerPriorityHeard(PEER, 50)]


def test_lower_priority_garp_burst_repeats_after_garp_lower_prio_delay():
    """keepalived: garp_lower_prio_repeat at once, and again garp_lower_prio_delay later (0: not again)."""

    def bursts(delay: float) -> list:
        instance = master(replace(V3, garp_lower_prio_repeat=2, garp_lower_prio_delay=delay, garp_delay=0.0))
        assert Announce(2) in instance.receive(packet(advert_from(V3, 50)), 0.05)
        later, t = [], 0.05
        while t < 4.0:
            t = instance.deadline
            later += [(round(t, 3), a.repeat) for a in instance.timer(t) if isinstance(a, Announce)]
        return later

    assert bursts(3.0) == [(3.05, 2)]
    assert bursts(0.0) == []


def test_garp_extra_if_refreshes_while_master_only():
    instance = master(replace(V3, garp_extra_if=2.0, garp_delay=0.0))
    extra, t = [], 0.0
    while t < 5.0:
        t = instance.deadline
        extra += [round(t, 3) for a in instance.timer(t) if a == Announce(1, extra_only=True)]
    assert extra == [2.0, 4.0]
    instance.stop(t)
    assert instance.deadline is None


def test_master_answers_a_flood_of_lower_priority_adverts_at_most_once_a_second():
    """20,000 adverts made keepalived (and tandemd) send 20,000 adverts and 100,000 GARPs."""
    instance = master()
    answers = [
        a for i in range(2000) for a in instance.receive(packet(advert_from(V3, 50)), 0.05 + i * 0.001)
    ]
    # at 0.05 and 1.05: one advert, one GARP/NA burst and one notification each (keepalived: 2,000 of
    # each, 2,000 notify_master_rx_lower_pri scripts); the timer's own adverts are not answers
    assert answers == [SendAdvert(advert_from(V3, 100)), Announce(5), LowerPriorityHeard(PEER, 50)] * 2
    assert instance.counters.adverts_received == 2000
    assert instance.state is State.MASTER


@pytest.mark.parametrize("delay", [1.0, 0.5, 0.999, 1.001, 3.0])
def test_a_lower_priority_flood_never_gets_two_garp_bursts_together(delay):
    """With garp_lower_prio_delay near the answer interval (the lab's 1 s), the previous answer's second
    burst and the next answer's first came ~10 ms apart: 2 × 5 GARPs a second. Timers run as the driver
    runs them, interleaved with 1,000 adverts a second for 6 s."""
    instance = master(replace(V3, garp_lower_prio_delay=delay, garp_delay=0.0))
    bursts, t = [], 0.05
    for i in range(6000):
        t = 0.05 + i * 0.001
        while instance.deadline is not None and instance.deadline <= t:
            due = instance.deadline
            bursts += [due for a in instance.timer(due) if isinstance(a, Announce)]
        bursts += [t for a in instance.receive(packet(advert_from(V3, 50)), t) if isinstance(a, Announce)]
    # never two together, and one answer's worth (its burst and its second) per second at most
    gaps = [b - a for a, b in itertools.pairwise(bursts)]
    assert bursts[0] == 0.05 and min(gaps) >= min(delay, 1.0) - 1e-9, bursts
    assert 3 <= len(bursts) <= 6 + 1, bursts  # answered all along; +1: the last answer's second burst
    assert instance.state is State.MASTER


@pytest.mark.parametrize("params", [V3, V2])
def test_advert_interval_zero_is_dropped_and_never_shortens_master_down(params):
    """A single interval-0 advert made Master_Down_Interval 0: a backup took over at once."""
    instance = started(params)
    instance.receive(packet(advert_from(params, 200)), 0.5)
    deadline, mdi = instance.deadline, instance.master_down_interval
    assert instance.receive(packet(advert_from(params, 200, interval_cs=0)), 0.6) == []
    assert instance.counters.drops == {Drop.INTERVAL: 1}
    assert (instance.deadline, instance.master_down_interval) == (deadline, mdi)
    assert instance.timer(0.61) == [] and instance.state is State.BACKUP


def test_update_on_master_readvertises_new_vips_and_adds_them():
    instance = master()
    more = replace(V3, vips=(*V3.vips, replace(V3.vips[0], address=IPv4Interface("198.51.100.101/24"))))
    actions = instance.update(more, 0.05)
    assert actions == [SendAdvert(advert_from(more, 100)), AddVips(), Announce(more.garp_repeat)]
    assert instance.state is State.MASTER
    # the peer now advertises the new list: accepted; the old list is not
    assert instance.receive(packet(advert_from(more, 50)), 0.06)[0] == SendAdvert(advert_from(more, 100))
    assert instance.receive(packet(advert_from(V3, 50)), 0.07) == []
    assert instance.counters.drops[Drop.ADDRESS_LIST] == 1
    assert instance.update(replace(more, priority=150, advert_int=0.2), 0.08) == []  # same addresses
    assert instance.params.priority == 150 and instance.priority == 100


def test_same_advert_again_is_judged_again_after_an_update():
    instance = started()
    same = packet(advert_from(V3, 200))
    for t in (0.1, 0.2):
        instance.receive(same, t)
    assert instance.counters.adverts_received == 2
    assert instance.receive(same._replace(ttl=1), 0.3) == []  # the bytes are the same, the TTL is not
    assert instance.counters.drops[Drop.TTL] == 1
    more = replace(V3, vips=(*V3.vips, replace(V3.vips[0], address=IPv4Interface("198.51.100.101/24"))))
    instance.update(more, 0.4)
    instance.receive(same, 0.5)
    assert instance.counters.drops[Drop.ADDRESS_LIST] == 1 and instance.counters.adverts_received == 2


def test_update_on_backup_keeps_state_and_sends_nothing():
    instance = started()
    slower = replace(V3, advert_int=0.2, priority=120)
    assert instance.update(slower, 0.05) == []
    assert instance.state is State.BACKUP
    assert instance.priority == 100  # the effective priority is tracking's to set
    assert instance.master_adver_interval == pytest.approx(0.2)


def test_master_shutdown_sends_priority_zero_then_removes_vips():
    instance = master()
    actions = instance.stop(0.05)
    assert actions == [
        SendAdvert(advert_from(V3, 0)),
        RemoveVips(),
        Transition(State.MASTER, State.INITIALIZE, "shutdown"),
    ]
    assert instance.deadline is None
    assert instance.counters.priority_zero_sent == 1


def test_backup_shutdown_only_reports():
    instance = started()
    assert instance.stop(1.0) == [Transition(State.BACKUP, State.INITIALIZE, "shutdown")]
    assert instance.deadline is None


def test_garp_cadence_burst_then_delayed_burst_then_refresh():
    params = replace(V3, garp_delay=5.0, garp_repeat=5, garp_refresh=30.0, garp_refresh_repeat=2)
    instance = Instance(replace(params, priority=255), ME)
    assert Announce(5) in instance.start(0.0)
    announced = []
    t = 0.0
    while t < 65.0:
        t = instance.deadline
        announced += [(round(t, 3), a.repeat) for a in instance.timer(t) if isinstance(a, Announce)]
    assert announced == [(5.0, 5), (30.0, 2), (60.0, 2)]


# --- Fault and priority changes (keepalived extensions, used by tracking) ------------------------


def test_fault_from_master_leaves_like_shutdown_and_recovers_as_backup():
    instance = master()
    actions = instance.fault(1.0)
    assert kinds(actions) == [SendAdvert, RemoveVips, Transition]
    assert actions[0].advert.priority == 0
    assert instance.state is State.FAULT
    assert instance.receive(packet(advert_from(V3, 150)), 1.1) == []
    assert instance.counters.drops[Drop.FAULT] == 1
    assert instance.recover(2.0) == [RemoveVips(), Transition(State.FAULT, State.BACKUP, "fault cleared")]
    assert instance.deadline == pytest.approx(2.0 + instance.master_down_interval)


def test_priority_change_is_advertised_at_once_by_master():
    instance = master()
    actions = instance.set_priority(300, 0.05)
    assert actions == [SendAdvert(advert_from(V3, 254))]
    assert started().set_priority(0, 1.0) == []


# --- receive checks: each drop has its own reason ----------------------------------------------


@pytest.mark.parametrize(
    ("params", "make", "reason"),
    [
        (V3, lambda: packet(advert_from(V3, 150), ttl=254), Drop.TTL),
        (V3, lambda: packet(advert_from(V3, 150), src=ME), Drop.OWN),
        (V3, lambda: packet(advert_from(V2, 150)), Drop.VERSION),
        (V3, lambda: packet(replace(advert_from(V3, 150), vrid=52)), Drop.VRID),
        (
            V3,
            lambda: packet(advert_from(V3, 150, addresses=(IPv4Address("198.51.100.101"),))),
            Drop.ADDRESS_LIST,
        ),
        (V3, lambda: packet(advert_from(V3, 150, addresses=())), Drop.ADDRESS_LIST),
        (V3, lambda: Received(PEER, GROUP, 255, b"\x31\x33"), Drop.TRUNCATED),
        (V2, lambda: packet(advert_from(V2, 150, auth_type=0, auth_data=bytes(8))), Drop.AUTH_TYPE),
        (V2, lambda: packet(advert_from(V2, 150, auth_data=pass_auth_data("wrong"))), Drop.AUTH),
        (V2, lambda: packet(advert_from(V2, 150, interval_cs=200)), Drop.INTERVAL),
        (
            replace(V3, unicast_peers=(PEER,), check_unicast_src=True),
            lambda: packet(advert_from(V3, 150), src=OTHER, dst=ME),
            Drop.NOT_PEER,
        ),
    ],
)
def test_receive_checks_count_drops_by_reason(params, make, reason):
    instance = started(params)
    deadline = instance.deadline
    assert instance.receive(make(), 1.0) == []
    assert instance.counters.drops == {reason: 1}
    assert instance.counters.adverts_received == 0
    assert instance.deadline == deadline


def test_unicast_accepts_a_non_peer_unless_check_unicast_src():
    """As keepalived 2.2.7: the source of a unicast advert is checked against unicast_peer only with
    check_unicast_src (or global_defs vrrp_check_unicast_src)."""
    instance = started(replace(V3, unicast_peers=(PEER,)))
    instance.receive(packet(advert_from(V3, 150), src=OTHER, dst=ME), 1.0)
    assert instance.counters.adverts_received == 1
    assert instance.master_address == OTHER


def test_unicast_accepts_routed_ttl_from_a_peer():
    instance = started(replace(V3, unicast_peers=(PEER,)))
    instance.receive(packet(advert_from(V3, 150), ttl=60, dst=ME), 1.0)
    assert instance.counters.adverts_received == 1


# --- vrrp_sync_group members ------------------------------------------------------------------------


def test_sync_group_member_waits_for_its_group_instead_of_becoming_master():
    instance = Instance(V3, ME)
    instance.sync_group = True
    instance.start(0.0)
    assert instance.timer(instance.deadline) == [WantMaster()]
    assert (instance.state, instance.ready, instance.deadline) == (State.BACKUP, True, None)
    # hearing a master again: no longer ready, the timer runs again
    instance.receive(packet(advert_from(V3, 200)), 1.0)
    assert not instance.ready and instance.deadline == pytest.approx(1.0 + instance.master_down_interval)
    instance.timer(instance.deadline)
    assert kinds(instance.sync_master(2.0)) == [SendAdvert, AddVips, Announce, Transition]
    assert (instance.state, instance.ready) == (State.MASTER, False)
    assert instance.sync_master(2.1) == []


def test_sync_backup_makes_a_master_follow_and_leaves_others_alone():
    instance = master()
    actions = instance.sync_backup(0.05)
    assert actions == [RemoveVips(), Transition(State.MASTER, State.BACKUP, "sync group")]
    assert instance.deadline == pytest.approx(0.05 + instance.master_down_interval)
    assert instance.sync_backup(0.06) == []


# --- old_unicast_checksum ---------------------------------------------------------------------------

OLD = replace(V3, unicast_peers=(PEER,), old_checksum_dst=GROUP)


def old_form(priority: int) -> Received:
    """A unicast VRRPv3 advert from PEER to ME with keepalived's old checksum (the group in the
    pseudo-header)."""
    advert = advert_from(OLD, priority)
    return Received(PEER, ME, 255, encode(advert, PEER, GROUP))


def test_an_old_unicast_checksum_is_taken_up_as_keepalived_does():
    """keepalived 2.2.7's default: an advert with the old checksum is accepted, and from then on the
    instance's own adverts take that form (said once, in keepalived's words)."""
    instance = started(OLD)
    assert not instance.old_checksum
    actions = instance.receive(old_form(150), 1.0)
    assert actions[0] == Notice("Setting unicast VRRPv3 checksum to old version")
    assert instance.old_checksum and instance.counters.adverts_received == 1
    assert not any(isinstance(a, Notice) for a in instance.receive(old_form(150), 1.1))


def test_old_unicast_checksum_never_drops_the_old_form_and_config_starts_with_it():
    never = started(replace(OLD, old_checksum="never"))
    assert never.receive(old_form(150), 1.0) == []
    assert never.counters.drops == {Drop.CHECKSUM: 1} and not never.old_checksum
    assert started(replace(OLD, old_checksum="config")).old_checksum
    assert not started(replace(OLD, old_checksum="config", old_checksum_dst=None)).old_checksum  # multicast


def test_a_master_whose_vip_was_removed_leaves_for_skew_time():
    """keepalived's set_vrrp_backup: priority 0, addresses removed, Backup until Skew_Time, then Master
    again (adding them back); anything but a Master ignores it."""
    instance = started(replace(V3, priority=254))  # the owner-less highest: Master after Master_Down
    instance.timer(instance.deadline)
    assert instance.state is State.MASTER
    actions = instance.vip_removed(5.0)
    assert actions[0].advert.priority == 0 and isinstance(actions[1], RemoveVips)
    assert actions[-1] == Transition(State.MASTER, State.BACKUP, "virtual address removed")
    assert instance.deadline == pytest.approx(5.0 + instance.skew_time)
    again = instance.timer(instance.deadline)
    assert AddVips() in again and instance.state is State.MASTER
    assert started().vip_removed(1.0) == []
