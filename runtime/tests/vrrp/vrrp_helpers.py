"""Shared by the VRRP tests: addresses, instance parameters and adverts as a peer would send them."""

from __future__ import annotations

import struct
from dataclasses import replace
from ipaddress import IPv4Address, IPv4Interface

from tandem.config.model import VirtualAddress
from tandem.vrrp.packet import AUTH_PASS, Advert, Received, encode, internet_checksum, pass_auth_data
from tandem.vrrp.params import InstanceParams

ME, PEER, OTHER = IPv4Address("198.51.100.11"), IPv4Address("198.51.100.12"), IPv4Address("198.51.100.13")
GROUP = IPv4Address("224.0.0.18")
VIPS = (VirtualAddress(address=IPv4Interface("198.51.100.100/24")),)
V3 = InstanceParams(name="VI_1", interface="eth0", vrid=51, version=3, advert_int=0.1, vips=VIPS)
V2 = replace(V3, version=2, advert_int=1.0, auth_pass="secret")


def advert_from(params: InstanceParams, priority: int, interval_cs: int | None = None, **changes) -> Advert:
    version = params.version
    interval = params.advert_cs if interval_cs is None else interval_cs
    auth = (
        (AUTH_PASS, pass_auth_data(params.auth_pass)) if params.auth_pass and version == 2 else (0, bytes(8))
    )
    fields = {
        "addresses": params.advertised,
        "auth_type": auth[0],
        "auth_data": auth[1] if version == 2 else b"",
    }
    fields.update(changes)
    return Advert(version, params.vrid, priority, interval, **fields)


def packet(advert: Advert, src=PEER, ttl=255, dst=GROUP) -> Received:
    return Received(src, dst, ttl, encode(advert, src, dst))


def carp(vhid: int) -> bytes:
    """A CARP advertisement (version 2, type 1, authlen 7, advbase 1, counter and HMAC), 36 octets."""
    header = struct.pack("!BBBBBBH", 0x21, vhid, 0, 7, 0, 1, 0) + bytes(28)
    return header[:6] + internet_checksum(header).to_bytes(2, "big") + header[8:]
