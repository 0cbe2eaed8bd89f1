"""VRRP takeover: how long past the RFC minimum a node takes over, tandemd and keepalived side by side.

A keepalived peer and the node under test (tandemd or keepalived, alternating ABAB) share a lab segment;
the switch capture gives the times on the wire:
- SIGKILL: overshoot = node's first GARP − peer master's last advert − Master_Down_Interval;
- SIGTERM: reaction = node's first GARP − peer's priority-0 advert − Skew_Time;
- preemption: a higher-priority node (250) started while the peer (100) is master:
  start-up cost = node's first advert − process start − Master_Down_Interval; once it is master, its
  footprint: RSS of its VRRP process (tandemd's VRRP child, keepalived's VRRP child; the ``-r`` pid
  file) and of its whole process tree.
Run: ``python -m bench vrrp``.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tandemlab import Lab
from tandemlab.vrrp_config import vip, vrrp_config

from bench.harness import (
    KINDS,
    WireCapture,
    alternate,
    flush_vips,
    harness_pinned,
    load_note,
    mdi,
    process_tree,
    ratio,
    rss_mb,
    skew,
    spread,
    start_daemon,
    table,
    vip_count,
    wait_for,
)

REPS = 8
VRID = 1
FOOTPRINT = ("VRRP process MB", "process tree MB")  # RSS of the preempting node once master


@dataclass(frozen=True)
class Scenario:
    label: str
    version: int
    advert: float
    stop: str  # "kill", "term" or "preempt"
    priority: int  # of the node under test; the keepalived peer has 255 (kill, term) or 100 (preempt)

    @property
    def theory(self) -> float:
        if self.stop == "term":
            return skew(self.version, self.advert, self.priority)
        return mdi(self.version, self.advert, self.priority)


SCENARIOS = (
    Scenario("v2, 1 s, SIGKILL master: GARP − last advert − MDI", 2, 1.0, "kill", 100),
    Scenario("v3, 0.1 s, SIGKILL master: GARP − last advert − MDI", 3, 0.1, "kill", 100),
    Scenario("v3, 0.1 s, SIGTERM master: GARP − prio-0 advert − Skew", 3, 0.1, "term", 100),
    Scenario("v2, 1 s, preemption by restarted prio 250: first advert − start − MDI", 2, 1.0, "preempt", 250),
)


def _config(scenario: Scenario, host, priority: int, state: str) -> str:
    return vrrp_config(host, version=scenario.version, advert=scenario.advert, priority=priority, state=state)


def _start_peer(lab, scenario: Scenario, workdir: Path):
    """The keepalived peer on h1, waited for until it is master. Priority 255 (address owner) for the
    takeover runs so it is master at once; 100 for preemption (master after its own MDI)."""
    host = lab.hosts[0]
    priority = 100 if scenario.stop == "preempt" else 255
    peer = start_daemon("keepalived", host, _config(scenario, host, priority, "MASTER"), workdir)
    wait_for(lambda: vip_count(host) == 1, 10, "keepalived peer master", poll=0.05)
    return peer


def _takeover(lab, scenario: Scenario, kind: str, workdir: Path) -> float:
    """The peer master is stopped (SIGKILL or SIGTERM); seconds past MDI or Skew until the node's GARP."""
    peer_host, node_host = lab.hosts
    peer = _start_peer(lab, scenario, workdir)
    node = start_daemon(kind, node_host, _config(scenario, node_host, scenario.priority, "BACKUP"), workdir)
    try:
        time.sleep(1.5)  # node up and listening as backup
        capture = WireCapture(lab)
        try:
            time.sleep(1.5 * scenario.advert + 0.1)
            peer.kill() if scenario.stop == "kill" else peer.process.terminate()
            wait_for(lambda: vip_count(node_host) == 1, 15, f"{kind} takes over", poll=0.02)
            time.sleep(0.1)
        finally:
            frames = capture.stop()
    finally:
        node.stop()
        peer.stop()
        flush_vips(peer_host, node_host)
    garp = min(f.ts for f in frames if f.sender == node_host.name and f.arp_src == vip(VRID))
    peer_adverts = [f for f in frames if f.sender == peer_host.name and f.vrid == VRID]
    if scenario.stop == "kill":
        return garp - max(f.ts for f in peer_adverts if f.priority > 0) - scenario.theory
    return garp - min(f.ts for f in peer_adverts if f.priority == 0) - scenario.theory


def _preempt(lab, scenario: Scenario, kind: str, workdir: Path, footprint: dict[str, list[float]]) -> float:
    """The node (priority 250) starts while the peer is master; seconds past MDI from process start to
    the node's first advert (its RSS, once master, goes to ``footprint``). The peer keeps running and
    takes the VIP back when the node stops."""
    peer_host, node_host = lab.hosts
    capture = WireCapture(lab)
    node = None
    try:
        node_config = _config(scenario, node_host, scenario.priority, "BACKUP")
        node = start_daemon(kind, node_host, node_config, workdir)
        wait_for(lambda: vip_count(node_host) == 1, 15, f"{kind} preempts", poll=0.02)
        time.sleep(0.1)
        vrrp_pid = int(node.vrrp_pidfile.read_text())
        footprint[FOOTPRINT[0]].append(rss_mb([vrrp_pid]))
        footprint[FOOTPRINT[1]].append(rss_mb(process_tree(node.process.pid)))
    finally:
        frames = capture.stop()
        if node is not None:
            node.stop()
        flush_vips(node_host)
    wait_for(lambda: vip_count(peer_host) == 1, 10, "keepalived peer master again", poll=0.05)
    first = min(f.ts for f in frames if f.sender == node_host.name and f.priority == scenario.priority)
    return first - node.started - scenario.theory


def _measure(lab, scenario: Scenario, workdir: Path, footprint: dict[str, dict[str, list[float]]]):
    """ABAB runs of one scenario: ms past theory, per kind (preemption: RSS per kind into ``footprint``)."""
    results: dict[str, list[float]] = {kind: [] for kind in KINDS}
    peer = _start_peer(lab, scenario, workdir) if scenario.stop == "preempt" else None
    try:
        for _, kind in alternate(REPS):
            if peer is not None:
                seconds = _preempt(lab, scenario, kind, workdir, footprint[kind])
            else:
                seconds = _takeover(lab, scenario, kind, workdir)
            results[kind].append(seconds * 1000)
    finally:
        if peer is not None:
            peer.stop()
            flush_vips(*lab.hosts)
    return results


def run() -> str:
    footprint = {kind: {metric: [] for metric in FOOTPRINT} for kind in KINDS}
    with tempfile.TemporaryDirectory() as tmp, Lab(hosts=2) as lab, harness_pinned():
        results = {scenario: _measure(lab, scenario, Path(tmp), footprint) for scenario in SCENARIOS}
    rows = []
    for scenario in SCENARIOS:
        ours, theirs = (results[scenario][kind] for kind in KINDS)
        diff = statistics.median(ours) - statistics.median(theirs)
        cells = [spread(ours, "{:+.1f}"), spread(theirs, "{:+.1f}"), f"{diff:+.1f}", ratio(ours, theirs)]
        rows.append([scenario.label, f"{scenario.theory:.3f}", *cells])
    header = ["scenario", "theory (s)", "tandemd ms", "keepalived ms", "median Δ ms", "median ratio"]
    ours, theirs = footprint["tandemd"], footprint["keepalived"]
    memory = [[m, spread(ours[m]), spread(theirs[m]), ratio(ours[m], theirs[m])] for m in FOOTPRINT]
    return (
        "## VRRP takeover and preemption\n\n"
        f"ms past the RFC minimum (theory), min / median / max over {REPS} runs each, daemons alternating "
        "(ABAB) as the node under test against a keepalived peer, times from the switch capture. "
        "Goal for SIGKILL overshoot: median ≤ 2 ms, max ≤ 10 ms, and no worse than keepalived. "
        f"{load_note()}.\n\n" + table(header, rows) + "\n\n"
        "RSS of the preempting node (one instance) once master, min / median / max over the same runs. "
        "Goal: tandemd's VRRP process ≤ 20 MB.\n\n"
        + table(["footprint", "tandemd", "keepalived", "median ratio"], memory)
    )


if __name__ == "__main__":
    print(run())
