"""VRRP CPU per advert and memory with 200 instances, tandemd pair vs keepalived pair, ABAB.

h1 (priority 200) becomes master of all 200 instances first, then h2 (priority 100) starts as backup
(cold start is bench_vrrp_coldstart's subject); measuring starts 6 s after that, once the delayed GARP
burst is over. The CPU time of each daemon's process tree (keepalived: parent + VRRP child; scheduler
time, i.e. utime + stime at ns resolution) is taken over a fixed window — 15 s at 1 s, 8 s at 0.1 s
instead of BASELINES.md's 60 s, to keep the run bounded — and divided by the adverts the master sent in
it (h1's link TX counter; the backup receives the same ones). A run takes 20-30 s, so 4 runs per daemon
at 1 s and 6 at 0.1 s rather than 8. RSS is summed over the process tree at the end of the window.
Run: ``python -m bench vrrp_cpu``.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from tandemlab import Lab

from bench.harness import (
    KINDS,
    alternate,
    cpu_seconds,
    harness_pinned,
    link_packets,
    load_note,
    ratio,
    rss_mb,
    settled,
    spread,
    start_pair,
    stop_all,
    table,
    wait_for,
)

INSTANCES = 200
# (VRRP version, advert interval s, window s, repetitions per daemon); v2 cannot advertise below 1 s
SETTINGS = ((2, 1.0, 15.0, 4), (3, 0.1, 8.0, 6))
GARP_DELAY = 6.0  # both send a second GARP burst 5 s after becoming master: let it pass first
ROLES = ("master", "backup")


def _one(lab, kind: str, version: int, advert: float, window: float, workdir: Path) -> dict[str, float]:
    """µs per advert and MB RSS, for the master and the backup."""
    daemons = start_pair(
        kind, lab, workdir, version=version, advert=advert, instances=INSTANCES, staggered=True
    )
    try:
        wait_for(lambda: settled(lab, INSTANCES), 30, f"{kind} pair settles", poll=0.2)
        time.sleep(GARP_DELAY)
        trees = [d.pids for d in daemons]
        sent = link_packets(lab.hosts[0])[0]
        before = [cpu_seconds(pids) for pids in trees]
        time.sleep(window)
        after = [cpu_seconds(pids) for pids in trees]
        sent = link_packets(lab.hosts[0])[0] - sent
        if not settled(lab, INSTANCES):
            raise RuntimeError(f"{kind} pair did not stay settled during the CPU window")
        rss = [rss_mb(pids) for pids in trees]
    finally:
        stop_all(lab, daemons)
    result = {"adverts/s": sent / window}
    for role, b, a, mb in zip(ROLES, before, after, rss, strict=True):
        used = sum(a[pid] - b.get(pid, 0.0) for pid in a)
        result[f"{role} µs"] = used / sent * 1e6
        result[f"{role} CPU %"] = used / window * 100
        result[f"{role} MB"] = mb
    return result


def run() -> str:
    rows = []
    with tempfile.TemporaryDirectory() as tmp, Lab(hosts=2) as lab, harness_pinned():
        for version, advert, window, reps in SETTINGS:
            runs: dict[str, list[dict[str, float]]] = {kind: [] for kind in KINDS}
            for _, kind in alternate(reps):
                runs[kind].append(_one(lab, kind, version, advert, window, Path(tmp)))
            for metric, fmt in (
                ("adverts/s", "{:.0f}"),
                ("master µs", "{:.1f}"),
                ("backup µs", "{:.1f}"),
                ("master CPU %", "{:.2f}"),
                ("backup CPU %", "{:.2f}"),
                ("master MB", "{:.1f}"),
                ("backup MB", "{:.1f}"),
            ):
                ours, theirs = ([r[metric] for r in runs[kind]] for kind in KINDS)
                label = f"{INSTANCES} × {advert:g} s (v{version}, {window:g} s window, {reps} runs each)"
                rows.append([label, metric, spread(ours, fmt), spread(theirs, fmt), ratio(ours, theirs)])
    header = ["setting", "metric", "tandemd", "keepalived", "median ratio (goal ≤ 1.5)"]
    return (
        "## VRRP CPU per advert and RSS, 200 instances\n\n"
        "µs of CPU (utime + stime, from schedstat, of the daemon's process tree) per advert sent "
        "(master) or received (backup), CPU % of one core, and RSS in MB; min / median / max, pairs of "
        f"daemons alternating (ABAB). {load_note()}.\n\n" + table(header, rows)
    )


if __name__ == "__main__":
    print(run())
