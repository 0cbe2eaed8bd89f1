"""``tandem_lb_plane auto`` on this machine: IPVS where the kernel has it, else nftables, saying why in
one line (the VM lane proves the IPVS side: lb_service_verdicts sees "load balancing on the ipvs
plane"). Nothing is applied, and the nftables plane is not closed (its close deletes its table, in
this machine's own namespace): opening a plane does not touch the kernel's tables."""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
from tandem.lb.ipvs import GenericNetlink
from tandem.lb.plane import PlaneError
from tandem.lb.planes import choose_plane
from tandemlab.polling import wait_for

NO_IPVS = "load balancing on nftables: the kernel has no IP_VS (modprobe ip_vs: "
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
    assert lines[0].startswith(NO_IPVS)
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


CONFIG = """global_defs {
    router_id vmlane
}
virtual_server 198.51.100.77 80 {
    protocol TCP
    lb_algo rr
    delay_loop 30
    real_server 203.0.113.77 80 {
        TCP_CHECK {
            connect_timeout 1
        }
    }
}
"""


@pytest.mark.lab
def test_tandemd_says_at_start_which_plane_and_why(make_lab, tmp_path):
    """A real tandemd (checker subsystem, -C) in a lab host: here, one line says the kernel has no
    IP_VS and that it balances on nftables; where the kernel has IP_VS, that it runs on IPVS."""
    (host,) = make_lab(1).hosts
    conf, log = tmp_path / "t.conf", tmp_path / "t.log"
    conf.write_text(CONFIG)
    socket_dir = Path(tempfile.mkdtemp(prefix="tandemd-", dir="/tmp"))  # short: a unix socket path
    argv = [sys.executable, "-m", "tandem.cli.tandemd", "-f", str(conf), "-n", "-l", "-C"]
    with log.open("ab") as out:
        daemon = host.spawn([*argv, "--control-socket", str(socket_dir / "ctl.sock")], stdout=out, stderr=out)
    try:
        assert wait_for(lambda: "running 1 virtual server(s)" in log.read_text(), 20), log.read_text()
    finally:
        daemon.stop(timeout=10)
        shutil.rmtree(socket_dir, ignore_errors=True)
    lines = log.read_text().splitlines()
    said = [line.split(": ", 1)[1] for line in lines if "IP_VS" in line or "plane" in line]
    if _kernel_has_ipvs():
        assert said == ["load balancing on the ipvs plane"], lines
    else:
        assert len(said) == 2, lines
        assert said[0].startswith(NO_IPVS), lines
        assert said[1] == "load balancing on the nftables plane", lines
