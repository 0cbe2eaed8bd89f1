"""Cold-start convergence: 200 VRRPv3 instances at 0.1 s, both nodes started at once.

h1 (priority 200) and h2 (priority 100) start together, every instance in state BACKUP. The switch
capture decides: an instance has converged once h1 advertises it and h2 never does again; the start has
converged at the latest instance's moment. It is watched until h1 holds every VIP and h2 none, then
HOLD seconds more ("stays so"), at most TIMEOUT seconds. Goal: every start within 2 × MDI.
Reported from process start (includes each daemon's own start-up) and from the first advert on the
wire (the protocol's part), with h2's stray adverts and the CPU both daemons burned by then. Both
daemons share one pinned CPU, so each one's start-up is slowed by the other's. The switch capture can
miss a few % of frames in 200-advert bursts (see harness.WireCapture): stray counts are lower bounds.
tandemd is started STARTS times; keepalived, whose bad starts take tens of seconds, KEEPALIVED_STARTS
times, interleaved with tandemd's first ones. Run: ``python -m bench vrrp_coldstart``.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from pathlib import Path

from tandemlab import Lab

from bench.harness import (
    BACKUP_PRIORITY,
    KINDS,
    WireCapture,
    cpu_seconds,
    harness_pinned,
    load_note,
    mdi,
    ratio,
    settled,
    spread,
    start_pair,
    stop_all,
    table,
    wait_for,
)

INSTANCES, VERSION, ADVERT = 200, 3, 0.1
STARTS, KEEPALIVED_STARTS = 20, 4
HOLD, TIMEOUT = 2.0, 20.0
GOAL = 2 * mdi(VERSION, ADVERT, BACKUP_PRIORITY)


def _one(lab, kind: str, workdir: Path) -> dict[str, float]:
    capture = WireCapture(lab, "vrrp")
    daemons = []
    try:
        daemons = start_pair(kind, lab, workdir, version=VERSION, advert=ADVERT, instances=INSTANCES)
        with contextlib.suppress(TimeoutError):  # judged from the capture: not converged
            wait_for(lambda: settled(lab, INSTANCES), TIMEOUT, "", poll=0.1)
        time.sleep(HOLD)
        cpu = sum(sum(cpu_seconds(d.pids).values()) for d in daemons)
    finally:
        frames = capture.stop()
        stop_all(lab, daemons)
    end = frames[-1].ts if frames else time.time()
    master = lab.hosts[0].name
    first_master: dict[int, float] = {}
    last_master: dict[int, float] = {}
    last_backup: dict[int, float] = {}
    strays = 0
    for f in frames:
        if not f.priority:
            continue
        if f.sender == master:
            first_master.setdefault(f.vrid, f.ts)
            last_master[f.vrid] = f.ts
        else:
            last_backup[f.vrid] = f.ts
            strays += 1
    # an instance counts once h1 still advertises it at the end and h2 fell silent well before
    done = [
        max(first_master[v], last_backup.get(v, 0.0))
        for v in first_master
        if last_master[v] > end - 3 * ADVERT and last_backup.get(v, 0.0) < end - HOLD / 2
    ]
    started = min(d.started for d in daemons)
    converged = max(done) if len(done) == INSTANCES else float("inf")
    return {
        "from start": converged - started,
        "from first advert": converged - frames[0].ts if frames else float("inf"),
        "strays": strays,
        "cpu": cpu,
    }


def run() -> str:
    runs: dict[str, list[dict[str, float]]] = {kind: [] for kind in KINDS}
    with tempfile.TemporaryDirectory() as tmp, Lab(hosts=2) as lab, harness_pinned():
        for start in range(STARTS):
            for kind in KINDS if start < KEEPALIVED_STARTS else KINDS[:1]:
                runs[kind].append(_one(lab, kind, Path(tmp)))
    rows = []
    for metric, fmt in (("from start", "{:.2f}"), ("from first advert", "{:.2f}")):
        ours, theirs = ([r[metric] for r in runs[kind]] for kind in KINDS)
        within = [f"{sum(v <= GOAL for v in values)} / {len(values)}" for values in (ours, theirs)]
        rows.append([f"s {metric} to converged", spread(ours, fmt), spread(theirs, fmt), ratio(ours, theirs)])
        rows.append([f"starts within 2 × MDI ({GOAL:.3f} s), {metric}", *within, ""])
    for metric, label, fmt in (
        ("strays", "adverts from the backup (h2) during the start", "{:.0f}"),
        ("cpu", "CPU s of both daemons until HOLD after settling", "{:.2f}"),
    ):
        ours, theirs = ([r[metric] for r in runs[kind]] for kind in KINDS)
        rows.append([label, spread(ours, fmt), spread(theirs, fmt), ratio(ours, theirs)])
    counts = ", ".join(f"{kind} {len(runs[kind])}" for kind in KINDS)
    return (
        f"## Cold-start convergence, {INSTANCES} × VRRPv{VERSION} {ADVERT:g} s\n\n"
        f"Both nodes started at once; min / median / max over starts ({counts}; keepalived's interleaved "
        f"with tandemd's first ones; each watched ≤ {TIMEOUT:g} s + {HOLD:g} s, inf = never converged). "
        f"{load_note()}.\n\n" + table(["metric", "tandemd", "keepalived", "median ratio"], rows)
    )


if __name__ == "__main__":
    print(run())
