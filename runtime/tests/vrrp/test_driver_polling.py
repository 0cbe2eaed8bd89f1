"""When the driver reads a channel: a channel of Backups one poll interval after its first packet (in one
batch with what follows), a channel with a Master at once; polled while packets keep coming.

White box over a channel whose sockets are stand-ins (a queue of packets, a real fd for the event loop):
the decisions are checked on the handles the driver schedules, not on time passing.
"""

from __future__ import annotations

import asyncio
import socket
import time
from dataclasses import replace

from tandem.vrrp.driver import (
    BACKUP_POLL_INTERVAL_MAX,
    POLL_INTERVAL_MAX,
    READ_BATCH,
    Channel,
    Driver,
    Unit,
)
from tandem.vrrp.instance import Instance, State
from vrrp_helpers import ME, V2, V3, advert_from, packet


class QueueSocket:
    """A VRRP socket's stand-in: what ``queued`` holds is read in order, then BlockingIOError."""

    family, ifname, ifindex = 4, "eth0", 2

    def __init__(self) -> None:
        self._pair = socket.socketpair()
        self.queued: list = []
        self.sent: list = []

    def fileno(self) -> int:
        return self._pair[0].fileno()

    def receive(self):
        if not self.queued:
            raise BlockingIOError
        return self.queued.pop(0), time.time()

    def send(self, wire, src, dst, ttl=255) -> None:
        self.sent.append(wire)

    def set_filter(self, program: bytes) -> None:
        pass

    def kernel_drops(self) -> int:
        return 0

    def close(self) -> None:
        for end in self._pair:
            end.close()


def run(scenario, *params):
    """``scenario(driver, channel, loop)`` with one unit per params on a channel, every one Backup."""

    async def main():
        loop = asyncio.get_running_loop()
        driver = Driver()
        driver.open()
        channel = Channel(QueueSocket(), QueueSocket())
        driver._channels[("eth0", 4)] = channel
        for p in params:
            unit = driver.units[p.name] = Unit(Instance(p, ME), channel, destinations=(p.group,))
            channel.units[p.vrid] = unit
            driver.start(p.name)
        driver._start_reading(channel)
        try:
            return scenario(driver, channel, loop)
        finally:
            driver.close()

    return asyncio.run(main())


def adverts(params, n: int) -> list:
    return [packet(advert_from(params, 200))] * n


def due_within(channel: Channel, loop, interval: float) -> bool:
    return channel.poll is not None and channel.poll.when() <= loop.time() + interval


def test_a_channel_of_backups_is_read_one_poll_interval_after_its_first_packet():
    a, b = V3, replace(V3, name="VI_2", vrid=52)

    def scenario(driver, channel, loop):
        sock = channel.sock
        sock.queued = adverts(a, 1)
        driver._on_readable(channel)
        assert len(sock.queued) == 1  # not read yet: its master's burst is read in one go, later
        assert channel.backups_only
        # Skew_Time of priority 100 at 0.1 s is 61 ms: half of it, below BACKUP_POLL_INTERVAL_MAX
        assert channel.poll_interval == driver.units["VI_1"].instance.skew_time / 2 < BACKUP_POLL_INTERVAL_MAX
        assert due_within(channel, loop, channel.poll_interval)
        sock.queued += adverts(b, 2)
        driver._on_poll(channel)
        assert sock.queued == []
        assert due_within(channel, loop, channel.poll_interval)  # packets keep coming: polled again
        sock.queued = adverts(a, 1)
        driver._on_poll(channel)
        assert channel.poll is None  # one packet a poll: waited for again
        instances = [unit.instance for unit in driver.units.values()]
        return [(instance.counters.adverts_received, instance.master_down_at) for instance in instances]

    (heard_a, down_a), (heard_b, down_b) = run(scenario, a, b)
    assert (heard_a, heard_b) == (2, 2)  # every packet counted, and each backup's timer reset
    assert down_a is not None and down_b is not None


def test_a_long_skew_time_is_polled_at_most_every_backup_poll_interval_max():
    # v2, priority 100: Skew_Time 0.61 s
    interval = run(lambda driver, channel, loop: driver._poll_interval(channel), V2)
    assert interval == BACKUP_POLL_INTERVAL_MAX


def test_a_channel_with_a_master_is_read_at_once_and_polled_within_poll_interval_max():
    owner, backup = replace(V2, priority=255), replace(V2, name="VI_2", vrid=52)

    def scenario(driver, channel, loop):
        assert driver.units["VI_1"].instance.state is State.MASTER
        channel.sock.queued = adverts(backup, 1)
        driver._on_readable(channel)
        assert channel.sock.queued == []  # a Master yields to a higher priority without delay
        assert not channel.backups_only
        assert channel.poll_interval == POLL_INTERVAL_MAX
        assert due_within(channel, loop, POLL_INTERVAL_MAX)
        return driver.units["VI_2"].instance.counters.adverts_received

    assert run(scenario, owner, backup) == 1


def test_a_backup_becoming_master_brings_its_channel_s_next_poll_forward():
    a, b = V2, replace(V2, name="VI_2", vrid=52)

    def scenario(driver, channel, loop):
        channel.sock.queued = adverts(a, 1)
        driver._on_readable(channel)
        assert channel.poll_interval == BACKUP_POLL_INTERVAL_MAX
        driver.act("VI_2", lambda instance, now: instance.timer(instance.master_down_at))  # Master_Down
        assert driver.units["VI_2"].instance.state is State.MASTER
        assert due_within(channel, loop, POLL_INTERVAL_MAX)
        channel.sock.queued = adverts(a, 2)
        driver._on_poll(channel)  # polled on, at a Master's channel's interval
        assert not channel.backups_only
        assert channel.poll_interval == POLL_INTERVAL_MAX
        assert due_within(channel, loop, POLL_INTERVAL_MAX)

    run(scenario, a, b)


def test_a_batch_cut_short_by_read_batch_is_read_on_within_poll_interval_max():
    def scenario(driver, channel, loop):
        channel.sock.queued = adverts(V2, READ_BATCH + 10)
        driver._on_readable(channel)
        driver._on_poll(channel)
        assert len(channel.sock.queued) == 10
        assert channel.poll_interval == BACKUP_POLL_INTERVAL_MAX
        assert due_within(channel, loop, POLL_INTERVAL_MAX)  # not a Backup channel's longer interval
        driver._on_poll(channel)
        assert channel.sock.queued == []
        return driver.units["VI_1"].instance.counters.adverts_received

    assert run(scenario, V2) == READ_BATCH + 10


def test_a_master_yielding_on_the_read_at_once_is_polled_at_the_new_interval():
    """The advert read at once makes the channel's Master a Backup: its interval is worked out anew
    (that change reset it), the channel is polled, and waited for again when packets are sparse."""

    def scenario(driver, channel, loop):
        driver.act("VI_1", lambda instance, now: instance.timer(instance.master_down_at))  # Master_Down
        instance = driver.units["VI_1"].instance
        assert instance.state is State.MASTER
        channel.sock.queued = adverts(V2, 1)  # priority 200, above ours (100)
        driver._on_readable(channel)
        assert instance.state is State.BACKUP and channel.backups_only
        assert due_within(channel, loop, channel.poll_interval)
        channel.sock.queued = adverts(V2, 1)
        driver._on_poll(channel)
        assert channel.sock.queued == [] and channel.poll is None  # one packet: waited for again
        return instance.counters.adverts_received

    assert run(scenario, V2) == 2
