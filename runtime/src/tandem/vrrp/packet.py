"""VRRP advertisement codec: VRRPv2 (RFC 3768 §5) and VRRPv3 (RFC 5798 §5, RFC 9568 §5), IPv4 and IPv6.

Pure functions over bytes. ``decode`` raises :class:`Dropped` carrying a :class:`Drop` reason for any
packet it cannot accept, so callers count drops by reason and nothing else escapes.

Checksums: VRRPv2 sums the VRRP message only. VRRPv3 sums an IP pseudo-header plus the message
(RFC 5798 §5.2.8). For VRRPv3 over IPv4, RFC 9568 §5.2.8 leaves room for a message-only sum;
keepalived rejects that form, so we send the pseudo-header form and accept both.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass
from functools import lru_cache
from ipaddress import IPv4Address, ip_address
from typing import NamedTuple

from tandem.config.model import IPAddress

IPPROTO_VRRP = 112
VRRP_TTL = 255  # RFC 5798 §5.1.1.3 / §5.1.2.3: TTL / hop limit of every advertisement
ADVERTISEMENT = 1  # the only packet type (RFC 5798 §5.2.2)
AUTH_NONE, AUTH_PASS = 0, 1  # RFC 2338 §5.3.6; AH (2) is not supported
AUTH_DATA_LEN = 8  # VRRPv2 carries 8 octets of authentication data, whatever the type

_HEADER = struct.Struct("!BBBBBBH")  # version/type, vrid, priority, count, v2 auth|v3 rsvd+interval, csum
_IPV4_HEADER = struct.Struct("!BBHHHBBH4s4s")
# CARP (version 2, type 1 like VRRPv2) always sends 36 octets with authlen 7 (in VRRPv2's address count
# field); a VRRPv2 message of 36 octets carries 5 addresses, so the two never look alike
_CARP_LENGTH, _CARP_AUTHLEN = 36, 7

# ip_address for what arrives from the wire (packed bytes or text): peers send the same few addresses
# over and over, and building one costs more than the rest of a packet's checks. Bounded, so random
# addresses from the wire cannot grow it.
cached_ip_address = lru_cache(maxsize=1024)(ip_address)
_new_tuple = tuple.__new__


class Drop(enum.Enum):
    """Why a received packet was not accepted; each reason has its own counter."""

    TRUNCATED = "truncated"  # shorter than a header, or than its address count needs
    OVERSIZED = "oversized"  # larger than any VRRP packet (cut short by the receive buffer)
    NOT_VRRP = "not_vrrp"  # IP header says another protocol or is malformed
    TTL = "ttl"  # TTL / hop limit not 255
    VERSION = "version"  # not the configured VRRP version (or v2 over IPv6)
    VRID = "vrid"  # no instance with this virtual router id here
    TYPE = "type"  # not an ADVERTISEMENT
    LENGTH = "length"  # longer than its address count needs
    CHECKSUM = "checksum"
    AUTH_TYPE = "auth_type"  # VRRPv2 authentication type differs from ours
    AUTH = "auth"  # VRRPv2 password differs
    INTERVAL = "interval"  # advert interval 0, or (VRRPv2) differs from ours (RFC 3768 §7.1)
    ADDRESS_LIST = "address_list"  # virtual addresses differ from ours (as keepalived)
    NOT_PEER = "not_peer"  # unicast configured and the sender is not a unicast peer
    OWN = "own"  # our own advertisement looped back
    FAULT = "fault"  # received while the instance is in Fault or Initialize
    CARP = "carp"  # an OpenBSD/FreeBSD CARP advertisement: it shares IP protocol 112 with VRRP
    # dropped by the kernel, its socket's receive buffer full (the daemon fell behind): a packet that
    # may have been an advert (QUEUE_FULL), or one the kernel filter had already set apart as bad
    QUEUE_FULL = "queue_full"
    UNREAD = "unread"


class Dropped(Exception):
    def __init__(self, reason: Drop) -> None:
        super().__init__(reason.value)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Advert:
    """One VRRP ADVERTISEMENT. ``interval_cs`` is in centiseconds (VRRPv2 puts whole seconds on the wire)."""

    version: int
    vrid: int
    priority: int
    interval_cs: int
    addresses: tuple[IPAddress, ...]
    auth_type: int = AUTH_NONE
    auth_data: bytes = b""  # VRRPv2 only, padded with NULs to 8 octets on the wire
    # received with keepalived's old VRRPv3 unicast checksum (old_unicast_checksum: the pseudo-header
    # names the multicast group, not the unicast destination)
    old_checksum: bool = False


class Received(NamedTuple):  # a tuple: cheap to build for every packet, compared field by field
    """A VRRP message as the socket gave it: IP source, destination, TTL / hop limit and payload."""

    src: IPAddress
    dst: IPAddress
    ttl: int
    payload: bytes


def pass_auth_data(password: str) -> bytes:
    """keepalived's PASS data: the password truncated to 8 octets, NUL padded."""
    return password.encode()[:AUTH_DATA_LEN].ljust(AUTH_DATA_LEN, b"\0")


def internet_checksum(data: bytes) -> int:
    """RFC 1071 one's-complement sum, as an int to put on the wire."""
    if len(data) % 2:
        data += b"\0"
    # 2**16 ≡ 1 (mod 0xFFFF): the number the bytes spell is congruent to the sum of their 16-bit words,
    # and the folded one's-complement sum is that residue, except 0xFFFF for non-zero data
    total = int.from_bytes(data, "big") % 0xFFFF
    if total == 0 and data.count(0) != len(data):
        total = 0xFFFF
    return ~total & 0xFFFF


def pseudo_header(src: IPAddress, dst: IPAddress, length: int, protocol: int = IPPROTO_VRRP) -> bytes:
    """The IPv4 (RFC 768) or IPv6 (RFC 8200 §8.1) pseudo-header that upper-layer checksums cover."""
    if src.version == 4:
        return src.packed + dst.packed + struct.pack("!BBH", 0, protocol, length)
    return src.packed + dst.packed + struct.pack("!I3xB", length, protocol)


def encode(advert: Advert, src: IPAddress, dst: IPAddress) -> bytes:
    """The VRRP message for ``advert`` sent from ``src`` to ``dst`` (checksum filled in)."""
    if advert.version == 2:
        fifth, sixth = advert.auth_type, advert.interval_cs // 100
    else:
        fifth, sixth = (advert.interval_cs >> 8) & 0x0F, advert.interval_cs & 0xFF
    header = _HEADER.pack(
        (advert.version << 4) | ADVERTISEMENT,
        advert.vrid,
        advert.priority,
        len(advert.addresses),
        fifth,
        sixth,
        0,
    )
    body = b"".join(a.packed for a in advert.addresses)
    if advert.version == 2:
        body += advert.auth_data[:AUTH_DATA_LEN].ljust(AUTH_DATA_LEN, b"\0")
        checksum = internet_checksum(header + body)
    else:
        checksum = internet_checksum(pseudo_header(src, dst, len(header) + len(body)) + header + body)
    return header[:6] + struct.pack("!H", checksum) + body


def is_carp(data: bytes) -> bool:
    """Whether a protocol-112 message is a CARP advertisement rather than VRRP."""
    return len(data) == _CARP_LENGTH and data[0] == 0x21 and data[3] == _CARP_AUTHLEN


def decode(packet: Received, count: int | None = None, old_checksum_dst: IPAddress | None = None) -> Advert:
    """Parse and verify the VRRP message of ``packet``; raise :class:`Dropped` when unacceptable.

    ``count``: the number of addresses the receiver advertises; a message with another count is an
    ADDRESS_LIST drop before its addresses are parsed (255 new addresses cost ~0.2 ms, the rest ~5 µs).
    ``old_checksum_dst``: a VRRPv3 checksum whose pseudo-header names this address (the multicast group)
    as the destination is valid too, and the advert says so (keepalived's old unicast checksum).
    """
    data = packet.payload
    if len(data) < _HEADER.size:
        raise Dropped(Drop.TRUNCATED)
    version_type, vrid, priority, number, fifth, sixth, _ = _HEADER.unpack_from(data)
    version = version_type >> 4
    if is_carp(data):
        raise Dropped(Drop.CARP)
    ipv6 = packet.src.version == 6
    if version not in (2, 3) or (version == 2 and ipv6):
        raise Dropped(Drop.VERSION)
    if version_type & 0x0F != ADVERTISEMENT:
        raise Dropped(Drop.TYPE)
    address_len = 16 if ipv6 else 4
    trailer = AUTH_DATA_LEN if version == 2 else 0
    expected = _HEADER.size + number * address_len + trailer
    if len(data) != expected:
        raise Dropped(Drop.TRUNCATED if len(data) < expected else Drop.LENGTH)
    old_checksum = False
    if version == 2:
        valid = internet_checksum(data) == 0
    else:
        valid = internet_checksum(pseudo_header(packet.src, packet.dst, len(data)) + data) == 0
        if not valid and not ipv6:
            valid = internet_checksum(data) == 0  # RFC 9568 message-only form
        if not valid and old_checksum_dst is not None:
            valid = old_checksum = (
                internet_checksum(pseudo_header(packet.src, old_checksum_dst, len(data)) + data) == 0
            )
    if not valid:
        raise Dropped(Drop.CHECKSUM)
    # an interval of 0 would make Master_Down_Interval 0: a backup hearing it takes over at once
    interval_cs = sixth * 100 if version == 2 else ((fifth & 0x0F) << 8) | sixth
    if interval_cs == 0:
        raise Dropped(Drop.INTERVAL)
    if count is not None and number != count:
        raise Dropped(Drop.ADDRESS_LIST)
    end = _HEADER.size + number * address_len
    addresses = tuple(
        cached_ip_address(data[i : i + address_len]) for i in range(_HEADER.size, end, address_len)
    )
    if version == 2:
        return Advert(2, vrid, priority, interval_cs, addresses, fifth, data[end:])
    return Advert(3, vrid, priority, interval_cs, addresses, old_checksum=old_checksum)


def split_ipv4(datagram: bytes) -> Received:
    """Split what an IPv4 raw socket returns (header included) into a :class:`Received`."""
    if len(datagram) < _IPV4_HEADER.size:
        raise Dropped(Drop.TRUNCATED)
    version_ihl, _, total, _, _, ttl, proto, _, src, dst = _IPV4_HEADER.unpack_from(datagram)
    header_len = (version_ihl & 0x0F) * 4
    if version_ihl >> 4 != 4 or proto != IPPROTO_VRRP or header_len < 20 or header_len > len(datagram):
        raise Dropped(Drop.NOT_VRRP)
    end = min(total, len(datagram)) if total >= header_len else len(datagram)
    # tuple.__new__: a NamedTuple's own __new__ is Python code, a cost paid for every packet
    payload = datagram[header_len:end]
    return _new_tuple(Received, (cached_ip_address(src), cached_ip_address(dst), ttl, payload))


def ipv4_header(src: IPv4Address, dst: IPv4Address, payload_len: int, ttl: int = VRRP_TTL) -> bytes:
    """An IPv4 header for IP_HDRINCL sends: TOS 0xC0 (internetwork control), DF clear, proto 112.

    The kernel fills in the identification and the header checksum when they are zero.
    """
    return _IPV4_HEADER.pack(0x45, 0xC0, 20 + payload_len, 0, 0, ttl, IPPROTO_VRRP, 0, src.packed, dst.packed)
