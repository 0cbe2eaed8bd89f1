"""``tandemd -t`` (and start-up, which logs the same findings) says what the nftables plane cannot carry
and what it only approximates; virtual_server is no longer "not supported yet"."""

from __future__ import annotations

from tandem.cli.tandemd import main as tandemd
from tandem.config import load_config_text

SERVICE = """
virtual_server 203.0.113.100 80 {{
  lb_algo {algo}
  lb_kind {kind}
  persistence_timeout 30
  real_server 198.51.100.13 80 {{
    TCP_CHECK {{ }}
  }}
}}
"""


def findings(text: str) -> list[str]:
    found = load_config_text(text, "lb.conf").findings
    return [f"{f.severity}: {f.message.removeprefix('virtual_server [203.0.113.100]:80: ')}" for f in found]


def test_nftables_plane_limits(tmp_path):
    dr = SERVICE.format(algo="wlc", kind="DR")
    chosen = findings("global_defs {\n tandem_lb_plane nftables\n}\n" + dr)
    assert chosen == [
        "error: nftables plane: TCP [203.0.113.100]:80: real server 198.51.100.13 uses lb_kind DR; the "
        "nftables plane carries NAT only (DR and TUN need IPVS)",
        "warning: nftables plane: TCP [203.0.113.100]:80: wlc runs as wrr: nftables does not count a real "
        "server's connections",
        "warning: nftables plane: TCP [203.0.113.100]:80: persistence ends 30s after a client's last new "
        "connection (IPVS: after its last connection ends)",
    ]
    auto = findings(dr)  # auto: IPVS may carry it, so a warning
    assert [line.split(":")[0] for line in auto] == ["warning"] * 3
    assert auto[0].startswith("warning: nftables plane (used where the kernel has no IPVS): TCP")
    assert findings("global_defs {\n tandem_lb_plane ipvs\n}\n" + dr) == []
    assert not any("not supported yet" in line for line in findings(SERVICE.format(algo="rr", kind="NAT")))


def test_lvs_timeouts_are_said_not_carried_by_the_nftables_plane_only():
    """IPVS carries them (the VM lane checks it); nftables says it cannot; without a virtual server
    nothing sets them, and that is said too."""
    head = "global_defs {\n lvs_timeouts tcp 900 udp 60\n%s}\n"
    service = SERVICE.format(algo="rr", kind="NAT")
    note = (
        "lvs_timeouts are not carried out by the nftables plane: the connections it balances keep "
        "conntrack's own timeouts (net.netfilter.nf_conntrack_*_timeout*)"
    )
    assert f"warning: nftables plane (used where the kernel has no IPVS): {note}" in findings(
        head % "" + service
    )
    chosen = findings(head % " tandem_lb_plane nftables\n" + service)
    assert f"warning: nftables plane: {note}" in chosen
    assert not any("lvs_timeouts" in line for line in findings(head % " tandem_lb_plane ipvs\n" + service))
    assert findings(head % "") == ["warning: lvs_timeouts: no virtual_server, so no plane sets them"]


def test_the_running_nftables_plane_says_it_once_and_changes_nothing(caplog):
    from tandem.lb.nftables import TIMEOUTS_NOT_CARRIED, NftablesPlane
    from tandem.lb.plane import Timeouts

    class NoKernel:
        def run(self, commands):
            raise AssertionError(f"no kernel change expected: {commands}")

    plane = NftablesPlane(nft=NoKernel())
    with caplog.at_level("WARNING", logger="tandem.lb.nftables"):
        plane.set_timeouts(Timeouts())
        plane.set_timeouts(Timeouts(tcp=900, udp=60))
        plane.set_timeouts(Timeouts(tcp=900, tcpfin=30))
    assert [r.getMessage() for r in caplog.records] == [f"nftables plane: {TIMEOUTS_NOT_CARRIED}"]


def test_tandemd_t_prints_them(tmp_path, capsys):
    path = tmp_path / "tandemd.conf"
    path.write_text("global_defs {\n tandem_lb_plane nftables\n}\n" + SERVICE.format(algo="lc", kind="NAT"))
    assert tandemd(["-t", "-f", str(path)]) == 0
    err = capsys.readouterr().err
    assert (
        f"{path}:5: warning: virtual_server [203.0.113.100]:80: nftables plane: TCP [203.0.113.100]:80: lc "
        in err
    )
    assert "configuration is valid" in err
