"""Advert options keepalived 2.2.7 and tandemd read from the same config, checked on the wire: the TTL of
unicast adverts (unicast_ttl) and the Master_Down_Interval a Backup waits (down_timer_adverts)."""

from __future__ import annotations

import pytest
from peer_pair import adverts
from scapy.layers.inet import IP
from tandemlab.polling import wait_for
from vrrp_lab import Group, holders, start

pytestmark = [pytest.mark.lab, pytest.mark.interop, pytest.mark.slow]

VIP = "198.51.100.100/24"


def test_unicast_ttl_on_both_daemons(make_lab, tmp_path):
    """unicast_ttl 10: keepalived's unicast adverts leave with TTL 10, and so do tandemd's once it is
    Master (they accept each other's: a unicast advert's TTL is not checked)."""
    lab = make_lab(2)
    h1, h2 = lab.hosts
    group = Group(unicast=True, options=("unicast_ttl 10",))
    capture = lab.capture("ip proto 112")
    keepalived = start("keepalived", h1, group.config(h1, [h2], 150), tmp_path)
    start("tandemd", h2, group.config(h2, [h1], 100), tmp_path)
    assert wait_for(lambda: holders(lab.hosts, VIP) == ["h1"], 10)
    keepalived.kill()  # no priority 0: tandemd takes over after Master_Down_Interval
    assert wait_for(lambda: holders(lab.hosts, VIP) == ["h2"], 10)
    seen = capture.stop()
    ttls: dict[str, set[int]] = {}
    for _ts, host, layer in adverts(seen):
        if layer.priority > 0:
            ttls.setdefault(host, set()).add(layer.underlayer[IP].ttl)
    assert ttls == {"h1": {10}, "h2": {10}}


@pytest.mark.parametrize("daemon", ["tandemd", "keepalived"])
def test_promote_secondaries_set_while_running(make_lab, tmp_path, daemon):
    """promote_secondaries: the interface's sysctl is 1 while the daemon runs, what it was once it stops
    (tandemd and, as the reference, keepalived 2.2.7 on the same config)."""
    (h1,) = make_lab(1).hosts
    sysctl = ["cat", "/proc/sys/net/ipv4/conf/eth0/promote_secondaries"]
    assert h1.run(sysctl).stdout.strip() == "0"
    process = start(daemon, h1, Group(options=("promote_secondaries",)).config(h1, [], 100), tmp_path)
    assert wait_for(lambda: h1.run(sysctl).stdout.strip() == "1", 10)
    assert wait_for(lambda: holders([h1], VIP) == ["h1"], 10)
    process.stop()
    assert wait_for(lambda: h1.run(sysctl).stdout.strip() == "0", 10)
