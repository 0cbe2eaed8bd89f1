"""Raw sockets: VRRP (IP protocol 112) per interface and family, and link-layer frames for GARP/NA.

VRRP sockets are bound to their interface (SO_BINDTODEVICE), send with TTL / hop limit 255 and
TOS / traffic class 0xC0, join the VRRP multicast group, and do not loop their own adverts back.
IPv4 builds its own IP header (IP_HDRINCL) so the source address is exactly the one the checksum
and the peers' tie-break use, whatever addresses the interface gains as Master.
"""

from __future__ import annotations

import socket
import struct
from ipaddress import IPv6Address

from tandem.config.model import IPAddress
from tandem.vrrp.packet import (
    IPPROTO_VRRP,
    VRRP_TTL,
    Drop,
    Dropped,
    Received,
    cached_ip_address,
    ipv4_header,
    split_ipv4,
)

TOS_INTERNETWORK_CONTROL = 0xC0
# Linux's SO_TIMESTAMPNS (not in Python's socket module): each datagram carries its arrival time, a
# struct timespec on the CLOCK_REALTIME scale, as SCM_TIMESTAMPNS ancillary data
SO_TIMESTAMPNS = SCM_TIMESTAMPNS = 35
_TIMESPEC = struct.Struct("@qq")
_RECV_SIZE = 4096  # more than any VRRP packet: IPv6 8 + 255 × 16 octets, IPv4 with its header ≤ 1096
_ANCILLARY_SIZE = socket.CMSG_SPACE(_TIMESPEC.size) + socket.CMSG_SPACE(64)


class VrrpSocket:
    """A non-blocking raw VRRP socket on one interface for one address family."""

    def __init__(self, family: int, ifname: str, ifindex: int, groups: tuple[IPAddress, ...]) -> None:
        self.family, self.ifname, self.ifindex = family, ifname, ifindex
        af = socket.AF_INET if family == 4 else socket.AF_INET6
        self.sock = socket.socket(af, socket.SOCK_RAW | socket.SOCK_NONBLOCK, IPPROTO_VRRP)
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
            self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            if family == 4:
                self._setup_ipv4(groups)
            else:
                self._setup_ipv6(groups)
        except OSError:
            self.sock.close()
            raise

    def _setup_ipv4(self, groups: tuple[IPAddress, ...]) -> None:
        s = self.sock
        s.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, VRRP_TTL)
        for group in groups:
            mreqn = struct.pack("4s4si", group.packed, bytes(4), self.ifindex)
            s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreqn)

    def _setup_ipv6(self, groups: tuple[IPAddress, ...]) -> None:
        s = self.sock
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 0)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, VRRP_TTL)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, VRRP_TTL)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, self.ifindex)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS, TOS_INTERNETWORK_CONTROL)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
        for group in groups:
            s.setsockopt(
                socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, group.packed + struct.pack("@I", self.ifindex)
            )

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()

    def send(self, payload: bytes, src: IPAddress, dst: IPAddress, ttl: int = VRRP_TTL) -> None:
        if self.family == 4:
            self.sock.sendto(ipv4_header(src, dst, len(payload), ttl) + payload, (str(dst), 0))
            return
        pktinfo = src.packed + struct.pack("@I", self.ifindex)
        ancillary = [(socket.IPPROTO_IPV6, socket.IPV6_PKTINFO, pktinfo)]
        self.sock.sendmsg([payload], ancillary, 0, (str(dst), 0, 0, self.ifindex))

    def receive(self) -> tuple[Received, float]:
        """One packet and its arrival time (``time.time()`` scale); raises BlockingIOError when none is
        queued, Dropped for a bad IPv4 header or a datagram larger than any VRRP packet."""
        data, ancillary, flags, address = self.sock.recvmsg(_RECV_SIZE, _ANCILLARY_SIZE)
        if flags & socket.MSG_TRUNC:
            raise Dropped(Drop.OVERSIZED)
        if self.family == 4:  # the timestamp is the only ancillary data asked for
            return split_ipv4(data), _seconds(ancillary[0][2]) if ancillary else 0.0
        arrived, hop_limit, dst = 0.0, 0, IPv6Address(0)
        for level, kind, value in ancillary:
            if level == socket.SOL_SOCKET and kind == SCM_TIMESTAMPNS:
                arrived = _seconds(value)
            elif level == socket.IPPROTO_IPV6 and kind == socket.IPV6_HOPLIMIT:
                (hop_limit,) = struct.unpack("@i", value[:4])
            elif level == socket.IPPROTO_IPV6 and kind == socket.IPV6_PKTINFO:
                dst = cached_ip_address(value[:16])
        return Received(cached_ip_address(address[0].split("%")[0]), dst, hop_limit, data), arrived


def _seconds(timespec: bytes) -> float:
    seconds, nanoseconds = _TIMESPEC.unpack(timespec)
    return seconds + nanoseconds * 1e-9


class LinkSocket:
    """An AF_PACKET socket on one interface, for gratuitous ARP and unsolicited NA frames."""

    def __init__(self, ifname: str) -> None:
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW | socket.SOCK_NONBLOCK, 0)
        try:
            self.sock.bind((ifname, 0))
        except OSError:
            self.sock.close()
            raise

    def send(self, frame: bytes) -> None:
        self.sock.send(frame)

    def close(self) -> None:
        self.sock.close()
