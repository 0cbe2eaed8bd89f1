"""Raw sockets: VRRP (IP protocol 112) per interface and family, and link-layer frames for GARP/NA.

VRRP sockets are bound to their interface (SO_BINDTODEVICE), send with TTL / hop limit 255 and
TOS / traffic class 0xC0, join the VRRP multicast group, and do not loop their own adverts back.
IPv4 builds its own IP header (IP_HDRINCL) so the source address is exactly the one the checksum
and the peers' tie-break use, whatever addresses the interface gains as Master.

A channel's packets are split in the kernel by a classic BPF socket filter (:func:`vrrp_filter`):
*candidates* — an advert for one of its VRIDs, of that instance's version, with TTL 255 unless it is a
unicast one — queue on the socket the instances read first and send from, and everything else on a
second socket (the inverse filter), read when there is time and counted under its reason. A flood of
foreign or bad packets then never queues in front of a master's advert, nor costs the reading of the
candidates; what the kernel dropped because a receive buffer was full is counted too (SO_MEMINFO).
"""

from __future__ import annotations

import socket
import struct
from array import array
from collections.abc import Iterable
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
# Linux socket options Python's socket module does not name
SO_ATTACH_FILTER, SO_RCVBUFFORCE, SO_MEMINFO = 26, 33, 55
SK_MEMINFO_DROPS, SK_MEMINFO_VARS = 8, 9  # packets dropped at the socket (receive buffer full)
# bytes of receive buffer the candidates may fill (the kernel doubles it for its overhead): ~2,000 adverts
# when the daemon falls behind, where the default held ~270 and a flood pushed a master's advert out
CANDIDATES_RCVBUF = 1 << 20
_IPV6_HEADER_SIZE = 40
# a plain int: socket.MSG_TRUNC is an enum.IntFlag, and ``flags & socket.MSG_TRUNC`` runs enum's Python
# code (~1 µs, a quarter of a backup's cost per advert)
_MSG_TRUNC = int(socket.MSG_TRUNC)

# classic BPF (linux/filter.h): the instructions the filters use
_BPF_INSN = struct.Struct("@HBBI")
_LDB_ABS, _LDB_IND, _LDXB_MSH, _LDX_IMM, _JEQ, _RET = 0x30, 0x50, 0xB1, 0x01, 0x15, 0x06
_LD_MEM, _ST_MEM = 0x60, 0x02
_SKF_NET_OFF = -0x100000  # loads relative to the IP header
_KEEP, _DROP = 0xFFFFFFFF, 0
ADVERTISEMENT_TYPE = 1


def vrrp_filter(family: int, units: Iterable[tuple[int, int, bool]], candidates: bool = True) -> bytes:
    """The instructions of a classic BPF program keeping (``candidates``) or dropping what may be an
    advert for one of ``units`` — (VRID, VRRP version, unicast) — with TTL / hop limit 255 unless unicast.

    IPv4 raw sockets see the packet from its IP header (the VRRP header after IHL words), IPv6 ones from
    the VRRP header (the hop limit is at the IP header's offset 7).
    """
    keep, drop = (_KEEP, _DROP) if candidates else (_DROP, _KEEP)
    if family == 4:
        program = [(_LDXB_MSH, 0, 0, 0), (_LDB_ABS, 0, 0, 8)]  # X = IP header length; A = TTL
    else:
        program = [(_LDX_IMM, 0, 0, 0), (_LDB_ABS, 0, 0, (_SKF_NET_OFF + 7) & 0xFFFFFFFF)]
    program.append((_ST_MEM, 0, 0, 0))  # M[0] = TTL / hop limit
    for vrid, version, unicast in units:
        block = [(_LDB_IND, 0, 0, 0), (_JEQ, 0, 0, (version << 4) | ADVERTISEMENT_TYPE)]
        if not unicast:
            block += [(_LD_MEM, 0, 0, 0), (_JEQ, 0, 0, 255)]
        block += [(_RET, 0, 0, keep), (_RET, 0, 0, drop)]
        # each test jumps to the block's drop on failure; the VRID test to the next block
        for i, (code, _, _, k) in enumerate(block):
            if code == _JEQ:
                block[i] = (code, 0, len(block) - 2 - i, k)
        program += [(_LDB_IND, 0, 0, 1), (_JEQ, 0, len(block), vrid), *block]
    program.append((_RET, 0, 0, drop))
    return b"".join(_BPF_INSN.pack(*insn) for insn in program)


class VrrpSocket:
    """A non-blocking raw VRRP socket on one interface for one address family."""

    def __init__(
        self, family: int, ifname: str, ifindex: int, groups: tuple[IPAddress, ...], rcvbuf: int | None = None
    ) -> None:
        self.family, self.ifname, self.ifindex = family, ifname, ifindex
        af = socket.AF_INET if family == 4 else socket.AF_INET6
        self.sock = socket.socket(af, socket.SOCK_RAW | socket.SOCK_NONBLOCK, IPPROTO_VRRP)
        try:
            if rcvbuf is not None:
                self.set_rcvbuf(rcvbuf, force=True)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
            self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            if family == 4:
                self._setup_ipv4()
            else:
                self._setup_ipv6()
            for group in groups:
                self.join(group)
        except OSError:
            self.sock.close()
            raise

    def set_rcvbuf(self, size: int, force: bool = False) -> None:
        """SO_RCVBUF (the kernel doubles it); ``force``: past net.core.rmem_max where root may."""
        size = min(size, 2**31 - 1)
        if force:
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, size)
                return
            except PermissionError:
                pass
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)

    def join(self, group: IPAddress, join: bool = True) -> None:
        """Join (or leave) multicast ``group`` on the socket's interface."""
        if self.family == 4:
            mreqn = struct.pack("4s4si", group.packed, bytes(4), self.ifindex)
            option = socket.IP_ADD_MEMBERSHIP if join else socket.IP_DROP_MEMBERSHIP
            self.sock.setsockopt(socket.IPPROTO_IP, option, mreqn)
        else:
            option = socket.IPV6_JOIN_GROUP if join else socket.IPV6_LEAVE_GROUP
            self.sock.setsockopt(socket.IPPROTO_IPV6, option, group.packed + struct.pack("@I", self.ifindex))

    def _setup_ipv4(self) -> None:
        s = self.sock
        s.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, VRRP_TTL)

    def _setup_ipv6(self) -> None:
        s = self.sock
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 0)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, VRRP_TTL)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, VRRP_TTL)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, self.ifindex)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS, TOS_INTERNETWORK_CONTROL)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)

    def fileno(self) -> int:
        return self.sock.fileno()

    def set_filter(self, program: bytes) -> None:
        """Attach a classic BPF program (:func:`vrrp_filter`), replacing the one before."""
        instructions = array("B", program)
        address, _ = instructions.buffer_info()
        fprog = struct.pack("@HP", len(program) // _BPF_INSN.size, address)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)

    def kernel_drops(self) -> int:
        """Packets the kernel dropped because this socket's receive buffer was full."""
        meminfo = self.sock.getsockopt(socket.SOL_SOCKET, SO_MEMINFO, 4 * SK_MEMINFO_VARS)
        return struct.unpack_from("@I", meminfo, 4 * SK_MEMINFO_DROPS)[0]

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
        if flags & _MSG_TRUNC:
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


class ReplaySocket:
    """What the early listener (tandem.vrrp.early) heard on a channel's interface — IP packets, header
    included, with their arrival times — read as from the channel's :class:`VrrpSocket`."""

    def __init__(self, family: int, ifname: str, heard: Iterable[tuple[bytes, float]]) -> None:
        self.family, self.ifname = family, ifname
        self._heard = iter(heard)

    def receive(self) -> tuple[Received, float]:
        for packet, arrived in self._heard:
            return (split_ipv4(packet) if self.family == 4 else _split_ipv6(packet)), arrived
        raise BlockingIOError


def _split_ipv6(packet: bytes) -> Received:
    """An IPv6 packet (without extension headers: the early listener keeps next header 112 only)."""
    if len(packet) < _IPV6_HEADER_SIZE:
        raise Dropped(Drop.TRUNCATED)
    end = _IPV6_HEADER_SIZE + int.from_bytes(packet[4:6], "big")
    src, dst = cached_ip_address(packet[8:24]), cached_ip_address(packet[24:40])
    return Received(src, dst, packet[7], packet[_IPV6_HEADER_SIZE:end])


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
