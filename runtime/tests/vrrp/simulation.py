"""Deterministic simulation: VRRP groups of the real :class:`tandem.vrrp.instance.Instance` on a virtual
clock, through random fault sequences, with the election's invariants checked at every step.

A :class:`Scenario` (made from a seed by :func:`scenario`) is a group of up to 64 routers (priorities,
preempt, preempt_delay; VRRPv2 or v3; one interval) and a fault sequence: loss, delay (reordering),
partitions, crashes (no priority-0 advert; the addresses stay in the kernel until the restart), clean
stops, restarts, priority changes (tracking), faults and recoveries (tracking failures), and reloads
that flip preempt. Adverts go through the real codec (``encode`` / ``Received``) to every router on the
sender's side of the partition, each with its own loss draw and delay; every action is carried out in
the order the instance returned it.

Invariants, where *reachable* routers are running and in BACKUP or MASTER, and the network is *stable*
from ``end_of_faults`` on (healed, lossless, delays at most ``final_delay``):

* VIPs: at the end of every step a running router holds its addresses exactly when it is MASTER, and a
  Master never sends an advert (its priority-0 one included) without holding them;
* once stable for ``settle`` = Master_Down_Interval + the longest preempt_delay + one advert interval +
  twice the delay (the time for every preempting backup to fire and be heard), exactly one master while
  any router is reachable;
* and, when a highest-priority reachable router preempts, the master has that priority.

A run is a pure function of its scenario (the network's loss and delay draws come from the seed): a
failing seed reproduces exactly, and :func:`shrink` cuts its scenario down to a short trace.

    python runtime/tests/vrrp/simulation.py --long          # 10,000 sequences
    python runtime/tests/vrrp/simulation.py --seed 1234     # one sequence: its trace, shrunk if it fails
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import random
import sys
import time
from dataclasses import dataclass, field, replace
from functools import cached_property
from ipaddress import IPv4Address, IPv4Interface
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))  # run by hand from a checkout

from tandem.config.model import VirtualAddress
from tandem.vrrp.instance import AddVips, Instance, RemoveVips, SendAdvert, State, Transition
from tandem.vrrp.packet import Received, encode
from tandem.vrrp.params import InstanceParams

GROUP = IPv4Address("224.0.0.18")
VIPS = (VirtualAddress(address=IPv4Interface("198.51.100.250/24")),)
MAX_ROUTERS = 64
SIZES = (2, 2, 3, 3, 4, 5, 8, 16, 32, 64)  # routers per group, drawn uniformly from these
KINDS = (
    "loss",
    "delay",
    "partition",
    "heal",
    "crash",
    "stop",
    "start",
    "priority",
    "fault",
    "recover",
    "preempt",
)


@dataclass(frozen=True)
class Router:
    priority: int
    preempt: bool = True
    preempt_delay: float = 0.0


@dataclass(frozen=True)
class Fault:
    """One event of a fault sequence; ``value`` is a loss rate, a delay, a priority or a flag."""

    at: float
    kind: str
    router: int = 0
    value: float = 0.0
    sides: tuple[int, ...] = ()  # partition: the side of each router

    def __str__(self) -> str:
        what = {
            "loss": f"loss {self.value:.0%}",
            "delay": f"delay up to {self.value * 1000:.1f} ms",
            "partition": f"partition {self.sides}",
            "heal": "heal",
            "priority": f"r{self.router} priority {int(self.value)}",
            "preempt": f"r{self.router} reload with preempt {'on' if self.value else 'off'}",
        }.get(self.kind, f"r{self.router} {self.kind}")
        return f"{self.at:9.4f}  {what}"


@dataclass(frozen=True)
class Scenario:
    seed: int
    version: int
    advert_int: float
    routers: tuple[Router, ...]
    starts: tuple[float, ...]  # when each router first starts
    faults: tuple[Fault, ...]
    end_of_faults: float
    final_delay: float

    def params(self, index: int) -> InstanceParams:
        router = self.routers[index]
        return InstanceParams(
            name=f"r{index}",
            interface="eth0",
            vrid=51,
            version=self.version,
            advert_int=self.advert_int,
            priority=router.priority,
            preempt=router.preempt,
            preempt_delay=router.preempt_delay,
            vips=VIPS,
            garp_delay=0.0,
        )

    @cached_property
    def master_down_max(self) -> float:
        """The longest Master_Down_Interval in the group (the lowest priority's)."""
        return max(
            Instance(self.params(i), address(i)).master_down_interval for i in range(len(self.routers))
        )

    @property
    def settle(self) -> float:
        delay = max(self.routers, key=lambda r: r.preempt_delay).preempt_delay
        return self.master_down_max + delay + self.advert_int + 2 * self.final_delay

    @property
    def end(self) -> float:
        return self.end_of_faults + self.settle + 3 * self.master_down_max


def address(index: int) -> IPv4Address:
    return IPv4Address(f"198.51.100.{11 + index}")


def scenario(seed: int) -> Scenario:
    """A random group and fault sequence; the same seed always gives the same scenario."""
    rng = random.Random(seed)
    version = rng.choice((2, 3, 3))
    advert_int = 1.0 if version == 2 else rng.choice((0.05, 0.1, 0.5, 1.0))
    n = rng.choice(SIZES)
    few = rng.sample(range(1, 255), 3)  # often shared priorities: ties decided by address
    priorities = [rng.choice(few) if rng.random() < 0.4 else rng.randint(1, 254) for _ in range(n)]
    if rng.random() < 0.1:
        priorities[rng.randrange(n)] = 255  # an address owner
    routers = tuple(
        Router(
            p, rng.random() < 0.8, rng.choice((0.5, 1.0, 2.0)) * advert_int if rng.random() < 0.15 else 0.0
        )
        for p in priorities
    )
    mdi = 3 * advert_int + 1.0
    span = rng.uniform(2, 12) * mdi
    starts = tuple(rng.uniform(0, 2 * advert_int) for _ in range(n))
    faults = sorted(
        (_fault(rng, rng.uniform(0, span), n, advert_int) for _ in range(rng.randint(0, 14))), key=_when
    )
    final_delay = rng.choice((0.0, 0.001, 0.01)) * advert_int
    return Scenario(seed, version, advert_int, routers, starts, tuple(faults), span, final_delay)


def _when(fault: Fault) -> float:
    return fault.at


def _fault(rng: random.Random, at: float, n: int, advert_int: float) -> Fault:
    kind = rng.choice(KINDS)
    router = rng.randrange(n)
    if kind == "loss":
        return Fault(at, kind, value=rng.choice((0.1, 0.3, 0.5, 1.0)))
    if kind == "delay":
        return Fault(at, kind, value=rng.choice((0.001, 0.01, 0.3, 1.0)) * advert_int)
    if kind == "partition":
        return Fault(at, kind, sides=tuple(rng.randrange(rng.choice((2, 3))) for _ in range(n)))
    if kind == "priority":
        return Fault(at, kind, router, rng.randint(1, 254))
    if kind == "preempt":
        return Fault(at, kind, router, float(rng.random() < 0.5))
    return Fault(at, kind, router)


class Violation(AssertionError):
    """An invariant broke; ``at`` is the virtual time."""

    def __init__(self, at: float, message: str) -> None:
        super().__init__(f"t={at:.4f}: {message}")
        self.at = at


@dataclass(eq=False)
class Node:
    index: int
    params: InstanceParams
    instance: Instance | None = None  # None: the process is not running
    vips: bool = False  # the addresses are in the kernel (a crash leaves them there)
    priority: int | None = None  # set by tracking; outlives restarts
    wake: float | None = None  # the time of its live timer entry in the queue


@dataclass
class Outcome:
    events: int
    adverts: int
    transitions: int
    trace: list[str] = field(default_factory=list)


class Simulation:
    def __init__(self, scenario: Scenario, keep_trace: bool = False) -> None:
        self.s = scenario
        self.rng = random.Random(scenario.seed ^ 0x5EED)
        self.nodes = [Node(i, scenario.params(i)) for i in range(len(scenario.routers))]
        self.now = 0.0
        self.queue: list[tuple] = []
        self.order = itertools.count()
        self.sides = (0,) * len(self.nodes)
        self.loss, self.delay = 0.0, scenario.final_delay
        self.stable = False
        self.outcome = Outcome(0, 0, 0)
        self.keep_trace = keep_trace
        for i, at in enumerate(scenario.starts):
            self._push(at, "fault", Fault(at, "start", i))
        for fault in scenario.faults:
            self._push(fault.at, "fault", fault)
        self._push(scenario.end_of_faults, "stable", None)

    def run(self) -> Outcome:
        end = self.s.end
        while self.queue and self.queue[0][0] <= end:
            self.now, _, kind, what = heapq.heappop(self.queue)
            self.outcome.events += 1
            if kind == "packet":
                node, instance, packet = what
                if node.instance is instance and instance is not None:
                    self._act(node, instance.receive(packet, self.now))
            elif kind == "timer":
                node, instance = what
                if node.instance is not instance or node.wake != self.now:
                    continue  # superseded by an earlier entry, or its process is gone
                node.wake = None
                if (deadline := instance.deadline) is None:
                    continue
                if deadline <= self.now:
                    self._act(node, instance.timer(self.now))
                else:  # the deadline moved on (a backup heard its master)
                    self._wake(node, deadline)
            elif kind == "fault":
                self._fault(what)
            else:
                self._stabilise()
            if self.stable and self.now >= self.stable_at:
                self._check_election()
        return self.outcome

    # --- the network ------------------------------------------------------------------------------

    def _push(self, at: float, kind: str, what) -> None:
        heapq.heappush(self.queue, (at, next(self.order), kind, what))

    def _send(self, sender: int, advert) -> None:
        self.outcome.adverts += 1
        src = address(sender)
        packet = Received(src, GROUP, 255, encode(advert, src, GROUP))
        side = self.sides[sender]
        rng = self.rng
        for i, node in enumerate(self.nodes):
            if i == sender or node.instance is None or self.sides[i] != side:
                continue
            if self.loss and rng.random() < self.loss:
                continue
            delay = rng.uniform(0, self.delay) if self.delay else 0.0
            self._push(self.now + delay, "packet", (node, node.instance, packet))

    # --- one router's actions --------------------------------------------------------------------

    def _wake(self, node: Node, at: float) -> None:
        node.wake = at
        self._push(at, "timer", (node, node.instance))

    def _act(self, node: Node, actions: list) -> None:
        instance, index = node.instance, node.index
        transition = next((a for a in actions if isinstance(a, Transition)), None)
        was_master = transition.old is State.MASTER if transition else instance.state is State.MASTER
        for action in actions:
            if isinstance(action, SendAdvert):
                if was_master and not node.vips:
                    raise Violation(
                        self.now, f"r{index} advertised priority {action.advert.priority} without its VIPs"
                    )
                self._send(index, action.advert)
            elif isinstance(action, AddVips):
                node.vips = True
            elif isinstance(action, RemoveVips):
                node.vips = False
            elif isinstance(action, Transition):
                self.outcome.transitions += 1
                if self.keep_trace:
                    self._trace(f"r{index} {action.old.value} -> {action.new.value} ({action.reason})")
        if node.vips != (instance.state is State.MASTER):
            state = instance.state.value
            raise Violation(
                self.now, f"{node.params.name} is {state} {'with' if node.vips else 'without'} its VIPs"
            )
        if (deadline := instance.deadline) is not None and (node.wake is None or deadline < node.wake):
            self._wake(node, deadline)

    def _trace(self, line: str) -> None:
        self.outcome.trace.append(f"{self.now:9.4f}  {line}")

    # --- faults -----------------------------------------------------------------------------------

    def _fault(self, fault: Fault) -> None:
        if self.keep_trace:
            self._trace(str(fault).split(None, 1)[1])
        kind = fault.kind
        if kind == "loss":
            self.loss = fault.value
            return
        if kind == "delay":
            self.delay = fault.value
            return
        if kind in ("partition", "heal"):
            self.sides = fault.sides or (0,) * len(self.nodes)
            return
        node = self.nodes[fault.router]
        instance, now = node.instance, self.now
        if kind == "start":
            if instance is None:
                node.instance, node.wake = Instance(node.params, address(fault.router)), None
                if node.priority is not None:
                    node.instance.set_priority(node.priority, now)
                self._act(node, node.instance.start(now))
            return
        if instance is None:
            return
        if kind == "crash":
            node.instance = None  # no priority-0 advert; the kernel keeps the addresses
        elif kind == "stop":
            self._act(node, instance.stop(now))
            node.instance = None
        elif kind == "priority":
            node.priority = int(fault.value)
            self._act(node, instance.set_priority(node.priority, now))
        elif kind == "fault":
            self._act(node, instance.fault(now))
        elif kind == "recover":
            self._act(node, instance.recover(now))
        elif kind == "preempt":
            node.params = replace(node.params, preempt=bool(fault.value))
            self._act(node, instance.update(node.params, now))

    # --- the election's invariants once stable -------------------------------------------------

    def _stabilise(self) -> None:
        self.sides, self.loss, self.delay = (0,) * len(self.nodes), 0.0, self.s.final_delay
        self.stable, self.stable_at = True, self.now + self.s.settle
        self._reachable = None

    def _check_election(self) -> None:
        if self._reachable is None:  # nothing changes membership or priorities once stable
            self._reachable = [
                (i, n)
                for i, n in enumerate(self.nodes)
                if n.instance and n.instance.state in (State.BACKUP, State.MASTER)
            ]
            self._top = max((n.instance.priority for _, n in self._reachable), default=None)
            self._preempting_top = any(
                n.instance.priority == self._top and (n.params.preempt or self._top == 255)
                for _, n in self._reachable
            )
        masters = [i for i, n in enumerate(self.nodes) if n.instance and n.instance.state is State.MASTER]
        if len(masters) != (1 if self._reachable else 0):
            raise Violation(self.now, f"{len(masters)} masters {masters} once stable")
        if masters and self._preempting_top and self.nodes[masters[0]].instance.priority != self._top:
            priority = self.nodes[masters[0]].instance.priority
            raise Violation(
                self.now, f"master r{masters[0]} has priority {priority}, the highest reachable {self._top}"
            )


def run(s: Scenario, keep_trace: bool = False) -> tuple[Outcome, Violation | None]:
    simulation = Simulation(s, keep_trace)
    try:
        return simulation.run(), None
    except Violation as violation:
        return simulation.outcome, violation


def fails(s: Scenario) -> bool:
    return run(s)[1] is not None


def shrink(s: Scenario, budget: int = 400) -> Scenario:
    """A smaller scenario that still fails: fewer faults (chunks, then one by one), then fewer routers."""
    tries = itertools.count()

    def still_fails(candidate: Scenario) -> bool:
        return next(tries) < budget and fails(candidate)

    chunk = max(1, len(s.faults) // 2)
    while chunk >= 1:
        i = 0
        while i < len(s.faults):
            candidate = replace(s, faults=s.faults[:i] + s.faults[i + chunk :])
            if still_fails(candidate):
                s = candidate
            else:
                i += chunk
        chunk //= 2
    index = len(s.routers) - 1
    while index >= 0 and len(s.routers) > 2:
        candidate = _without_router(s, index)
        if still_fails(candidate):
            s = candidate
        index -= 1
    return s


def _without_router(s: Scenario, gone: int) -> Scenario:
    def renumber(fault: Fault) -> Fault:
        sides = fault.sides[:gone] + fault.sides[gone + 1 :] if fault.sides else ()
        return replace(fault, router=fault.router - (fault.router > gone), sides=sides)

    faults = tuple(
        renumber(f) for f in s.faults if f.kind in ("loss", "delay", "partition", "heal") or f.router != gone
    )
    return replace(
        s,
        routers=s.routers[:gone] + s.routers[gone + 1 :],
        starts=s.starts[:gone] + s.starts[gone + 1 :],
        faults=faults,
    )


def describe(s: Scenario) -> str:
    def router(i: int, r: Router) -> str:
        delay = f" delay {r.preempt_delay:g}" if r.preempt_delay else ""
        return f"r{i}={r.priority}{'' if r.preempt else ' nopreempt'}{delay}"

    routers = ", ".join(router(i, r) for i, r in enumerate(s.routers))
    return (
        f"seed {s.seed}: VRRPv{s.version}, advert {s.advert_int:g} s, {len(s.routers)} routers ({routers}); "
        f"faults until {s.end_of_faults:.3f}, then delay <= {s.final_delay * 1000:.1f} ms, "
        f"settle {s.settle:.3f} s"
    )


def explore(seeds, on_failure=None) -> dict:
    """Run every seed; the first failure is shrunk and handed to ``on_failure`` (or the result)."""
    totals = {"sequences": 0, "events": 0, "adverts": 0, "transitions": 0, "virtual_s": 0.0, "failure": None}
    started = time.process_time()
    for seed in seeds:
        s = scenario(seed)
        outcome, violation = run(s)
        totals["sequences"] += 1
        totals["events"] += outcome.events
        totals["adverts"] += outcome.adverts
        totals["transitions"] += outcome.transitions
        totals["virtual_s"] += s.end
        if violation is not None:
            small = shrink(s)
            totals["failure"] = (seed, violation, small, run(small, keep_trace=True))
            if on_failure is not None:
                on_failure(totals["failure"])
            break
    totals["cpu_s"] = time.process_time() - started
    return totals


def _report_failure(failure) -> None:
    seed, violation, small, (outcome, small_violation) = failure
    print(f"FAIL seed {seed}: {violation}")
    print(f"shrunk to {len(small.faults)} faults, {len(small.routers)} routers: {small_violation}")
    print(describe(small))
    print("\n".join(outcome.trace))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--long", action="store_true", help="10,000 sequences")
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--first", type=int, default=0, help="first seed")
    parser.add_argument("--seed", type=int, help="run (and trace) one seed")
    args = parser.parse_args(argv)
    if args.seed is not None:
        s = scenario(args.seed)
        print(describe(s))
        print("\n".join(str(f) for f in s.faults))
        outcome, violation = run(s, keep_trace=True)
        print("\n".join(outcome.trace[-40:]))
        if violation is None:
            print(
                f"ok: {outcome.events} events, {outcome.adverts} adverts, {outcome.transitions} transitions"
            )
            return 0
        _report_failure((args.seed, violation, shrink(s), run(shrink(s), keep_trace=True)))
        return 1
    count = 10_000 if args.long else args.count
    totals = explore(range(args.first, args.first + count), _report_failure)
    print(
        f"{totals['sequences']} sequences, {totals['virtual_s']:.0f} virtual s, {totals['events']} events, "
        f"{totals['adverts']} adverts, {totals['transitions']} transitions in {totals['cpu_s']:.1f} s CPU "
        f"({totals['sequences'] / totals['cpu_s']:.0f} sequences/s)"
    )
    return 1 if totals["failure"] else 0


if __name__ == "__main__":
    sys.exit(main())
