"""Fuzzing the VRRP codec and state machine: random and mutated packets from real adverts (VRRPv2 with
PASS, VRRPv3 over IPv4 and IPv6, whole IPv4 datagrams, CARP), fed to real instances as Master and Backup.

Every packet goes through what the driver runs for it (``split_ipv4`` for IPv4 datagrams, then
``Instance.receive``) and must satisfy the oracles of :func:`feed`:

* no exception escapes (``Dropped`` from ``split_ipv4`` is the driver's "unclaimed" count);
* it is counted exactly once: accepted, or dropped under a :class:`~tandem.vrrp.packet.Drop` reason;
* Master_Down_Interval never falls below 3 × the smallest interval the wire can carry (1 cs);
* an instance answers lower-priority adverts with a GARP/NA burst at most once per
  ``LOWER_PRIO_ANSWER_INTERVAL``, and one packet makes it send at most one advert.

Mutations fix up the checksum half of the time, so they reach the checks behind it. The work per
packet is bounded by its size (at most the 4096-octet receive buffer) and the address count (≤ 255); the
long form reports the mean and the slowest packet of each kind in CPU time (of the fuzzing thread).

    python runtime/tests/vrrp/fuzz.py --long        # 1,000,000 packets
    python runtime/tests/vrrp/fuzz.py --count 50000 --seed 3

``corpus.txt`` holds inputs that once broke an oracle; the suite replays them.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, replace
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_interface
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[2] / "src"), str(Path(__file__).parent)]  # by hand

from tandem.config.model import VirtualAddress  # noqa: E402
from tandem.vrrp.instance import LOWER_PRIO_ANSWER_INTERVAL, Announce, Instance, SendAdvert, State  # noqa: E402
from tandem.vrrp.packet import (  # noqa: E402
    Advert,
    Drop,
    Dropped,
    Received,
    encode,
    internet_checksum,
    ipv4_header,
    pass_auth_data,
    pseudo_header,
    split_ipv4,
)
from tandem.vrrp.params import InstanceParams  # noqa: E402
from vrrp_helpers import carp  # noqa: E402

CORPUS = Path(__file__).with_name("corpus.txt")
ME4, PEER4, GROUP4 = IPv4Address("198.51.100.11"), IPv4Address("198.51.100.12"), IPv4Address("224.0.0.18")
ME6, PEER6, GROUP6 = IPv6Address("fe80::11"), IPv6Address("fe80::12"), IPv6Address("ff02::12")
SOURCES4 = (PEER4, ME4, IPv4Address("203.0.113.5"))
SOURCES6 = (PEER6, ME6, IPv6Address("fe80::99"))
MIN_MASTER_DOWN = 3 * 0.01  # 3 × the smallest non-zero interval (1 cs)


def _vips(*texts: str) -> tuple[VirtualAddress, ...]:
    return tuple(VirtualAddress(address=ip_interface(t)) for t in texts)


V3 = InstanceParams(
    name="v3", interface="eth0", vrid=51, advert_int=0.1, vips=_vips("198.51.100.100/24", "198.51.100.101/24")
)
TARGETS = {  # name: (params, local address, peer, group)
    "v3": (V3, ME4, PEER4, GROUP4),
    "v2": (replace(V3, name="v2", version=2, advert_int=1.0, auth_pass="secret"), ME4, PEER4, GROUP4),
    "v3-ipv6": (replace(V3, name="v3-ipv6", family=6, vips=_vips("2001:db8::100/64")), ME6, PEER6, GROUP6),
    "v3-unicast": (replace(V3, name="v3-unicast", unicast_peers=(PEER4,)), ME4, PEER4, PEER4),
}


def seed_advert(target: str, priority: int) -> bytes:
    """What a well-behaved peer of ``target`` sends."""
    params, _, peer, group = TARGETS[target]
    auth = (1, pass_auth_data(params.auth_pass)) if params.version == 2 else (0, b"")
    advert = Advert(params.version, params.vrid, priority, params.advert_cs, params.advertised, *auth)
    return encode(advert, peer, group)


@dataclass
class Stats:
    packets: int = 0
    accepted: int = 0
    unclaimed: int = 0
    seconds: float = 0.0

    def __post_init__(self) -> None:
        self.drops: Counter[Drop] = Counter()
        self.slowest: dict[str, float] = {}
        self.spent: Counter[str] = Counter()  # seconds by kind of packet
        self.kinds: Counter[str] = Counter()


class Fuzzed:
    """One instance of a target, and what the oracles remember about it."""

    def __init__(self, target: str, master: bool, now: float) -> None:
        params, local, _, _ = TARGETS[target]
        self.target = target
        self.instance = Instance(replace(params, priority=254) if master else params, local)
        self.instance.start(now)
        if master:  # take over at once
            self.instance.timer(self.instance.deadline)
        self.announced_at: float | None = None


class OracleError(AssertionError):
    pass


def feed(fuzzed: Fuzzed, packet: Received, now: float, stats: Stats) -> None:
    """One packet through the instance; raises OracleError when an oracle breaks."""
    instance = fuzzed.instance
    counters = instance.counters
    accepted = counters.adverts_received
    before = accepted + sum(counters.drops.values())
    deadline = instance.deadline
    if deadline is not None and deadline <= now:
        instance.timer(now)
    actions = instance.receive(packet, now)
    after = counters.adverts_received + sum(counters.drops.values())
    if after != before + 1:
        raise OracleError(f"counted {after - before} times")
    if counters.adverts_received > accepted:
        stats.accepted += 1
    else:
        stats.drops[counters.last_drop] += 1
    if instance.state is State.BACKUP and instance.master_down_interval < MIN_MASTER_DOWN:
        raise OracleError(f"Master_Down_Interval {instance.master_down_interval}")
    if sum(isinstance(a, SendAdvert) for a in actions) > 1:
        raise OracleError("one packet, several adverts")
    if any(isinstance(a, Announce) for a in actions):
        if fuzzed.announced_at is not None and now - fuzzed.announced_at < LOWER_PRIO_ANSWER_INTERVAL:
            raise OracleError(f"GARP/NA again after {now - fuzzed.announced_at:.3f} s")
        fuzzed.announced_at = now


def mutate(rng: random.Random, wire: bytes) -> bytes:
    data = bytearray(wire)
    for _ in range(rng.randint(1, 4)):
        how = rng.randrange(8)
        at = rng.randrange(len(data) + 1)
        if how == 0 and data:
            data[at % len(data)] ^= 1 << rng.randrange(8)
        elif how == 1 and data:
            data[at % len(data)] = rng.choice((0, 1, 0x7F, 0x80, 0xFF, rng.randrange(256)))
        elif how == 2:
            del data[at : at + rng.randint(1, 8)]
        elif how == 3:
            data[at:at] = rng.randbytes(rng.randint(1, 16))
        elif how == 4 and len(data) > 3:
            data[3] = rng.choice((0, 1, 2, 3, 255, rng.randrange(256)))  # the address count
        elif how == 5 and len(data) > 5:
            data[4:6] = rng.choice((b"\0\0", b"\x0f\xff", b"\0\x01", rng.randbytes(2)))  # interval / auth
        elif how == 6 and len(data) > 2:
            data[2] = rng.choice((0, 1, 100, 254, 255))  # the priority
        elif how == 7:
            data = data[: rng.randrange(len(data) + 1)]
    return bytes(data)


def fix_checksum(data: bytes, src, dst) -> bytes:
    if len(data) < 8:
        return data
    data = data[:6] + b"\0\0" + data[8:]
    covered = data if data[0] >> 4 == 2 else pseudo_header(src, dst, len(data)) + data
    return data[:6] + internet_checksum(covered).to_bytes(2, "big") + data[8:]


def packets(rng: random.Random, target: str):
    """Endless (kind, Received or IPv4 datagram) for ``target``, random and mutated."""
    params, local, peer, group = TARGETS[target]
    sources = SOURCES6 if params.family == 6 else SOURCES4
    seeds = [*(seed_advert(target, p) for p in (1, 50, 100, 200, 254, 255, 0)), carp(params.vrid)]
    max_size = _max_size(params.family)
    while True:
        choice = rng.random()
        src = peer if rng.random() < 0.7 else rng.choice(sources)
        dst = group if rng.random() < 0.9 else local
        ttl = 255 if rng.random() < 0.85 else rng.choice((0, 1, 64, 254))
        if choice < 0.1:
            yield "random", Received(src, dst, ttl, rng.randbytes(rng.randint(0, 80)))
        elif choice < 0.12:
            yield "max-size", Received(src, dst, ttl, _largest(rng, params, src, dst, max_size))
        elif choice < 0.2 and params.family == 4:
            payload = mutate(rng, rng.choice(seeds)) if rng.random() < 0.5 else rng.choice(seeds)
            datagram = mutate(rng, ipv4_header(src, dst, len(payload), ttl)) + payload
            yield "ipv4-datagram", datagram
        else:
            wire = mutate(rng, rng.choice(seeds))
            if rng.random() < 0.5:
                wire = fix_checksum(wire, src, dst)
            yield "mutated", Received(src, dst, ttl, wire)


def _max_size(family: int) -> int:
    return 8 + 255 * (16 if family == 6 else 4) + 8


def _largest(rng: random.Random, params: InstanceParams, src, dst, max_size: int) -> bytes:
    """Adversarial for CPU: 255 addresses, a valid checksum, a differing address list."""
    size = 16 if params.family == 6 else 4
    addresses = tuple(ip_address(rng.randbytes(size)) for _ in range(255))
    auth = (1, pass_auth_data("secret")) if params.version == 2 else (0, b"")
    advert = Advert(params.version, params.vrid, 200, params.advert_cs, addresses, *auth)
    return encode(advert, src, dst)[:max_size]


def run(count: int, seed: int = 0, rotate: int = 500) -> Stats:
    """Fuzz ``count`` packets; raises OracleError (with a corpus line) on the first broken oracle."""
    rng = random.Random(seed)
    stats = Stats()
    now = 0.0
    generators = {target: packets(random.Random(seed * 1000 + i), target) for i, target in enumerate(TARGETS)}
    fuzzed: list[Fuzzed] = []
    clock = time.thread_time  # CPU per packet: wall time on a shared machine counts other processes' turns
    started = time.perf_counter()
    for n in range(count):
        if n % rotate == 0:  # fresh instances now and then: both roles, every target
            fuzzed = [Fuzzed(t, master, now) for t in TARGETS for master in (False, True)]
        now += 0.001
        target = fuzzed[rng.randrange(len(fuzzed))]
        kind, item = next(generators[target.target])
        t0 = clock()
        try:
            if isinstance(item, bytes):
                try:
                    item = split_ipv4(item)
                except Dropped as dropped:
                    assert isinstance(dropped.reason, Drop)
                    stats.unclaimed += 1
                    continue
            feed(target, item, now, stats)
        except Exception as error:
            raise OracleError(f"{error!r}\ncorpus line: {corpus_line(target, item)}") from error
        finally:
            spent = clock() - t0
            stats.spent[kind] += spent
            stats.kinds[kind] += 1
            if spent > stats.slowest.get(kind, 0.0):
                stats.slowest[kind] = spent
        stats.packets += 1
    stats.seconds = time.perf_counter() - started
    return stats


def corpus_line(fuzzed: Fuzzed, item) -> str:
    role = "master" if fuzzed.instance.params.priority == 254 else "backup"
    if isinstance(item, bytes):
        return f"{fuzzed.target} {role} datagram {item.hex()}"
    return f"{fuzzed.target} {role} {item.src} {item.dst} {item.ttl} {item.payload.hex()}"


def replay(line: str, repeat: int = 50) -> None:
    """Feed a corpus line ``repeat`` times, 1 ms apart, to a fresh instance; raises OracleError."""
    fields = line.split("#", 1)[0].split()
    target, role = fields[0], fields[1]
    fuzzed = Fuzzed(target, role == "master", 0.0)
    stats = Stats()
    for i in range(repeat):
        if fields[2] == "datagram":
            try:
                packet = split_ipv4(bytes.fromhex(fields[3]))
            except Dropped:
                continue
        else:
            src, dst, ttl, payload = fields[2:6]
            packet = Received(ip_address(src), ip_address(dst), int(ttl), bytes.fromhex(payload))
        feed(fuzzed, packet, 0.001 * (i + 1), stats)


def corpus() -> list[str]:
    return [line for line in CORPUS.read_text().splitlines() if line.strip() and not line.startswith("#")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--long", action="store_true", help="1,000,000 packets")
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for line in corpus():
        replay(line)
    stats = run(1_000_000 if args.long else args.count, args.seed)
    drops = ", ".join(f"{d.value}={c}" for d, c in stats.drops.most_common())
    slowest = ", ".join(
        f"{k} {stats.spent[k] / stats.kinds[k] * 1e6:.1f} / {v * 1e6:.0f} µs"
        for k, v in sorted(stats.slowest.items())
    )
    print(
        f"{stats.packets + stats.unclaimed} packets in {stats.seconds:.1f} s "
        f"({(stats.packets + stats.unclaimed) / stats.seconds:.0f}/s, "
        f"{stats.seconds / (stats.packets + stats.unclaimed) * 1e6:.1f} µs each): "
        f"{stats.accepted} accepted, {stats.unclaimed} bad IPv4 headers, dropped: {drops}"
    )
    print(f"mean / slowest packet by kind (CPU): {slowest}; corpus: {len(corpus())} inputs replayed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
