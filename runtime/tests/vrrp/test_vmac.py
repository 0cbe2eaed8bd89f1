"""use_vmac pieces that need no lab: keepalived's vmac names, the virtual MAC, the RTM_DELLINK request.
(tests/vrrp/test_interop.py runs vmacs for real against keepalived.)"""

from __future__ import annotations

from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
from tandem.config import load_config_text
from tandem.vrrp.netlink import dellink_request
from tandem.vrrp.params import params_from_config
from tandem.vrrp.vmac import virtual_mac


def instance(name: str, vrid: int, *lines: str, vip: str = "198.51.100.1", dev: str = "eth0") -> str:
    body = "\n".join(lines)
    return (
        f"vrrp_instance {name} {{\n interface {dev}\n virtual_router_id {vrid}\n {body}\n"
        f" virtual_ipaddress {{\n  {vip}\n }}\n}}\n"
    )


def params(text: str):
    result = load_config_text(text)
    assert not result.errors, result.errors
    config = result.config
    return {i.name: params_from_config(config, i) for i in config.vrrp_instances}


def test_vmac_names_follow_keepalived():
    found = params(
        instance("A", 5, "use_vmac")
        + instance("B", 5, "use_vmac", "version 3", vip="2001:db8::1")  # same VRID, IPv6: vrrp6.5 is next
        + instance("C", 5, "use_vmac", vip="198.51.100.2", dev="eth1")  # IPv4 again: vrrp1.5
        + instance("D", 6, "use_vmac mine", "vmac_xmit_base", vip="198.51.100.3")
        + instance("E", 7, vip="198.51.100.4")
        + instance("F", 8, "vmac_xmit_base", vip="198.51.100.5")  # without use_vmac: nothing
    )
    assert {n: (p.vmac, p.vmac_xmit_base) for n, p in found.items()} == {
        "A": ("vrrp.5", False),
        "B": ("vrrp6.5", False),
        "C": ("vrrp1.5", False),
        "D": ("mine", True),
        "E": (None, False),
        "F": (None, False),
    }
    assert (found["A"].socket_interface, found["A"].vip_interface) == ("vrrp.5", "vrrp.5")
    assert (found["D"].socket_interface, found["D"].vip_interface) == ("eth0", "mine")
    assert (found["E"].socket_interface, found["E"].vip_interface) == ("eth0", "eth0")


def test_virtual_mac_is_rfc_5798s():
    assert virtual_mac(4, 51) == bytes.fromhex("00005e000133")
    assert virtual_mac(6, 255) == bytes.fromhex("00005e0002ff")


def test_dellink_request_decodes_as_pyroute2_reads_it():
    msg = ifinfmsg(dellink_request(42))
    msg.decode()
    assert (msg["header"]["type"], msg["header"]["flags"], msg["index"]) == (17, 0x5, 42)
    assert msg["header"]["length"] == len(dellink_request(42)) == 32
