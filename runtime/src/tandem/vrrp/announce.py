"""Frames that tell a segment where a virtual address now lives: gratuitous ARP and unsolicited NA."""

from __future__ import annotations

import struct
from ipaddress import IPv4Address, IPv6Address

from tandem.config.model import IPAddress
from tandem.vrrp.packet import internet_checksum, pseudo_header

BROADCAST_MAC = b"\xff" * 6
ALL_NODES = IPv6Address("ff02::1")
ALL_NODES_MAC = b"\x33\x33\x00\x00\x00\x01"
ETH_P_ARP, ETH_P_IPV6 = 0x0806, 0x86DD
IPPROTO_ICMPV6 = 58
ND_NEIGHBOR_ADVERT = 136
NA_FLAG_OVERRIDE = 0x20000000
ND_OPT_TARGET_LINKADDR = 2


def garp_frame(mac: bytes, address: IPv4Address) -> bytes:
    """A broadcast ARP request for ``address`` from itself (RFC 5227 §3 announcement form)."""
    ethernet = BROADCAST_MAC + mac + struct.pack("!H", ETH_P_ARP)
    arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + mac + address.packed + BROADCAST_MAC + address.packed
    return ethernet + arp


def unsolicited_na_frame(mac: bytes, address: IPv6Address) -> bytes:
    """An unsolicited Neighbor Advertisement (RFC 4861 §7.2.6) for ``address`` to all nodes, Override set."""
    body = struct.pack("!I", NA_FLAG_OVERRIDE) + address.packed + bytes([ND_OPT_TARGET_LINKADDR, 1]) + mac
    header = struct.pack("!BBH", ND_NEIGHBOR_ADVERT, 0, 0)
    pseudo = pseudo_header(address, ALL_NODES, len(header) + len(body), IPPROTO_ICMPV6)
    checksum = internet_checksum(pseudo + header + body)
    icmp = header[:2] + struct.pack("!H", checksum) + body
    ipv6 = struct.pack("!IHBB", 6 << 28, len(icmp), IPPROTO_ICMPV6, 255) + address.packed + ALL_NODES.packed
    return ALL_NODES_MAC + mac + struct.pack("!H", ETH_P_IPV6) + ipv6 + icmp


def announcement(mac: bytes, address: IPAddress) -> bytes:
    if isinstance(address, IPv4Address):
        return garp_frame(mac, address)
    return unsolicited_na_frame(mac, address)
