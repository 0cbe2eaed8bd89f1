"""track_process: count the processes each ``vrrp_track_process`` matches, report quorum gained/lost.

Theory of operation
-------------------
:func:`matches` decides whether one process (its comm and command line, as /proc shows them) is one a
track process counts; :class:`Quorum` turns counts into verdicts, sans-IO: ``count(n, now)`` and
``expire(now)`` return the new verdict when there is one (``True``: quorum ≤ n ≤ quorum_max held long
enough). A gained quorum must last ``fork_delay`` before it counts, a lost one ``terminate_delay``; a
change back within the delay cancels it. The first count decides at once. keepalived applies
fork_delay only to quorum gained by a fork (and reports at once when an exec completes it); a /proc
scan cannot tell a fork from an exec, so Tandem applies it to every gain, in both modes.

:class:`ProcessWatcher` is the I/O: the kernel's process connector (exec, comm change and exit
events, as keepalived uses) where it works, which is only in the initial network namespace; elsewhere
(a container or ``ip netns exec``) it says so once and scans /proc every ``POLL_INTERVAL``. Either way
a full scan starts it, and the connector falls back to scanning when it loses events.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from tandem.config.model import TrackProcess

log = logging.getLogger("tandem.track")
POLL_INTERVAL = 1.0  # s between /proc scans where the process connector is not available
CMDLINE_LIMIT = 4096  # bytes of /proc/PID/cmdline read: enough for every match, bounded per process


def matches(track: TrackProcess, comm: str, cmdline: bytes) -> bool:
    """Whether a process with ``comm`` and NUL-separated ``cmdline`` counts for ``track``."""
    if not track.full_command:
        return comm == track.process
    words = cmdline.rstrip(b"\0").split(b"\0") if cmdline else []
    if not words or os.fsdecode(words[0]) != track.process:
        return False
    if track.param_match is None:
        return True
    want, have = [os.fsencode(p) for p in track.params], words[1:]
    if track.param_match == "exact":
        return have == want
    if len(have) < len(want):
        return False
    if track.param_match == "partial":
        return have[: len(want)] == want
    # initial: the arguments given are the first ones, the last of them possibly cut short
    return not want or (have[: len(want) - 1] == want[:-1] and have[len(want) - 1].startswith(want[-1]))


@dataclass
class Quorum:
    """The verdict of one track process from its counts over time."""

    track: TrackProcess
    up: bool | None = None  # the verdict reported last (None: nothing counted yet)
    pending: tuple[float, bool] | None = None  # (when, verdict) waiting out a delay

    def wanted(self, count: int) -> bool:
        high = self.track.quorum_max
        return self.track.quorum <= count and (high is None or count <= high)

    def count(self, count: int, now: float) -> bool | None:
        """Feed the current count; the new verdict if it changes now."""
        want = self.wanted(count)
        if self.up is None or want == self.up:
            self.pending = None
            if self.up is None:
                self.up = want
                return want
            return None
        delay = self.track.fork_delay if want else self.track.terminate_delay
        if delay <= 0:
            self.up, self.pending = want, None
            return want
        if self.pending is None:
            self.pending = (now + delay, want)
        return None

    def expire(self, now: float) -> bool | None:
        """The delayed verdict, once its delay has passed."""
        if self.pending is None or now < self.pending[0]:
            return None
        self.up, self.pending = self.pending[1], None
        return self.up


# --- /proc and the process connector ------------------------------------------------------------------


def read_process(pid: int, need_cmdline: bool) -> tuple[str, bytes] | None:
    """(comm, cmdline) of a live, non-zombie process; None when it is gone or unreadable."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read(512)
        cmdline = b""
        if need_cmdline:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                cmdline = handle.read(CMDLINE_LIMIT)
    except OSError:
        return None
    head, _, tail = stat.rpartition(b")")
    if not head or tail[1:2] == b"Z":  # "pid (comm) S ...": comm may itself hold ')'
        return None
    return os.fsdecode(head.partition(b"(")[2]), cmdline


def process_ids() -> Iterable[int]:
    with os.scandir("/proc") as entries:
        for entry in entries:
            if entry.name.isdigit():
                yield int(entry.name)


NETLINK_CONNECTOR, CN_IDX_PROC, CN_VAL_PROC, PROC_CN_MCAST_LISTEN = 11, 1, 1, 1
PROC_EVENT_FORK, PROC_EVENT_EXEC, PROC_EVENT_COMM, PROC_EVENT_EXIT = 0x1, 0x2, 0x200, 0x80000000
_NLMSG = struct.Struct("=IHHII")
_CN_MSG = struct.Struct("=IIIIHH")
_EVENT = struct.Struct("=IIQ")  # what, cpu, timestamp; then the event's own fields
_PIDS = struct.Struct("=iiii")  # fork: parent pid/tgid, child pid/tgid; exec/comm/exit: pid, tgid, ...


def open_connector() -> socket.socket:
    """A socket subscribed to process events; OSError where the kernel refuses (not the initial netns)."""
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM | socket.SOCK_NONBLOCK, NETLINK_CONNECTOR)
    try:
        sock.bind((0, CN_IDX_PROC))
        listen = struct.pack("=I", PROC_CN_MCAST_LISTEN)
        message = _CN_MSG.pack(CN_IDX_PROC, CN_VAL_PROC, 0, 0, len(listen), 0) + listen
        sock.send(_NLMSG.pack(_NLMSG.size + len(message), 3, 0, 0, 0) + message)  # 3: NLMSG_DONE
    except OSError:
        sock.close()
        raise
    return sock


def parse_events(data: bytes) -> Iterable[tuple[int, int, int]]:
    """(what, pid, child) of each process event in a datagram (child only for forks; threads left out)."""
    offset = 0
    while offset + _NLMSG.size <= len(data):
        length = _NLMSG.unpack_from(data, offset)[0]
        body = offset + _NLMSG.size + _CN_MSG.size
        if length < _NLMSG.size or body + _EVENT.size + _PIDS.size > len(data):
            return
        what = _EVENT.unpack_from(data, body)[0]
        first, first_tgid, second, second_tgid = _PIDS.unpack_from(data, body + _EVENT.size)
        if what == PROC_EVENT_FORK and second == second_tgid:
            yield what, first_tgid, second
        elif what in (PROC_EVENT_EXEC, PROC_EVENT_COMM, PROC_EVENT_EXIT) and first == first_tgid:
            yield what, first, 0
        offset += (length + 3) & ~3


class ProcessWatcher:
    """``on_quorum(name, up)`` for each track process at start and whenever its verdict changes."""

    def __init__(self, tracks: Iterable[TrackProcess], on_quorum: Callable[[str, bool], None]) -> None:
        self.tracks = tuple(tracks)
        self.on_quorum = on_quorum
        self.quorums = {t.name: Quorum(t) for t in self.tracks}
        self.members: dict[int, set[str]] = {}  # pid → the track processes it counts for
        self._cmdline = any(t.full_command for t in self.tracks)
        self._expiry: asyncio.TimerHandle | None = None

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            sock = open_connector()
        except OSError as error:
            log.info(
                "track_process: no process events here (%s); scanning /proc every %g s", error, POLL_INTERVAL
            )
            while True:
                self.scan(loop.time())
                await asyncio.sleep(POLL_INTERVAL)
        readable = asyncio.Event()
        loop.add_reader(sock, readable.set)
        try:
            self.scan(loop.time())
            while True:
                await readable.wait()
                readable.clear()
                self._read(sock, loop.time())
        finally:
            loop.remove_reader(sock)
            sock.close()
            if self._expiry is not None:
                self._expiry.cancel()

    def scan(self, now: float) -> None:
        """Count from a full look at /proc."""
        self.members = {}
        for pid in process_ids():
            self._look_at(pid)
        self._report(now)

    def _read(self, sock: socket.socket, now: float) -> None:
        while True:
            try:
                data = sock.recv(65536)
            except BlockingIOError:
                break
            except OSError:  # ENOBUFS: events were lost; what runs now is what /proc says
                self.scan(now)
                return
            for what, pid, child in parse_events(data):
                if what == PROC_EVENT_FORK:
                    if pid in self.members:
                        self.members[child] = set(self.members[pid])
                elif what == PROC_EVENT_EXIT:
                    self.members.pop(pid, None)
                else:
                    self.members.pop(pid, None)
                    self._look_at(pid)
        self._report(now)

    def _look_at(self, pid: int) -> None:
        seen = read_process(pid, self._cmdline)
        if seen is None:
            return
        counted = {t.name for t in self.tracks if matches(t, *seen)}
        if counted:
            self.members[pid] = counted

    def _report(self, now: float) -> None:
        counts = dict.fromkeys(self.quorums, 0)
        for names in self.members.values():
            for name in names:
                counts[name] += 1
        for name, quorum in self.quorums.items():
            if (verdict := quorum.count(counts[name], now)) is not None:
                self.on_quorum(name, verdict)
        self._arm_expiry()

    def _arm_expiry(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        due = [q.pending[0] for q in self.quorums.values() if q.pending is not None]
        if due:
            self._expiry = asyncio.get_running_loop().call_at(min(due), self._on_expiry)

    def _on_expiry(self) -> None:
        self._expiry = None
        now = asyncio.get_running_loop().time()
        for name, quorum in self.quorums.items():
            if (verdict := quorum.expire(now)) is not None:
                self.on_quorum(name, verdict)
        self._arm_expiry()
