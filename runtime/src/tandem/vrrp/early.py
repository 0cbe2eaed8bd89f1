"""Hearing adverts from the VRRP process's first moments, before its config and instances are ready.

A Backup's Master_Down_Timer starts at Startup (RFC 5798 §6.4.1): it takes over if it hears no better
master for Master_Down_Interval. The VRRP process spends its first tens of milliseconds (more under load)
importing Python and receiving its config before any instance can start, and a restarted higher-priority
node preempts only Master_Down_Interval after that. So tandemd listens first: an :class:`EarlyListener`
is opened as the supervisor's first act (:func:`for_daemon`), before it reads its arguments, and handed
to its first VRRP child (a restarted child opens its own as its first act) — one packet
socket per family (IP protocol 112 only, kept by a kernel filter; packet sockets need no IP group
membership, so nothing is sent: the VRRP groups' MACs are only added to every interface's multicast
filter), stamping each packet with its arrival time.

When the driver opens a channel the listener *covers* — the interface existed when listening began, its
multicast group is the default one, the process is still in the namespace it listened in, nothing was
dropped — the channel's Backups count Master_Down_Interval from when listening began, and once they have
started, what the listener heard on that interface before the channel's sockets existed is fed to them in
arrival order, as if read from the channel (then the channel is read as usual). Anything not covered
starts as before, from when its instance starts. A packet arriving while the channel's sockets are being
made may be fed twice (once from here, once from the channel): an advert heard twice changes nothing but
a counter. The packet sockets see a little more than the VRRP sockets would (no IP-layer checks): at
worst a Backup hears an advert the kernel would have dropped and waits longer, never less.

Imports only the standard library's socket, struct, array and os: it runs before anything else is loaded.
"""

from __future__ import annotations

import os
import socket
import struct
import time
from array import array

ETH_P = {4: 0x0800, 6: 0x86DD}
IPPROTO_VRRP = 112
# the VRRP groups (RFC 5798 §5.1.1.2, §5.1.2.2) as packed addresses and as link-layer multicast addresses
DEFAULT_GROUPS = {4: bytes((224, 0, 0, 18)), 6: bytes.fromhex("ff020000000000000000000000000012")}
GROUP_MACS = {4: bytes.fromhex("01005e000012"), 6: bytes.fromhex("333300000012")}
# linux/if_packet.h
SOL_PACKET, PACKET_ADD_MEMBERSHIP, PACKET_STATISTICS, PACKET_MR_MULTICAST = 263, 1, 6, 0
PACKET_OTHERHOST, PACKET_OUTGOING = 3, 4
SO_TIMESTAMPNS, SO_ATTACH_FILTER, SO_RCVBUFFORCE = 35, 26, 33
RCVBUF = 1 << 20
_MREQ = struct.Struct("@iHH8s")
_TIMESPEC = struct.Struct("@qq")
_TPACKET_STATS = struct.Struct("@II")
_BPF_INSN = struct.Struct("@HBBI")
# the protocol field: IPv4's at offset 9, IPv6's next header at 6 (a VRRP packet has no extension headers)
_PROTOCOL_OFFSET = {4: 9, 6: 6}
_RECV_SIZE, _ANCILLARY_SIZE = 4096, socket.CMSG_SPACE(_TIMESPEC.size)
ENV = "TANDEM_EARLY_LISTENER"  # the supervisor's listener, handed to its first VRRP child
# tandemd's arguments after which it runs no daemon: no listening then
NO_DAEMON = ("-t", "--config-test", "-v", "--version", "-h", "--help", "--signum", "-T", "--genhash")

Heard = tuple[str, bytes, float]  # (interface name, IP packet, arrival time on the time.time() scale)


def _protocol_filter(family: int) -> bytes:
    """Classic BPF: keep IP protocol 112 (the packet socket sees the packet from its IP header)."""
    program = [(0x30, 0, 0, _PROTOCOL_OFFSET[family]), (0x15, 0, 1, IPPROTO_VRRP), (0x06, 0, 0, 0xFFFFFFFF)]
    program.append((0x06, 0, 0, 0))
    return b"".join(_BPF_INSN.pack(*insn) for insn in program)


def for_daemon(argv: list[str]) -> EarlyListener | None:
    """In tandemd's supervisor, first of all: listening for its first VRRP child, unless ``argv`` asks
    for no daemon (``-t``, ``-v``, …)."""
    if any(arg.startswith(NO_DAEMON) for arg in argv):
        return None
    return EarlyListener.open()


def _netns() -> int:
    return os.stat("/proc/self/ns/net").st_ino


class EarlyListener:
    """Packet sockets listening for VRRP on every interface, from :meth:`open` until :meth:`close`."""

    def __init__(self) -> None:
        self.socks: dict[int, socket.socket] = {}
        self.interfaces: dict[int, dict[int, str]] = {}  # family → index → name, whose group MAC was added
        self.heard: dict[int, list[Heard]] = {4: [], 6: []}
        self.netns = _netns()
        self.since_wall = self.since = 0.0

    @classmethod
    def open(cls) -> EarlyListener | None:
        """Listening, or None when it cannot be done (no CAP_NET_RAW): everything then starts as before."""
        listener = cls()
        try:
            for family in (4, 6):
                listener._open(family)
        except OSError:
            listener.close()
            return None
        # after the sockets and their filters: from now on every advert is queued
        listener.since_wall, listener.since = time.time(), time.monotonic()
        return listener

    def handed(self) -> tuple[tuple[int, ...], str]:
        """For the VRRP child, which goes on listening on the same sockets (:meth:`inherited`): their
        file descriptors to pass, and the description to put in its environment as :data:`ENV`.
        (Interface names hold no whitespace, '/' or ':'.)"""
        parts = [repr(self.since), repr(self.since_wall), str(self.netns)]
        for family, sock in self.socks.items():
            interfaces = (f"{index}:{name}" for index, name in self.interfaces[family].items())
            parts.append("/".join((str(family), str(sock.fileno()), *interfaces)))
        return tuple(sock.fileno() for sock in self.socks.values()), " ".join(parts)

    @classmethod
    def inherited(cls) -> EarlyListener | None:
        """In the VRRP child: the listener its supervisor opened (:meth:`handed`), or None when there is
        none, or it listens in another network namespace than the child runs in (``-s``)."""
        described = os.environ.pop(ENV, "").split()
        if len(described) < 3:
            return None
        listener = cls()
        since, since_wall, netns, *families = described
        listener.since, listener.since_wall = float(since), float(since_wall)
        for family_block in families:
            family, fd, *interfaces = family_block.split("/")
            sock = listener.socks[int(family)] = socket.socket(fileno=int(fd))
            sock.setblocking(False)
            listener.interfaces[int(family)] = {int(i): n for i, n in (x.split(":", 1) for x in interfaces)}
        if int(netns) != listener.netns:
            listener.close()
            return None
        return listener

    def _open(self, family: int) -> None:
        kind = socket.SOCK_DGRAM | socket.SOCK_NONBLOCK  # packets from their IP header on
        sock = self.socks[family] = socket.socket(socket.AF_PACKET, kind, socket.htons(ETH_P[family]))
        program = array("B", _protocol_filter(family))
        fprog = struct.pack("@HP", len(program) // _BPF_INSN.size, program.buffer_info()[0])
        sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
        try:  # root may go past net.core.rmem_max
            sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RCVBUF)
        except PermissionError:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        joined = self.interfaces[family] = {}
        mac = GROUP_MACS[family]
        for index, name in socket.if_nameindex():
            membership = _MREQ.pack(index, PACKET_MR_MULTICAST, len(mac), mac)
            try:
                sock.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, membership)
            except OSError:  # an interface without a multicast filter to add to: not covered
                continue
            joined[index] = name

    def covers(self, family: int, ifindex: int, ifname: str, group: bytes) -> bool:
        """Whether every advert a channel on ``ifindex`` (``ifname``) would have read since :attr:`since`
        was heard: the interface was there then, ``group`` (packed) is the default one, the process is
        in the same network namespace, and nothing was dropped."""
        if family not in self.socks or self.interfaces[family].get(ifindex) != ifname:
            return False
        if group is not None and group != DEFAULT_GROUPS[family]:
            return False
        return _netns() == self.netns and self._read(family)

    def _read(self, family: int) -> bool:
        """Move what is queued into :attr:`heard`; False when the kernel dropped any (buffer full)."""
        sock, heard = self.socks[family], self.heard[family]
        while True:
            try:
                data, ancillary, _, address = sock.recvmsg(_RECV_SIZE, _ANCILLARY_SIZE)
            except BlockingIOError:
                break
            if address[2] in (PACKET_OTHERHOST, PACKET_OUTGOING) or not ancillary:
                continue
            seconds, nanoseconds = _TIMESPEC.unpack(ancillary[0][2])
            heard.append((address[0], data, seconds + nanoseconds * 1e-9))
        drops = _TPACKET_STATS.unpack(sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, _TPACKET_STATS.size))[1]
        if drops:  # the counters reset on reading: remember
            self.interfaces[family].clear()
        return bool(self.interfaces[family])

    def heard_on(self, family: int, ifname: str, until: float) -> list[tuple[bytes, float]]:
        """What arrived on ``ifname`` before ``until`` (time.time() scale), in arrival order."""
        self._read(family)
        heard = sorted((h for h in self.heard[family] if h[0] == ifname and h[2] < until), key=lambda h: h[2])
        return [(data, arrived) for _, data, arrived in heard]

    def close(self) -> None:
        for sock in self.socks.values():
            sock.close()
        self.socks.clear()
        self.heard.clear()
