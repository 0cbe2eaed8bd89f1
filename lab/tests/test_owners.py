"""The owner sampler: netlink reads in each host's namespace, set-aside hosts, and the timeline's spans."""

from __future__ import annotations

import time

import pytest
from tandemlab.owners import OwnerSampler, Timeline

pytestmark = pytest.mark.lab

VIP = "203.0.113.7"


def test_sampler_sees_addresses_come_and_go_in_each_namespace(lab2):
    h1, h2 = lab2.hosts
    with OwnerSampler(lab2.hosts, VIP, interval=0.002) as sampler:
        assert sampler.owners() == frozenset()
        h1.ip("addr", "add", f"{VIP}/32", "dev", h1.ifname)
        assert sampler.wait(lambda owners: owners == {"h1"}, 2) is not None
        h2.ip("addr", "add", f"{VIP}/32", "dev", h2.ifname)
        both = sampler.wait(lambda owners: owners == {"h1", "h2"}, 2)
        time.sleep(0.05)
        sampler.set_aside(h2, "daemon killed")
        assert sampler.wait(lambda owners: owners == {"h1"}, 2) is not None
        h1.ip("addr", "del", f"{VIP}/32", "dev", h1.ifname)
        assert sampler.wait(lambda owners: not owners, 2) is not None
        sampler.restore(h2)
        assert sampler.wait(lambda owners: owners == {"h2"}, 2) is not None
    timeline = sampler.stop()
    assert both is not None and 0.04 < timeline.dual_max() < 1.0
    assert [(old, new) for _, old, new in timeline.sole_changes()] == [("h1", "h2")]
    assert timeline.unowned_max(since=both) > 0 and timeline.resolution() < 0.5
    assert [label for _, label in timeline.marks] == ["h2 daemon killed", "h2 restored"]


def test_timeline_spans_clip_and_ignore_transient_states():
    a, b, ab, none = frozenset("a"), frozenset("b"), frozenset("ab"), frozenset()
    samples = [(0.0, a), (1.0, a), (2.0, ab), (2.5, b), (4.0, none), (4.2, a), (5.0, a)]
    timeline = Timeline("x", samples)
    assert timeline.spans() == [(0.0, 2.0, a), (2.0, 2.5, ab), (2.5, 4.0, b), (4.0, 4.2, none), (4.2, 5.0, a)]
    assert timeline.dual_max() == 0.5 and timeline.unowned_max() == pytest.approx(0.2)
    assert timeline.sole_changes() == [(2.5, "a", "b"), (4.2, "b", "a")]
    assert timeline.sole_changes(since=3.0) == [(4.2, "b", "a")]
    assert timeline.dual_max(since=2.2) == pytest.approx(0.3)
    assert timeline.owners_at(2.1) == ab and timeline.first_time(lambda o: not o, 0) == 4.0


def test_an_address_without_carrier_does_not_count(lab2):
    """FRR's Backup keeps its VIP on a macvlan in protodown: present, not serving."""
    h1 = lab2.hosts[0]
    h1.ip("link", "add", "mv0", "link", h1.ifname, "type", "macvlan", "mode", "bridge")
    h1.ip("addr", "add", f"{VIP}/32", "dev", "mv0")
    with OwnerSampler(lab2.hosts, VIP, interval=0.002) as sampler:
        time.sleep(0.05)
        assert sampler.owners() == frozenset() and not h1.serves(VIP)  # mv0 is down
        h1.ip("link", "set", "mv0", "up")
        assert sampler.wait(lambda owners: owners == {"h1"}, 2) is not None and h1.serves(VIP)
        h1.ip("link", "set", "mv0", "protodown", "on")
        assert sampler.wait(lambda owners: not owners, 2) is not None
        assert h1.has_address(VIP) and not h1.serves(VIP)
