"""``tandem_lb_plane auto`` on this machine: IPVS where the kernel has it, else nftables, saying why in
one line (the VM lane proves the IPVS side: lb_service_verdicts sees "load balancing on the ipvs
plane"). Nothing is applied, and the nftables plane is not closed (its close deletes its table, in
this machine's own namespace): opening a plane does not touch the kernel's tables."""

from __future__ import annotations

import logging
import os

import pytest
from tandem.lb.ipvs import GenericNetlink
from tandem.lb.plane import PlaneError
from tandem.lb.planes import choose_plane

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="opening a plane needs root (netlink, nftables)")


def _kernel_has_ipvs() -> bool:
    netlink = GenericNetlink()
    try:
        return netlink.family("IPVS") is not None
    finally:
        netlink.close()


def test_auto_says_in_one_line_why_it_is_not_ipvs(caplog):
    caplog.set_level(logging.INFO, logger="tandem.lb")
    plane = choose_plane("auto")
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    if plane.name == "ipvs":
        plane.close()
        assert _kernel_has_ipvs() and not lines
        return
    assert plane.name == "nftables"
    assert len(lines) == 1, lines
    assert lines[0].startswith("load balancing on nftables: the kernel has no IP_VS (modprobe ip_vs: ")
    assert "\n" not in lines[0]


def test_ipvs_asked_for_where_there_is_none_is_one_clear_error():
    try:
        plane = choose_plane("ipvs")
    except PlaneError as error:
        assert str(error).startswith("the kernel has no IP_VS") and "\n" not in str(error)
    else:
        plane.close()
        assert _kernel_has_ipvs()


def test_an_unknown_plane_is_refused():
    with pytest.raises(PlaneError, match="unknown data plane 'lvs'"):
        choose_plane("lvs")
