"""Shared harness for the VRRP benchmarks: daemons in lab hosts, configs, wire capture, CPU/RSS, tables.

tandemd runs from a snapshot of the runtime at one commit (``git archive``; default HEAD, set
``TANDEM_BENCH_REV`` to another revision, or to ``worktree`` for the files as they are), so colleagues'
edits in progress never change the daemon in the middle of a run.

Fairness rules (../shared/BASELINES.md): both daemons run in the same lab and the same run, alternating
A/B/A/B; both log at the same level (``-l``, console discarded); daemons are pinned to the last CPU and
the harness (with its tcpdumps) to the others, where the machine has more than one.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from scapy.utils import RawPcapReader
from tandemlab.capture import Capture
from tandemlab.vrrp_config import VIP_NET, vrrp_config

REPO = Path(__file__).resolve().parent.parent
REV = os.environ.get("TANDEM_BENCH_REV", "HEAD")
COMMIT = (
    "worktree"
    if REV == "worktree"
    else subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", REV], capture_output=True, text=True, check=True
    ).stdout.strip()
)
KINDS = ("tandemd", "keepalived")
DAEMON_CPU = os.cpu_count() - 1 if (os.cpu_count() or 1) > 1 else None


# --- timers (RFC 3768 / RFC 5798 §6.1) -------------------------------------------------------------


def skew(version: int, advert: float, priority: int) -> float:
    return (256 - priority) * (advert if version == 3 else 1.0) / 256


def mdi(version: int, advert: float, priority: int) -> float:
    return 3 * advert + skew(version, advert, priority)


# --- configs and daemons ---------------------------------------------------------------------------


@dataclass
class Daemon:
    """A tandemd or keepalived running in a lab host, with its pid files."""

    kind: str
    host: object
    process: object  # tandemlab LabProcess
    vrrp_pidfile: Path
    started: float  # time.time() just before spawning, on the capture's clock

    @property
    def pids(self) -> list[int]:
        """The daemon's process and all its descendants (keepalived: parent + VRRP child)."""
        return process_tree(self.process.pid)

    def kill(self) -> None:
        """SIGKILL, VRRP child first: a keepalived child whose parent dies would still send priority 0."""
        with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
            os.kill(int(self.vrrp_pidfile.read_text()), signal.SIGKILL)
        self.process.kill()

    def stop(self, timeout: float = 10.0) -> None:
        self.process.stop(timeout)


def _tandem_env(workdir: Path) -> dict[str, str] | None:
    """Environment that runs tandemd from the snapshot at COMMIT (extracted once per workdir)."""
    if COMMIT == "worktree":
        return None
    source = workdir / f"tandem-{COMMIT}"
    if not source.exists():
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", COMMIT, "runtime/src"], capture_output=True, check=True
        ).stdout
        source.mkdir()
        subprocess.run(["tar", "-x", "-C", str(source)], input=archive, check=True)
        # bytecode as an installed wheel has it: with PYTHONDONTWRITEBYTECODE set, every start would
        # otherwise compile the whole package again
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(source)], check=True)
    return {**os.environ, "PYTHONPATH": str(source / "runtime" / "src")}


def start_daemon(kind: str, host, config: str, workdir: Path, log: Path | None = None) -> Daemon:
    """``kind`` (keepalived or tandemd) on ``host``; its console log (-l) to ``log``, or nowhere."""
    conf = workdir / f"{host.name}-{kind}.conf"
    conf.write_text(config)
    pidfiles = [workdir / f"{host.name}-{kind}.{n}.pid" for n in ("main", "vrrp", "check")]
    for pidfile in pidfiles:
        pidfile.unlink(missing_ok=True)
    flags = ["-f", str(conf), "-p", str(pidfiles[0]), "-r", str(pidfiles[1]), "-n", "-l"]
    env = None
    if kind == "keepalived":
        argv = ["keepalived", *flags, "-c", str(pidfiles[2]), "--vrrp"]
    else:
        argv = [sys.executable, "-m", "tandem.cli.tandemd", *flags]
        env = _tandem_env(workdir)
    if DAEMON_CPU is not None:
        argv = ["taskset", "-c", str(DAEMON_CPU), *argv]
    started = time.time()
    if log is None:
        process = host.spawn(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    else:
        with open(log, "wb") as output:
            process = host.spawn(argv, stdout=output, stderr=subprocess.STDOUT, env=env)
    return Daemon(kind, host, process, pidfiles[1], started)


def flush_vips(*hosts) -> None:
    for host in hosts:
        host.run(["ip", "addr", "flush", "dev", host.ifname, "to", VIP_NET], check=False)


def vip_count(host) -> int:
    """How many of the benchmark VIPs the host holds (one ``ip`` call, cheap enough to poll)."""
    out = host.run(["ip", "-o", "-4", "addr", "show", "dev", host.ifname, "to", VIP_NET], check=False)
    return len(out.stdout.splitlines())


def link_packets(host) -> tuple[int, int]:
    """(tx, rx) packet counters of the host's link: exact, unlike a switch capture, whose tcpdump
    misses frames when 200 adverts leave in the same millisecond."""
    stats = json.loads(host.run(["ip", "-s", "-j", "link", "show", "dev", host.ifname]).stdout)[0]["stats64"]
    return stats["tx"]["packets"], stats["rx"]["packets"]


@contextlib.contextmanager
def harness_pinned() -> Iterator[None]:
    """Keep this process (and the tcpdumps it starts) off the daemons' CPU."""
    if DAEMON_CPU is None:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, set(range(DAEMON_CPU)))
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def wait_for(predicate: Callable[[], bool], timeout: float, what: str, poll: float = 0.01) -> float:
    """Poll until true; returns time.time() when it was seen true."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout} s")
        time.sleep(poll)
    return time.time()


# --- /proc: CPU and memory -------------------------------------------------------------------------


def _stat(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def process_tree(root: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                parents[int(entry)] = int(_stat(int(entry))[1])
    tree, frontier = [root], [root]
    while frontier:
        children = [pid for pid, ppid in parents.items() if ppid in frontier]
        tree += children
        frontier = children
    return tree


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """CPU time of each live process (all its threads), in seconds, from /proc/PID/task/*/schedstat:
    the scheduler's on-CPU time in ns — utime + stime without their 10 ms tick granularity."""
    result = {}
    for pid in pids:
        with contextlib.suppress(OSError):
            total = 0
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                    total += int(f.read().split()[0])
            result[pid] = total / 1e9
    return result


def rss_mb(pids: list[int]) -> float:
    total_kb = 0
    for pid in pids:
        with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as f:
            total_kb += next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    return total_kb / 1024


# --- wire capture ----------------------------------------------------------------------------------


class Frame(NamedTuple):
    """One captured frame, decoded just enough: VRRP adverts and gratuitous ARPs."""

    ts: float
    sender: str  # lab host name
    vrid: int | None = None  # VRRP
    priority: int | None = None
    arp_src: str | None = None  # ARP: sender protocol address


def _decode(ts: float, sender: str, data: bytes) -> Frame | None:
    ethertype = int.from_bytes(data[12:14], "big")
    if ethertype == 0x0806 and len(data) >= 32:
        return Frame(ts, sender, arp_src=".".join(str(b) for b in data[28:32]))
    if ethertype == 0x0800 and len(data) > 34 and data[23] == 112:
        vrrp = data[14 + (data[14] & 0x0F) * 4 :]
    elif ethertype == 0x86DD and len(data) > 56 and data[20] == 112:
        vrrp = data[54:]
    else:
        return None
    return Frame(ts, sender, vrid=vrrp[1], priority=vrrp[2]) if len(vrrp) >= 3 else None


class WireCapture(Capture):
    """The lab's switch capture, read as :class:`Frame` tuples: scapy's dissection (~170 µs a packet)
    is far too slow for 200 instances at 0.1 s (thousands of adverts a second). In such bursts the
    switch's tcpdump misses a few % of frames (seen: 1913 of 2000 sent): count with :func:`link_packets`."""

    def __init__(self, lab, bpf_filter: str = "vrrp or arp"):
        super().__init__(lab.switch_netns, [h.switch_port for h in lab.hosts], bpf_filter)

    def _read(self) -> list[Frame]:
        frames = []
        for port in self._tcpdumps:
            path = self._dir / f"{port}.pcap"
            if not path.exists() or path.stat().st_size == 0:
                continue
            reader = RawPcapReader(str(path))
            scale = 1e-9 if reader.nano else 1e-6
            for data, meta in reader:
                frame = _decode(meta.sec + meta.usec * scale, port, data)
                if frame is not None:
                    frames.append(frame)
            reader.close()
        frames.sort(key=lambda frame: frame.ts)
        return frames


# --- statistics and tables -------------------------------------------------------------------------


def alternate(reps: int, kinds: tuple[str, ...] = KINDS) -> Iterator[tuple[int, str]]:
    """A/B/A/B: (rep, kind) pairs."""
    for rep in range(reps):
        for kind in kinds:
            yield rep, kind


def spread(values: list[float], fmt: str = "{:.1f}") -> str:
    """min / median / max."""
    return " / ".join(fmt.format(v) for v in (min(values), statistics.median(values), max(values)))


def ratio(ours: list[float], theirs: list[float]) -> str:
    """Ratio of medians; n/a when keepalived's median is (near) zero, negative or infinite."""
    a, b = statistics.median(ours), statistics.median(theirs)
    return f"{a / b:.2f}" if 1e-9 < b < math.inf and a < math.inf else "n/a"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def load_note() -> str:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    pinning = f"daemons pinned to CPU {DAEMON_CPU}, harness to the others" if DAEMON_CPU else "no pinning"
    return f"tandemd at {COMMIT}; load average {load} at the end; {os.cpu_count()} CPUs, {pinning}"


# --- a pair of daemons of one kind: h1 priority 200 (should be master), h2 priority 100 ---------------

MASTER_PRIORITY, BACKUP_PRIORITY = 200, 100


def start_pair(
    kind: str, lab, workdir: Path, *, version: int, advert: float, instances: int, staggered: bool = False
) -> list[Daemon]:
    """Both daemons, every instance in state BACKUP: at once (h1 first), or ``staggered``: h2 only once
    h1 holds every VIP (a steady state without the cold-start race)."""
    daemons = []
    for host, priority in zip(lab.hosts, (MASTER_PRIORITY, BACKUP_PRIORITY), strict=False):
        config = vrrp_config(host, version=version, advert=advert, priority=priority, instances=instances)
        daemons.append(start_daemon(kind, host, config, workdir))
        if staggered and priority == MASTER_PRIORITY:
            wait_for(lambda: settled(lab, instances), 30, f"{kind} on h1 master", poll=0.1)
    return daemons


def settled(lab, instances: int) -> bool:
    """h1 holds every VIP and h2 none."""
    return vip_count(lab.hosts[0]) == instances and vip_count(lab.hosts[1]) == 0


def stop_all(lab, daemons: list[Daemon]) -> None:
    for daemon in daemons:
        daemon.stop()
    flush_vips(*lab.hosts)
