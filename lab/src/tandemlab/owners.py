"""Who holds a virtual address, over time: every lab host's addresses read over netlink every few ms
(an address counts where its interface is up with carrier, as FRR's Backups keep theirs in protodown).

:class:`OwnerSampler` keeps one rtnetlink socket per host, opened inside the host's namespace (``setns``
in the sampler's own thread, which then returns to its namespace: a socket stays in the namespace it was
made in), and asks each for its addresses in a loop. Hosts can be set aside (``set_aside``): a host
whose daemon was SIGKILLed keeps its stale VIP, and one whose link is down cannot answer for it, so
neither counts as an owner until it is ``restored``. :class:`Timeline` answers the fault-injection
questions: the longest span with two or more owners, with none, and how often the sole owner changed.
Times are ``time.time()``, the scale of packet captures.
"""

from __future__ import annotations

import ctypes
import ipaddress
import itertools
import os
import socket
import struct
import threading
import time
from dataclasses import dataclass, field

CLONE_NEWNET = 0x40000000
RTM_GETADDR, RTM_NEWADDR = 22, 20
RTM_GETLINK, RTM_NEWLINK = 18, 16
IFF_UP, IFF_LOWER_UP = 0x1, 0x10000
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
NLMSG_DONE, NLMSG_ERROR = 3, 2
IFA_ADDRESS, IFA_LOCAL = 1, 2
_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        error = ctypes.get_errno()
        raise OSError(error, os.strerror(error))


def netlink_socket_in(netns: str) -> socket.socket:
    """An rtnetlink socket inside ``netns`` (this thread returns to its own namespace afterwards)."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{netns}", os.O_RDONLY)
    try:
        _setns(target)
        try:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
        finally:
            _setns(own)
    finally:
        os.close(own)
        os.close(target)
    sock.settimeout(1.0)
    return sock


def _replies(sock: socket.socket, seq: int):
    """(type, message) of the netlink messages answering request ``seq``, until a malformed one."""
    while True:
        data = sock.recv(65536)
        offset = 0
        while offset + 16 <= len(data):
            length, kind, _, msg_seq, _ = struct.unpack_from("=IHHII", data, offset)
            if length < 16:
                return
            if msg_seq == seq:
                yield kind, data[offset : offset + length]
            offset += (length + 3) & ~3


def read_addresses(sock: socket.socket, seq: int) -> dict[bytes, set[int]]:
    """Every local address (packed bytes) of the socket's namespace, with the indexes of the interfaces
    that carry it: one RTM_GETADDR dump."""
    request = struct.pack("=IHHII", 16 + 8, RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, seq, 0)
    sock.send(request + struct.pack("=BBBBI", socket.AF_UNSPEC, 0, 0, 0, 0))
    found: dict[bytes, set[int]] = {}
    for kind, message in _replies(sock, seq):
        if kind in (NLMSG_DONE, NLMSG_ERROR):
            break
        if kind == RTM_NEWADDR:
            (index,) = struct.unpack_from("=I", message, 20)  # struct ifaddrmsg's ifa_index
            for address in _attributes(message[24:]):
                found.setdefault(address, set()).add(index)
    return found


def link_running(sock: socket.socket, seq: int, index: int) -> bool:
    """Whether interface ``index`` is up with carrier (IFF_UP and IFF_LOWER_UP): one RTM_GETLINK. FRR's
    vrrpd keeps a Backup's VIPs on a macvlan in protodown: present, but without carrier."""
    request = struct.pack("=IHHII", 16 + 16, RTM_GETLINK, NLM_F_REQUEST, seq, 0)
    sock.send(request + struct.pack("=BxHiII", socket.AF_UNSPEC, 0, index, 0, 0))
    for kind, message in _replies(sock, seq):
        if kind != RTM_NEWLINK:
            return False  # NLMSG_ERROR: the interface is gone
        (flags,) = struct.unpack_from("=I", message, 24)  # struct ifinfomsg's ifi_flags
        return flags & (IFF_UP | IFF_LOWER_UP) == IFF_UP | IFF_LOWER_UP
    return False


def _attributes(attrs: bytes) -> set[bytes]:
    found = set()
    offset = 0
    while offset + 4 <= len(attrs):
        length, kind = struct.unpack_from("=HH", attrs, offset)
        if length < 4:
            break
        if kind in (IFA_ADDRESS, IFA_LOCAL):
            found.add(attrs[offset + 4 : offset + length])
        offset += (length + 3) & ~3
    return found


@dataclass
class Timeline:
    """Samples ``(time, owners)``; ``owners`` is the frozenset of host names holding the address."""

    address: str
    samples: list[tuple[float, frozenset[str]]]
    marks: list[tuple[float, str]] = field(default_factory=list)

    def spans(
        self, since: float | None = None, until: float | None = None
    ) -> list[tuple[float, float, frozenset]]:
        """(start, end, owners) runs of equal owners, clipped to [since, until]. A run lasts from its first
        sample to the next run's first sample: the true span is known to within one sampling interval."""
        runs: list[list] = []
        for ts, owners in self.samples:
            if runs and runs[-1][2] == owners:
                continue
            if runs:
                runs[-1][1] = ts
            runs.append([ts, ts, owners])
        if runs and self.samples:
            runs[-1][1] = self.samples[-1][0]
        low = since if since is not None else float("-inf")
        high = until if until is not None else float("inf")
        return [(max(a, low), min(b, high), o) for a, b, o in runs if b >= low and a <= high]

    def longest(self, predicate, since: float | None = None, until: float | None = None) -> float:
        return max((b - a for a, b, o in self.spans(since, until) if predicate(o)), default=0.0)

    def dual_max(self, since: float | None = None, until: float | None = None) -> float:
        """The longest span in which two or more hosts held the address."""
        return self.longest(lambda owners: len(owners) > 1, since, until)

    def unowned_max(self, since: float | None = None, until: float | None = None) -> float:
        return self.longest(lambda owners: not owners, since, until)

    def sole_changes(
        self, since: float | None = None, until: float | None = None
    ) -> list[tuple[float, str, str]]:
        """(time, old, new) each time the sole owner became another host (transient none/both ignored)."""
        changes, current = [], None
        for a, _, owners in self.spans(since, until):
            if len(owners) == 1:
                (owner,) = owners
                if current is not None and owner != current:
                    changes.append((a, current, owner))
                current = owner
        return changes

    def owners_at(self, when: float) -> frozenset[str]:
        before = [owners for ts, owners in self.samples if ts <= when]
        return before[-1] if before else frozenset()

    def first_time(self, predicate, since: float) -> float | None:
        """When, at or after ``since``, the owners first satisfied ``predicate``."""
        return next((ts for ts, owners in self.samples if ts >= since and predicate(owners)), None)

    def resolution(self, since: float | None = None) -> float:
        """The longest gap between two samples (the sampler's thread may be starved on a busy machine)."""
        times = [ts for ts, _ in self.samples if since is None or ts >= since]
        return max((b - a for a, b in itertools.pairwise(times)), default=0.0)


class OwnerSampler:
    """Sample which of ``hosts`` (tandemlab Hosts) hold ``address``; a context manager giving a Timeline."""

    def __init__(self, hosts, address: str, interval: float = 0.005):
        self.hosts = list(hosts)
        self.address = str(ipaddress.ip_address(address.split("/")[0]))
        self._packed = ipaddress.ip_address(self.address).packed
        self.interval = interval
        self._aside: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._samples: list[tuple[float, frozenset[str]]] = []
        self._marks: list[tuple[float, str]] = []
        self._sockets = {h.name: netlink_socket_in(h.netns) for h in self.hosts}
        self._thread = threading.Thread(target=self._run, name="owner-sampler", daemon=True)
        self._error: BaseException | None = None

    def __enter__(self) -> OwnerSampler:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def start(self) -> OwnerSampler:
        self._thread.start()
        while not self._samples and self._thread.is_alive():
            time.sleep(0.001)
        return self

    def _serves(self, sock: socket.socket, seq) -> bool:
        """The address is on an interface that is up with carrier."""
        indexes = read_addresses(sock, next(seq)).get(self._packed, ())
        return any(link_running(sock, next(seq), index) for index in indexes)

    def _run(self) -> None:
        seq = itertools.count(1)
        try:
            while not self._stop.is_set():
                now = time.time()
                with self._lock:
                    aside = set(self._aside)
                candidates = [(n, sock) for n, sock in self._sockets.items() if n not in aside]
                owners = frozenset(n for n, sock in candidates if self._serves(sock, seq))
                self._samples.append((now, owners))
                self._stop.wait(self.interval)
        except BaseException as error:  # reported by stop(): a sampler that died must not pass silently
            self._error = error

    def mark(self, label: str) -> float:
        now = time.time()
        self._marks.append((now, label))
        return now

    def set_aside(self, host, why: str = "set aside") -> float:
        """From now on ``host`` does not count as an owner (its daemon is dead, its link is down)."""
        with self._lock:
            self._aside.add(host.name)
        return self.mark(f"{host.name} {why}")

    def restore(self, host, why: str = "restored") -> float:
        with self._lock:
            self._aside.discard(host.name)
        return self.mark(f"{host.name} {why}")

    def owners(self) -> frozenset[str]:
        """The latest sample."""
        return self._samples[-1][1] if self._samples else frozenset()

    def wait(self, predicate, timeout: float, since: float | None = None) -> float | None:
        """Wait until the owners satisfy ``predicate`` (in the latest sample, or any sample at or after
        ``since``); the time of that sample, or None at the timeout."""
        start = len(self._samples) - 1 if self._samples else 0
        if since is not None:
            start = next((i for i, (ts, _) in enumerate(self._samples) if ts >= since), len(self._samples))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for ts, owners in self._samples[start:]:
                if predicate(owners) and (since is None or ts >= since):
                    return ts
            start = max(len(self._samples) - 1, 0)
            time.sleep(self.interval)
        return None

    def stop(self) -> Timeline:
        if not self._stop.is_set():
            self._stop.set()
            self._thread.join(5)
            for sock in self._sockets.values():
                sock.close()
        if self._error is not None:
            raise RuntimeError(f"owner sampler failed: {self._error!r}") from self._error
        return Timeline(self.address, list(self._samples), list(self._marks))

    def timeline(self) -> Timeline:
        """What has been sampled so far (the sampler keeps running)."""
        return Timeline(self.address, list(self._samples), list(self._marks))
