"""The VRRP fuzzer (``fuzz.py``) in short form, its corpus of once-failing inputs, and the bound on the
work one packet can cost."""

from __future__ import annotations

import random

import fuzz
import pytest
from tandem.vrrp import packet as codec
from tandem.vrrp.packet import Drop

SHORT = 30_000  # packets in the suite (the long form, --long, fuzzes 1,000,000)


@pytest.mark.parametrize("seed", [0, 1])
def test_random_and_mutated_packets_break_no_oracle(seed):
    stats = fuzz.run(SHORT // 2, seed)
    assert stats.packets + stats.unclaimed == SHORT // 2
    assert stats.packets == stats.accepted + sum(stats.drops.values())
    # the mutations reach every check, the ones behind the checksum included
    assert {Drop.CHECKSUM, Drop.TTL, Drop.AUTH, Drop.INTERVAL, Drop.ADDRESS_LIST, Drop.CARP} <= set(
        stats.drops
    )
    assert stats.accepted > 0 and stats.unclaimed > 0


@pytest.mark.parametrize("line", fuzz.corpus(), ids=lambda line: line.split("#")[-1].strip()[:40])
def test_corpus_of_once_failing_inputs(line):
    fuzz.replay(line)


def test_the_largest_advert_with_another_count_costs_no_address_parsing(monkeypatch):
    """255 addresses the receiver has never seen once cost ~0.2 ms each to parse: now ~5 µs in all."""
    parsed = []
    monkeypatch.setattr(codec, "cached_ip_address", lambda raw: parsed.append(raw))
    for target in ("v3", "v2", "v3-ipv6"):
        params, _, peer, group = fuzz.TARGETS[target]
        fuzzed = fuzz.Fuzzed(target, master=False, now=0.0)
        wire = fuzz._largest(random.Random(1), params, peer, group, fuzz._max_size(params.family))
        fuzz.feed(fuzzed, codec.Received(peer, group, 255, wire), 0.01, fuzz.Stats())
        assert fuzzed.instance.counters.drops == {Drop.ADDRESS_LIST: 1}
    assert parsed == []
