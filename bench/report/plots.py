"""The report's PNG plots, from plain data (no lab, no daemons): each function writes one file.

Data shapes (what ``bench.report.__main__`` collects):
- timeline: {kind: {"samples": [(t, [owner, ...])], "adverts": [(t, sender, priority)],
  "garps": [(t, sender)], "mdi": float}}, t in seconds from the SIGKILL;
- cpu: {kind: {instances: {"master": [µs, ...], "backup": [µs, ...]}}};
- checker: {kind: [{"servers": n, "checks_per_s": x, "cpu_us": y, "p50_ms": a, "p99_ms": b}]}.
"""

from __future__ import annotations

import statistics
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

HOSTS = ("h1", "h2")
COLORS = {"tandemd": "tab:blue", "keepalived": "tab:orange", "tandem": "tab:blue", "haproxy": "tab:orange"}


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def failover_timeline(timeline: dict, path: Path) -> Path:
    """One panel per daemon: who holds the VIP (steps) and who sends adverts / GARPs (ticks)."""
    kinds = list(timeline)
    fig, axes = plt.subplots(len(kinds), 1, figsize=(11, 2.6 * len(kinds)), sharex=True, squeeze=False)
    for ax, kind in zip(axes[:, 0], kinds, strict=True):
        data = timeline[kind]
        for row, host in enumerate(HOSTS):
            base = row * 2
            times = [t for t, _ in data["samples"]]
            owned = [base + (0.8 if host in owners else 0) for _, owners in data["samples"]]
            ax.step(times, owned, where="post", color=f"C{row}", label=f"{host} holds the VIP")
            sent = [t for t, sender, prio in data["adverts"] if sender == host and prio > 0]
            zero = [t for t, sender, prio in data["adverts"] if sender == host and prio == 0]
            ax.plot(sent, [base + 1.1] * len(sent), "|", color=f"C{row}", markersize=8)
            ax.plot(zero, [base + 1.1] * len(zero), "x", color="red", markersize=6)
            garps = [t for t, sender in data["garps"] if sender == host]
            ax.plot(garps, [base + 1.35] * len(garps), "v", color="black", markersize=4)
        ax.axvline(0, color="red", linestyle="--", linewidth=1, label="SIGKILL h1")
        ax.axvline(data["mdi"], color="grey", linestyle=":", linewidth=1, label="Master_Down_Interval")
        ax.set_yticks([0.4, 1.1, 2.4, 3.1], ["h1 VIP", "h1 adverts", "h2 VIP", "h2 adverts"])
        ax.set_title(f"{kind} pair: VIP ownership and adverts around a failover (▼ GARP)")
        ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=7)
    axes[-1, 0].set_xlabel("seconds from SIGKILL of the master")
    return _save(fig, path)


def cpu_per_advert(cpu: dict, path: Path) -> Path:
    """µs of CPU per advert vs the number of instances, master and backup, median with min-max bars."""
    fig, ax = plt.subplots(figsize=(7, 4))
    for kind, by_count in cpu.items():
        counts = sorted(by_count)
        for role, style in (("master", "-o"), ("backup", "--s")):
            values = [by_count[n][role] for n in counts]
            medians = [statistics.median(v) for v in values]
            low = [m - min(v) for m, v in zip(medians, values, strict=True)]
            high = [max(v) - m for m, v in zip(medians, values, strict=True)]
            ax.errorbar(
                counts, medians, yerr=[low, high], fmt=style, color=COLORS[kind], label=f"{kind} {role}"
            )
    ax.set_xlabel("VRRP instances (one VIP each, v3, 0.1 s adverts)")
    ax.set_ylabel("CPU µs per advert")
    ax.set_title("CPU per advert vs number of instances")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def checker_lateness(checker: dict, path: Path) -> Path:
    """Checks per second reached vs lateness (Tandem) and CPU per check (both checkers)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for kind, points in checker.items():
        points = sorted((p for p in points if "error" not in p), key=lambda p: p["servers"])
        rate = [p["checks_per_s"] for p in points]
        if all(p.get("p99_ms") is not None for p in points):
            left.plot(rate, [p["p50_ms"] for p in points], "-o", color=COLORS[kind], label=f"{kind} p50")
            left.plot(rate, [p["p99_ms"] for p in points], "--s", color=COLORS[kind], label=f"{kind} p99")
        right.plot(rate, [p["cpu_us"] for p in points], "-o", color=COLORS[kind], label=kind)
    left.set_xlabel("HTTP_GET checks per second reached")
    left.set_ylabel("lateness (ms): check start − due")
    left.set_title("Checker lateness vs throughput")
    right.set_xlabel("HTTP_GET checks per second reached")
    right.set_ylabel("CPU µs per check")
    right.set_title("CPU per check")
    for ax in (left, right):
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    return _save(fig, path)
