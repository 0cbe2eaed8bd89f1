"""Properties of the state machine: hostile input never escapes, and a simulated group always converges."""

from __future__ import annotations

from dataclasses import replace
from ipaddress import IPv4Address

from hypothesis import given, settings
from hypothesis import strategies as st
from tandem.vrrp.instance import Instance, SendAdvert, State
from tandem.vrrp.packet import Received, encode
from tandem.vrrp.params import InstanceParams
from vrrp_helpers import GROUP, ME, PEER, V2, V3, advert_from


def fed(instance: Instance) -> int:
    return instance.counters.adverts_received + sum(instance.counters.drops.values())


mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 63), st.integers(1, 255)),
    st.tuples(st.just("cut"), st.integers(0, 63), st.just(0)),
    st.tuples(st.just("append"), st.integers(1, 16), st.integers(0, 255)),
)


def mutate(wire: bytes, how: tuple[str, int, int]) -> bytes:
    kind, at, value = how
    if kind == "flip" and wire:
        i = at % len(wire)
        return wire[:i] + bytes([wire[i] ^ value]) + wire[i + 1 :]
    if kind == "cut":
        return wire[: at % (len(wire) + 1)]
    return wire + bytes([value]) * at


@settings(max_examples=300)
@given(
    params=st.sampled_from([V2, V3, replace(V3, unicast_peers=(PEER,))]),
    as_master=st.booleans(),
    priority=st.integers(0, 255),
    mutations=st.lists(mutation, max_size=3),
    ttl=st.sampled_from([255, 254, 1]),
    src=st.sampled_from([PEER, ME, IPv4Address("203.0.113.5")]),
    noise=st.binary(max_size=64),
)
def test_mutated_and_random_packets_are_handled_or_counted(
    params, as_master, priority, mutations, ttl, src, noise
):
    instance = Instance(replace(params, priority=255) if as_master else params, ME)
    instance.start(0.0)
    wire = encode(advert_from(params, priority), src, GROUP)
    for how in mutations:
        wire = mutate(wire, how)
    instance.receive(Received(src, GROUP, ttl, wire), 0.01)
    instance.receive(Received(src, GROUP, ttl, noise), 0.02)
    assert fed(instance) == 2
    assert instance.state in (State.BACKUP, State.MASTER)


class Group:
    """Instances on a lossless zero-latency segment, driven by one fake clock."""

    def __init__(self, priorities: list[int], params: InstanceParams) -> None:
        self.members = [
            Instance(replace(params, priority=p), IPv4Address(f"198.51.100.{11 + i}"))
            for i, p in enumerate(priorities)
        ]
        self.alive = list(self.members)
        self.now = 0.0

    def deliver(self, sender: Instance, actions) -> None:
        for action in actions:
            if isinstance(action, SendAdvert):
                wire = encode(action.advert, sender.local_address, GROUP)
                for other in self.alive:
                    if other is not sender:
                        self.deliver(
                            other, other.receive(Received(sender.local_address, GROUP, 255, wire), self.now)
                        )

    def run_until(self, end: float) -> None:
        while True:
            due = [(m.deadline, i) for i, m in enumerate(self.alive) if m.deadline is not None]
            if not due or min(due)[0] > end:
                self.now = end
                return
            self.now, i = min(due)
            member = self.alive[i]
            self.deliver(member, member.timer(self.now))

    def start(self, member: Instance) -> None:
        self.deliver(member, member.start(self.now))

    def stop(self, member: Instance, clean: bool) -> None:
        if clean:
            self.deliver(member, member.stop(self.now))
        self.alive.remove(member)

    def masters(self) -> list[Instance]:
        return [m for m in self.alive if m.state is State.MASTER]


@settings(max_examples=150, deadline=None)
@given(
    priorities=st.lists(st.integers(1, 255), min_size=2, max_size=4),
    starts=st.lists(st.floats(0, 2), min_size=4, max_size=4),
    victim=st.integers(0, 3),
    clean=st.booleans(),
    preempt=st.booleans(),
)
def test_group_converges_to_exactly_one_master(priorities, starts, victim, clean, preempt):
    group = Group(priorities, replace(V3, preempt=preempt))
    for member, at in sorted(zip(group.members, starts, strict=False), key=lambda pair: pair[1]):
        group.run_until(at)
        group.start(member)
    group.run_until(6.0)
    assert len(group.masters()) == 1
    if preempt:  # equal priorities: the first to take over keeps it (backups accept an equal master)
        assert group.masters()[0].priority == max(m.priority for m in group.alive)
    group.stop(group.members[victim % len(group.members)], clean)
    group.run_until(12.0)
    assert len(group.masters()) == 1
