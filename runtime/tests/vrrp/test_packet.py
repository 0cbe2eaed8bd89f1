"""The VRRP codec, cross-checked against scapy's VRRP / VRRPv3 layers as an independent implementation."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, ip_address

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scapy.layers.inet import IP
from scapy.layers.inet6 import IPv6
from scapy.layers.vrrp import VRRP, VRRPv3
from tandem.vrrp.packet import (
    AUTH_NONE,
    AUTH_PASS,
    Advert,
    Drop,
    Dropped,
    Received,
    decode,
    encode,
    internet_checksum,
    ipv4_header,
    pass_auth_data,
    split_ipv4,
)
from vrrp_helpers import carp

SRC4, DST4 = IPv4Address("198.51.100.11"), IPv4Address("224.0.0.18")
SRC6, DST6 = IPv6Address("fe80::11"), IPv6Address("ff02::12")
VIPS4 = (IPv4Address("198.51.100.100"), IPv4Address("198.51.100.101"))
VIPS6 = (IPv6Address("2001:db8::100"), IPv6Address("2001:db8::1ff"))


def test_v2_pass_matches_scapy_both_ways():
    advert = Advert(2, 51, 150, 100, VIPS4, AUTH_PASS, pass_auth_data("secret12345"))
    wire = encode(advert, SRC4, DST4)
    parsed = VRRP(wire)
    assert (parsed.version, parsed.type, parsed.vrid, parsed.priority) == (2, 1, 51, 150)
    assert (parsed.ipcount, parsed.authtype, parsed.adv) == (2, AUTH_PASS, 1)
    assert [ip_address(a) for a in parsed.addrlist] == list(VIPS4)
    assert parsed.auth1.to_bytes(4, "big") + parsed.auth2.to_bytes(4, "big") == b"secret12"
    assert parsed.chksum == VRRP(bytes(VRRP(**_fields(parsed), chksum=None))).chksum
    assert decode(Received(SRC4, DST4, 255, wire)) == advert

    theirs = bytes(VRRP(vrid=7, priority=200, addrlist=[str(a) for a in VIPS4], adv=3))
    assert decode(Received(SRC4, DST4, 255, theirs)) == Advert(2, 7, 200, 300, VIPS4, AUTH_NONE, bytes(8))


def _fields(pkt):
    return {f.name: pkt.getfieldval(f.name) for f in pkt.fields_desc if f.name != "chksum"}


def test_v3_ipv4_sends_pseudo_header_checksum_like_scapy():
    advert = Advert(3, 9, 100, 10, VIPS4)
    wire = encode(advert, SRC4, DST4)
    theirs = IP(
        bytes(
            IP(src=str(SRC4), dst=str(DST4), ttl=255) / VRRPv3(vrid=9, adv=10, addrlist=list(map(str, VIPS4)))
        )
    )
    assert bytes(theirs[VRRPv3]) == wire
    assert decode(Received(SRC4, DST4, 255, bytes(theirs[VRRPv3]))) == advert


def test_v3_ipv4_accepts_message_only_checksum_rfc9568():
    wire = bytearray(encode(Advert(3, 9, 100, 10, VIPS4), SRC4, DST4))
    wire[6:8] = b"\0\0"
    wire[6:8] = internet_checksum(bytes(wire)).to_bytes(2, "big")
    assert decode(Received(SRC4, DST4, 255, bytes(wire))).vrid == 9


def test_v3_ipv6_matches_scapy():
    advert = Advert(3, 200, 254, 4095, VIPS6)
    wire = encode(advert, SRC6, DST6)
    theirs = IPv6(
        bytes(
            IPv6(src=str(SRC6), dst=str(DST6), hlim=255)
            / VRRPv3(vrid=200, priority=254, adv=4095, addrlist=list(map(str, VIPS6)))
        )
    )
    assert bytes(theirs[VRRPv3]) == wire
    assert decode(Received(SRC6, DST6, 255, wire)) == advert
    # the message-only form is never valid over IPv6
    bad = bytearray(wire)
    bad[6:8] = b"\0\0"
    bad[6:8] = internet_checksum(bytes(bad)).to_bytes(2, "big")
    with pytest.raises(Dropped) as caught:
        decode(Received(SRC6, DST6, 255, bytes(bad)))
    assert caught.value.reason is Drop.CHECKSUM


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda w: w[:7], Drop.TRUNCATED),
        (lambda w: bytes([0x41]) + w[1:], Drop.VERSION),
        (lambda w: bytes([0x32]) + w[1:], Drop.TYPE),
        (lambda w: w + b"\0\0\0\0", Drop.LENGTH),
        (lambda w: w[:3] + bytes([3]) + w[4:], Drop.TRUNCATED),
        (lambda w: w[:3] + bytes([1]) + w[4:], Drop.LENGTH),
        (lambda w: w[:2] + bytes([w[2] ^ 1]) + w[3:], Drop.CHECKSUM),
    ],
)
def test_malformed_v3_dropped_by_reason(mutate, reason):
    wire = encode(Advert(3, 9, 100, 10, VIPS4), SRC4, DST4)
    with pytest.raises(Dropped) as caught:
        decode(Received(SRC4, DST4, 255, mutate(wire)))
    assert caught.value.reason is reason


@pytest.mark.parametrize("addresses", [(SRC4, DST4), (SRC6, DST6)])
def test_carp_sharing_protocol_112_is_its_own_drop(addresses):
    with pytest.raises(Dropped) as caught:
        decode(Received(*addresses, 255, carp(9)))
    assert caught.value.reason is Drop.CARP
    # a VRRPv2 message of the same length carries 5 addresses: never taken for CARP
    five = Advert(2, 9, 100, 100, tuple(IPv4Address(f"198.51.100.{i}") for i in range(1, 6)), 0, bytes(8))
    assert decode(Received(SRC4, DST4, 255, encode(five, SRC4, DST4))) == five


@pytest.mark.parametrize("version", [2, 3])
def test_advert_interval_zero_is_an_interval_drop(version):
    wire = encode(Advert(version, 9, 100, 0, VIPS4), SRC4, DST4)
    with pytest.raises(Dropped) as caught:
        decode(Received(SRC4, DST4, 255, wire))
    assert caught.value.reason is Drop.INTERVAL


def test_v2_over_ipv6_is_a_version_drop():
    wire = encode(Advert(2, 1, 100, 100, VIPS6), SRC6, DST6)
    with pytest.raises(Dropped) as caught:
        decode(Received(SRC6, DST6, 255, wire))
    assert caught.value.reason is Drop.VERSION


def test_ipv4_header_round_trip_through_scapy():
    payload = encode(Advert(3, 9, 100, 10, VIPS4), SRC4, DST4)
    datagram = ipv4_header(SRC4, DST4, len(payload)) + payload
    theirs = IP(datagram)
    assert (theirs.ttl, theirs.tos, theirs.proto, theirs.len) == (255, 0xC0, 112, len(datagram))
    received = split_ipv4(datagram)
    assert (received.src, received.dst, received.ttl, received.payload) == (SRC4, DST4, 255, payload)
    with pytest.raises(Dropped):
        split_ipv4(datagram[:10])


ipv4s = st.builds(IPv4Address, st.integers(0, 2**32 - 1))


@given(
    version=st.sampled_from([2, 3]),
    vrid=st.integers(1, 255),
    priority=st.integers(0, 255),
    interval=st.integers(1, 4095),
    addresses=st.lists(ipv4s, max_size=20).map(tuple),
    password=st.text(max_size=12),
)
def test_round_trip_ipv4(version, vrid, priority, interval, addresses, password):
    if version == 2:
        advert = Advert(
            2, vrid, priority, (interval % 255 + 1) * 100, addresses, AUTH_PASS, pass_auth_data(password)
        )
    else:
        advert = Advert(3, vrid, priority, interval, addresses)
    wire = encode(advert, SRC4, DST4)
    assert decode(Received(SRC4, DST4, 255, wire)) == advert
    parsed = IP(bytes(IP(src=str(SRC4), dst=str(DST4), proto=112) / wire))
    # scapy guesses the version from the length; short v3 messages need telling
    layer = (VRRPv3 if version == 3 else VRRP)(bytes(parsed.payload), _underlayer=parsed)
    assert [ip_address(a) for a in layer.addrlist] == list(addresses)
    assert (layer.vrid, layer.priority) == (vrid, priority)


@given(st.binary(max_size=120), st.sampled_from([(SRC4, DST4), (SRC6, DST6)]))
def test_random_bytes_decode_or_drop_by_reason(data, addresses):
    try:
        advert = decode(Received(*addresses, 255, data))
    except Dropped as dropped:
        assert isinstance(dropped.reason, Drop)
    else:
        assert decode(Received(*addresses, 255, encode(advert, *addresses))) == advert
