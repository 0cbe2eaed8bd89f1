"""vrrp_instance keys keepalived 2.2.7 and tandemd read from the same config, with keepalived as the
peer: what each one changes is seen on the wire or in who holds the VIP."""

from __future__ import annotations

import pytest
from tandemlab.polling import wait_for
from vrrp_lab import Group, holders, start

pytestmark = [pytest.mark.lab, pytest.mark.interop, pytest.mark.slow]

VIP = "198.51.100.100/24"
NOBODY = "198.51.100.250"  # a unicast peer no host has


@pytest.mark.parametrize("check", [False, True])
def test_check_unicast_src(make_lab, tmp_path, check):
    """keepalived (priority 150) sends unicast adverts to tandemd, whose unicast_peer names another
    address: tandemd hears it and stays Backup, as keepalived 2.2.7 would; with check_unicast_src the
    adverts are dropped (not a peer) and tandemd becomes Master too."""
    lab = make_lab(2)
    h1, h2 = lab.hosts
    group = Group(unicast=True, options=("check_unicast_src",) if check else ())
    start("keepalived", h1, group.config(h1, [h2], 150), tmp_path)
    assert wait_for(lambda: holders(lab.hosts, VIP) == ["h1"], 10)
    config = group.config(h2, [h1], 100).replace(f"    {h1.ipv4}\n", f"    {NOBODY}\n")
    tandemd = start("tandemd", h2, config, tmp_path)
    expected = ["h1", "h2"] if check else ["h1"]
    assert wait_for(lambda: holders(lab.hosts, VIP) == expected, 10)
    if not check:  # not only a slow start: it stays Backup for many Master_Down_Intervals
        assert not wait_for(lambda: holders(lab.hosts, VIP) != ["h1"], 2)
    tandemd.stop()
