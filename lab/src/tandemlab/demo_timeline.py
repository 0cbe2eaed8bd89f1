"""The demo's picture: a timeline (PNG) of who held each VIP, what the client saw and which backends
answered, over the drills.

    python -m tandemlab.demo_timeline RESULTS_JSON REQUESTS_JSONL OUT_PNG

``draw(results, requests, path)`` is what the demo calls: ``results`` is the demo's results (``owners``:
holder changes per VIP, ``events``, ``drills`` with their windows), ``requests`` the client's records.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HOST_COLOURS = {0: "#1f77b4", 1: "#ff7f0e"}
BOTH, NOBODY = "#9467bd", "#d62728"
SLOW_MS = 200.0


def _segments(changes: list[dict], vip: str, end: float) -> list[tuple[float, float, tuple[str, ...]]]:
    mine = sorted((c for c in changes if c["vip"] == vip), key=lambda c: c["t"])
    return [
        (change["t"], (mine[i + 1]["t"] if i + 1 < len(mine) else end), tuple(change["holders"]))
        for i, change in enumerate(mine)
    ]


def draw(results: dict, requests: list[dict], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    if not requests:
        raise ValueError("no client requests to draw")
    zero = min(r["t"] for r in requests)
    end = max(r["t"] for r in requests)
    vips = sorted({r["vip"] for r in requests})
    balancers = sorted({h for c in results.get("owners", []) for h in c["holders"]})
    colour = {host: HOST_COLOURS.get(i, "#2ca02c") for i, host in enumerate(balancers)}
    backends = sorted({r["backend"] for r in requests if r["ok"] and r["backend"]})

    figure, (owners, client, tier) = plt.subplots(
        3, 1, figsize=(13, 7.5), sharex=True, gridspec_kw={"height_ratios": [1.1, 2.2, 1.1]}
    )
    figure.suptitle("Tandem demo: VIP owners, client requests (every 20 ms per VIP) and backends")
    for drill, body in results.get("drills", {}).items():
        start, stop = body["window"]
        for axis in (owners, client, tier):
            axis.axvspan(start - zero, stop - zero, color="#eeeeee", zorder=0)
        owners.text((start - zero), len(vips) - 0.35, drill.replace("_", " "), fontsize=8, va="bottom")

    for event in results.get("events", []):
        for axis in (owners, client, tier):
            axis.axvline(event["t"] - zero, color="#555555", linewidth=0.7, linestyle=":")
        label = f"{event['event']} ({event['host']})" if event.get("host") else event["event"]
        client.text(event["t"] - zero, 0.98, " " + label, transform=client.get_xaxis_transform(), fontsize=7,
                    rotation=90, va="top", ha="right", color="#333333")  # fmt: skip

    for row, vip in enumerate(vips):
        for start, stop, holders in _segments(results.get("owners", []), vip, end):
            start, stop = max(start, zero) - zero, stop - zero
            if stop <= start:
                continue
            fill = colour[holders[0]] if len(holders) == 1 else (BOTH if holders else NOBODY)
            owners.broken_barh([(start, stop - start)], (row - 0.35, 0.7), color=fill)
    owners.set_yticks(range(len(vips)), vips)
    owners.set_ylim(-0.6, len(vips) - 0.1)
    owners.set_ylabel("VIP held by")
    owners.legend(
        handles=[Patch(color=c, label=h) for h, c in colour.items()]
        + [Patch(color=BOTH, label="both"), Patch(color=NOBODY, label="nobody")],
        loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8,
    )  # fmt: skip

    markers = ["o", "s", "^", "D"]
    for i, vip in enumerate(vips):
        good = [r for r in requests if r["vip"] == vip and r["ok"] and r["ms"] <= SLOW_MS]
        slow = [r for r in requests if r["vip"] == vip and r["ok"] and r["ms"] > SLOW_MS]
        failed = [r for r in requests if r["vip"] == vip and not r["ok"]]
        marker = markers[i % len(markers)]
        client.scatter([r["t"] - zero for r in good], [max(r["ms"], 0.1) for r in good], s=3,
                       marker=marker, alpha=0.5, label=f"{vip} ok")  # fmt: skip
        if slow:
            client.scatter([r["t"] - zero for r in slow], [r["ms"] for r in slow], s=12, color="#ff7f0e",
                           marker=marker, label=f"{vip} slow (> {SLOW_MS:.0f} ms)")  # fmt: skip
        if failed:
            client.scatter([r["t"] - zero for r in failed], [max(r["ms"], 0.1) for r in failed], s=14,
                           color=NOBODY, marker="x", label=f"{vip} failed ({len(failed)})")  # fmt: skip
    client.set_yscale("log")
    client.set_ylabel("request time (ms)")
    client.axhline(SLOW_MS, color="#999999", linewidth=0.6, linestyle="--")
    client.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=7, markerscale=2)

    for row, backend in enumerate(backends):
        answered = [r["t"] - zero for r in requests if r["ok"] and r["backend"] == backend]
        tier.scatter(answered, [row] * len(answered), s=2, marker="|", color="#2ca02c")
        down = None
        for event in results.get("events", []):
            if event.get("host") != backend:
                continue
            if event["event"].endswith("stopped"):
                down = event["t"]
            elif event["event"].endswith("started") and down is not None:
                tier.broken_barh(
                    [(down - zero, event["t"] - down)], (row - 0.3, 0.6), color=NOBODY, alpha=0.4
                )
                down = None
    tier.set_yticks(range(len(backends)), backends)
    tier.set_ylim(-0.6, max(len(backends), 1) - 0.4)
    tier.set_ylabel("answered by")
    tier.set_xlabel("seconds since the client started")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def main(argv: list[str] | None = None) -> None:
    results_path, requests_path, out = (argv or sys.argv[1:])[:3]
    results = json.loads(Path(results_path).read_text())
    requests = [
        r for line in Path(requests_path).read_text().splitlines() if "vip" in (r := json.loads(line))
    ]
    print(draw(results, requests, Path(out)))


if __name__ == "__main__":
    main()
