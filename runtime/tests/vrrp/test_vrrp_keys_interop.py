"""vrrp_instance keys keepalived 2.2.7 and tandemd read from the same config, with keepalived as the
peer: what each one changes is seen on the wire or in who holds the VIP."""

from __future__ import annotations

import ctypes
import os
import re
import socket
from ipaddress import ip_address

import pytest
from peer_pair import adverts
from scapy.layers.inet import IP
from tandem.vrrp.packet import internet_checksum, pseudo_header
from tandemlab.polling import wait_for
from vrrp_lab import Group, holders, start

pytestmark = [pytest.mark.lab, pytest.mark.interop, pytest.mark.slow]

VIP = "198.51.100.100/24"
NOBODY = "198.51.100.250"  # a unicast peer no host has
SYS_PIDFD_GETFD = 438


def tandemd(host, config: str, workdir):
    """tandemd on ``host`` with a control socket of its own (never the default /run/tandem one)."""
    path = str(workdir / f"{host.name}.sock")
    assert len(path) < 108  # a unix socket path's limit
    return start("tandemd", host, config, workdir, ["--control-socket", path])


def raw_rcvbufs(host) -> dict[str, set[int]]:
    """SO_RCVBUF of the raw sockets of each process on ``host`` (by name), read from a copy of each
    socket taken with pidfd_getfd (ss shows no memory figures of raw sockets)."""
    libc = ctypes.CDLL(None, use_errno=True)
    found: dict[str, set[int]] = {}
    for line in host.run(["ss", "-w", "-a", "-n", "-p"]).stdout.splitlines()[1:]:
        for name, pid, fd in re.findall(r'\("([^"]+)",pid=(\d+),fd=(\d+)\)', line):
            pidfd = os.pidfd_open(int(pid))
            try:
                copy = libc.syscall(SYS_PIDFD_GETFD, pidfd, int(fd), 0)
                assert copy >= 0, os.strerror(ctypes.get_errno())
                with socket.socket(fileno=copy) as sock:
                    found.setdefault(name, set()).add(sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))
            finally:
                os.close(pidfd)
    return found


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
    process = tandemd(h2, config, tmp_path)
    expected = ["h1", "h2"] if check else ["h1"]
    assert wait_for(lambda: holders(lab.hosts, VIP) == expected, 10)
    if not check:  # not only a slow start: it stays Backup for many Master_Down_Intervals
        assert not wait_for(lambda: holders(lab.hosts, VIP) != ["h1"], 2)
    process.stop()


def test_kernel_rx_buf_size(make_lab, tmp_path):
    """kernel_rx_buf_size 100000: the socket keepalived reads adverts from and tandemd's (the candidates)
    get SO_RCVBUF 100000 (the kernel doubles it); without it tandemd's keeps its own 1 MiB."""
    lab = make_lab(2)
    h1, h2 = lab.hosts
    group = Group(options=("kernel_rx_buf_size 100000",))
    start("keepalived", h1, group.config(h1, [h2], 150), tmp_path)
    tandemd(h2, group.config(h2, [h1], 100), tmp_path)
    assert wait_for(lambda: holders(lab.hosts, VIP) == ["h1"], 10)
    assert 200000 in raw_rcvbufs(h1)["keepalived"]
    assert wait_for(lambda: 200000 in raw_rcvbufs(h2).get("python", ()), 10), raw_rcvbufs(h2)
    (h3,) = make_lab(1).hosts
    tandemd(h3, Group().config(h3, [], 100), tmp_path)
    assert wait_for(lambda: 2 * (1 << 20) in raw_rcvbufs(h3).get("python", ()), 10), raw_rcvbufs(h3)


def test_mcast_dst_ip(make_lab, tmp_path):
    """mcast_dst_ip 224.0.0.20 on both: keepalived's adverts go there and tandemd hears them (Backup),
    then tandemd's go there once it took over; none goes to 224.0.0.18."""
    lab = make_lab(2)
    h1, h2 = lab.hosts
    group = Group(options=("mcast_dst_ip 224.0.0.20",))
    capture = lab.capture("ip proto 112")
    keepalived = start("keepalived", h1, group.config(h1, [h2], 150), tmp_path)
    assert wait_for(lambda: holders(lab.hosts, VIP) == ["h1"], 10)
    tandemd(h2, group.config(h2, [h1], 100), tmp_path)
    assert not wait_for(lambda: holders(lab.hosts, VIP) != ["h1"], 2)  # it hears keepalived
    keepalived.kill()
    assert wait_for(lambda: holders(lab.hosts, VIP) == ["h2"], 10)
    seen = capture.stop()
    destinations = {(host, layer.underlayer[IP].dst) for _ts, host, layer in adverts(seen)}
    assert destinations == {("h1", "224.0.0.20"), ("h2", "224.0.0.20")}


def test_log_unknown_vrids(make_lab, tmp_path):
    """log_unknown_vrids: keepalived (VRID 51) and tandemd (VRID 52) each log the other's adverts with
    keepalived's message; tandemd without it logs none (they are counted either way)."""
    lab = make_lab(3)
    h1, h2, h3 = lab.hosts
    logging = Group(global_options=("log_unknown_vrids",))
    start("keepalived", h1, logging.config(h1, [], 150), tmp_path)
    tandemd(h2, Group(vrid=52, global_options=("log_unknown_vrids",)).config(h2, [], 150), tmp_path)
    tandemd(h3, Group(vrid=53).config(h3, [], 150), tmp_path)
    logs = {
        h: tmp_path / f"{h.name}-{kind}.log"
        for h, kind in ((h1, "keepalived"), (h2, "tandemd"), (h3, "tandemd"))
    }

    def line(vrid: int) -> str:
        return f"Unknown VRID({vrid}) received on interface(eth0). ignoring..."

    assert wait_for(lambda: line(52) in logs[h1].read_text() and line(51) in logs[h2].read_text(), 10)
    assert wait_for(lambda: line(53) in logs[h2].read_text(), 10)
    assert "Unknown VRID" not in logs[h3].read_text()


def old_form_checksum_ok(layer, group: str = "224.0.0.18") -> bool:
    """Whether a captured VRRPv3 advert's checksum is keepalived's old unicast form: computed with the
    multicast group, not the IP destination, in the pseudo-header."""
    ip = layer.underlayer[IP]
    message = bytes(layer)[: ip.len - ip.ihl * 4]
    pseudo = pseudo_header(ip_address(ip.src), ip_address(group), len(message))
    return internet_checksum(pseudo + message) == 0


@pytest.mark.parametrize("configured", [True, False])
def test_old_unicast_checksum(make_lab, tmp_path, configured):
    """keepalived with old_unicast_checksum is Master: tandemd hears its adverts (with the key, or by
    taking the old form up as keepalived 2.2.7 does without it, saying so); once tandemd is Master its
    adverts have the old form, and keepalived (the key set) restarted at a lower priority hears them."""
    lab = make_lab(2)
    h1, h2 = lab.hosts
    old = Group(unicast=True, options=("old_unicast_checksum",))
    capture = lab.capture("ip proto 112")
    keepalived = start("keepalived", h1, old.config(h1, [h2], 150), tmp_path)
    assert wait_for(lambda: holders(lab.hosts, VIP) == ["h1"], 10)
    ours = old if configured else Group(unicast=True)
    tandemd(h2, ours.config(h2, [h1], 100), tmp_path)
    assert not wait_for(lambda: holders(lab.hosts, VIP) != ["h1"], 2)  # it hears keepalived
    switched = "(VI_1) Setting unicast VRRPv3 checksum to old version"
    assert (switched in (tmp_path / "h2-tandemd.log").read_text()) is not configured
    keepalived.kill()
    assert wait_for(lambda: holders(lab.hosts, VIP) == ["h2"], 10)
    start("keepalived", h1, old.config(h1, [h2], 50), tmp_path)
    assert not wait_for(lambda: holders(lab.hosts, VIP) != ["h2"], 3)  # keepalived hears tandemd
    seen = [(host, layer) for _ts, host, layer in adverts(capture.stop()) if layer.priority > 0]
    assert {host for host, _ in seen} == {"h1", "h2"}
    assert all(old_form_checksum_ok(layer) for _, layer in seen)


@pytest.mark.parametrize("daemon", ["tandemd", "keepalived"])
def test_a_vip_removed_by_someone_else_is_taken_back_unless_no_track(make_lab, tmp_path, daemon):
    """A no_track VIP deleted (ip addr del) stays deleted and nothing moves; a Master whose other VIP is
    deleted leaves Master and takes over again after Skew_Time, adding them all back. keepalived 2.2.7
    on the same config is the reference."""
    (h1,) = make_lab(1).hosts
    group = Group(vips=(VIP, "198.51.100.101/24 no_track"))
    config = group.config(h1, [], 150)
    if daemon == "tandemd":
        tandemd(h1, config, tmp_path)
    else:
        start(daemon, h1, config, tmp_path)
    assert wait_for(lambda: h1.has_address("198.51.100.100") and h1.has_address("198.51.100.101"), 10)
    log = tmp_path / f"h1-{daemon}.log"
    h1.ip("addr", "del", "198.51.100.101/24", "dev", h1.ifname)  # no_track: left as it is
    assert not wait_for(lambda: h1.has_address("198.51.100.101"), 1)
    assert log.read_text().count("Entering MASTER STATE") == 1
    h1.ip("addr", "del", VIP, "dev", h1.ifname)
    assert wait_for(lambda: h1.has_address("198.51.100.100") and h1.has_address("198.51.100.101"), 5)
    assert "Entering BACKUP STATE" in log.read_text().split("Entering MASTER STATE", 1)[1]  # left, came back
    assert wait_for(lambda: log.read_text().count("Entering MASTER STATE") == 2, 5)
