"""GARP/NA keys on the wire (a capture at the lab switch): vrrp_garp_interval / vrrp_gna_interval pace a
burst, vrrp_min_garp sends one per address with no second burst, garp_extra_if refreshes a vmac's VIPs."""

from __future__ import annotations

import time

import pytest
from scapy.layers.inet6 import ICMPv6ND_NA
from scapy.layers.l2 import ARP
from tandemlab.polling import wait_for
from vrrp_lab import Group, start

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def announcements(make_lab, tmp_path, global_options: tuple[str, ...], vips, seconds=2.5, options=()):
    """Capture times (relative to the first) of the GARPs/NAs of a lone tandemd becoming Master."""
    lab = make_lab(1)
    (host,) = lab.hosts
    group = Group(vips=vips, global_options=global_options, options=options)
    capture = lab.capture("arp or icmp6")
    process = start("tandemd", host, group.config(host, [], 100), tmp_path)
    address = vips[0].split("/")[0]
    assert wait_for(lambda: host.has_address(address), 20)  # the supervisor, then its VRRP child, start
    time.sleep(seconds)
    packets = capture.stop()
    process.terminate()
    process.wait(10)
    times = [
        ts
        for ts, p in packets
        if (ARP in p and p[ARP].psrc == address) or (ICMPv6ND_NA in p and p[ICMPv6ND_NA].tgt == address)
    ]
    return [round(t - times[0], 2) for t in times]


def test_garp_interval_paces_a_burst(make_lab, tmp_path):
    options = ("vrrp_garp_master_repeat 3", "vrrp_garp_interval 0.2", "vrrp_garp_master_delay 0")
    gaps = announcements(make_lab, tmp_path, options, ("198.51.100.100/24",))
    assert gaps == pytest.approx([0.0, 0.2, 0.4], abs=0.09)


def test_gna_interval_paces_unsolicited_na(make_lab, tmp_path):
    options = ("vrrp_garp_master_repeat 2", "vrrp_gna_interval 0.3", "vrrp_garp_master_delay 0")
    gaps = announcements(make_lab, tmp_path, options, ("2001:db8::100/64",))
    assert gaps == pytest.approx([0.0, 0.3], abs=0.1)


def test_min_garp_sends_one_and_no_second_burst(make_lab, tmp_path):
    # without vrrp_min_garp the config's vrrp_garp_master_delay 1 would send 5 more after a second
    gaps = announcements(make_lab, tmp_path, ("vrrp_min_garp",), ("198.51.100.100/24",))
    assert gaps == [0.0]


@pytest.mark.parametrize("vmac", [True, False], ids=["vmac", "no-vmac"])
def test_garp_extra_if_refreshes_vips_on_the_vmac(make_lab, tmp_path, vmac):
    """Every garp_extra_if seconds one GARP per VIP on the vmac (adverts refresh the base interface's
    MAC, nothing the vmac's); without a vmac (and without 'all') there is nothing to refresh."""
    # vrrp_garp_extra_if in whole seconds
    global_options = ("vrrp_garp_master_repeat 1", "vrrp_garp_master_delay 0", "vrrp_garp_extra_if 1")
    vmac_options = ("use_vmac",) if vmac else ()
    gaps = announcements(make_lab, tmp_path, global_options, ("198.51.100.100/24",), 2.6, vmac_options)
    assert gaps == (pytest.approx([0.0, 1.0, 2.0], abs=0.15) if vmac else [0.0])
