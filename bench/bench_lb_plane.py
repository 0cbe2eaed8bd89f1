"""Data plane: how soon a change is live, and what one nftables transaction costs at 1,000 real servers.

A load-balancing lab (tandemlab.lblab: client, lb, two real servers): the nftables plane runs in a
worker inside the lb. "apply → live": the service moves from one real server to the other, and the
client's next new connection must reach the new one; measured from just before ``apply()`` to that
reply (it includes one HTTP request; both ends stamp the one monotonic clock), with and without a
1,000-destination service in the same table. Transaction cost, inside the lb: a 1,000-destination
wrr service (100 addresses × 10 ports) built from scratch, one weight changed, one destination added
and removed; the Python part (desired state + diff) and the kernel commit are timed apart. The
commit of a small change grows with the table: libnftables reads the table into its cache first.

Anchor: IPVS (``ipvsadm``) would be the natural one, but this kernel has no IP_VS, so no anchor runs
here; instead the same full build is compared with one libnftables call per command (what a script
doing one ``nft add`` per element pays, without the process start-ups). Run: ``python -m bench lb_plane``.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import statistics
import sys
import time

from tandemlab.lblab import VIP, LbLab, get

from bench.harness import spread, table

ROUNDS = 10
BIG = 1000
A = ipaddress.ip_address


def _services(big: bool, target, weight_of_first: int = 1, extra: int = 0):
    from tandem.lb.plane import Destination, Service, ServiceKey

    services = [Service(ServiceKey(4, "TCP", A(VIP), 80), "rr", destinations=(Destination(target, 80),))]
    if big:
        dests = [
            Destination(A(f"198.51.100.{100 + i // 10}"), 8000 + i % 10, weight_of_first if i == 0 else 1)
            for i in range(BIG + extra)
        ]
        services.append(Service(ServiceKey(4, "TCP", A(VIP), 8080), "wrr", destinations=tuple(dests)))
    return tuple(services)


# --- run inside the lb (through its worker) --------------------------------------------------------------


def transaction_costs(rounds: int) -> dict[str, list[float]]:
    """Seconds per step: Python (desired + diff) and the kernel commit, for each change at BIG."""
    from tandem.lb import nftables

    nft = nftables.Libnftables()
    target = A("198.51.100.13")
    steps = {
        "build": (None, _services(True, target)),
        "one weight": (_services(True, target), _services(True, target, weight_of_first=2)),
        "add one": (_services(True, target), _services(True, target, extra=1)),
        "remove one": (_services(True, target, extra=1), _services(True, target)),
    }
    out: dict[str, list[float]] = {}
    for name, (before, after) in steps.items():
        for _ in range(rounds):
            old = None
            if before is not None:
                commands, old = nftables.transaction(None, nftables.desired(before))
                nft.run(commands)
            start = time.perf_counter()
            commands, _ = nftables.transaction(old, nftables.desired(after))
            computed = time.perf_counter()
            nft.run(commands)
            done = time.perf_counter()
            out.setdefault(f"{name}: python", []).append(computed - start)
            out.setdefault(f"{name}: commit", []).append(done - computed)
            out.setdefault(f"{name}: commands", []).append(len(commands))
    build, _ = nftables.transaction(None, nftables.desired(_services(True, target)))
    for _ in range(2):
        nft.run(build[:3])  # an empty table, then every later command in a transaction of its own
        start = time.perf_counter()
        for command in build[3:]:
            nft.run([command])
        out.setdefault("build, one call per command", []).append(time.perf_counter() - start)
    nft.run([{"delete": {"table": {"family": "inet", "name": nftables.TABLE}}}])
    return out


# --- run in the client ------------------------------------------------------------------------------------


def first_seen(name: str, timeout: float = 5.0) -> float:
    """time.monotonic() of the first new connection answered by ``name``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if get(VIP) == name:
            return time.monotonic()
    raise TimeoutError(f"{name} never answered")


class TimedPlane:
    """The nftables plane, its apply() stamped on time.monotonic() (one clock for every namespace)."""

    def __init__(self):
        from tandem.lb.nftables import NftablesPlane

        self.plane = NftablesPlane()

    def apply(self, services) -> tuple[float, float]:
        start = time.monotonic()
        self.plane.apply(services)
        return start, time.monotonic()

    def close(self) -> None:
        self.plane.close()


def _live(lab: LbLab, big: bool) -> tuple[list[float], list[float]]:
    """Seconds from apply() to the new real server answering, and of apply() itself (inside the lb)."""
    to_live, applying = [], []
    lab.plane.apply(_services(big, lab.real_server(1)))
    for r in range(ROUNDS):
        i = 2 if r % 2 == 0 else 1
        start, applied = lab.plane.apply(_services(big, lab.real_server(i)))
        seen = lab.client_worker.call("bench.bench_lb_plane:first_seen", f"rs{i}")
        to_live.append(seen - start)
        applying.append(applied - start)
    lab.plane.close()
    return to_live, applying


def _ms(values: list[float]) -> str:
    return spread([v * 1000 for v in values], "{:.2f}")


def run() -> str:
    if os.geteuid() != 0:
        return "## Data plane (nftables)\n\nskipped: needs root (network namespaces)\n"
    with LbLab(servers=2, plane_class="bench.bench_lb_plane:TimedPlane") as lab:
        live_small, apply_small = _live(lab, big=False)
        live_big, apply_big = _live(lab, big=True)
        costs = lab.lb_worker.call("bench.bench_lb_plane:transaction_costs", ROUNDS)
    rows = [
        ["a service moves to another real server", _ms(live_small), _ms(apply_small)],
        [f"the same, a {BIG}-destination service beside it", _ms(live_big), _ms(apply_big)],
    ]
    cost_rows = []
    for step in ("build", "one weight", "add one", "remove one"):
        python, commit = costs[f"{step}: python"], costs[f"{step}: commit"]
        count = int(costs[f"{step}: commands"][0])
        cost_rows.append([step, str(count), _ms(python), _ms(commit)])
    one = statistics.median(
        [p + c for p, c in zip(costs["build: python"], costs["build: commit"], strict=True)]
    )
    per_call = statistics.median(costs["build, one call per command"])
    ipvs = "ipvsadm installed" if shutil.which("ipvsadm") else "no ipvsadm"
    kernel = "IP_VS present" if os.path.exists("/proc/net/ip_vs") else "no IP_VS in this kernel"
    return (
        "## Data plane (nftables)\n\n"
        f"Load average {', '.join(f'{x:.2f}' for x in os.getloadavg())} at the end; the checkout's "
        f"tandem.lb.nftables. min / median / max of {ROUNDS}, in ms. Anchor: none on this machine "
        f"({kernel}, {ipvs}), so IPVS cannot be compared here.\n\n"
        + table(["change", "apply() → new real server answers", "apply() itself"], rows)
        + f"\nOne transaction at {BIG} destinations (wrr, 100 addresses × 10 ports), inside the lb:\n\n"
        + table(["step", "JSON commands", "python (desired + diff)", "kernel commit"], cost_rows)
        + f"\nFull build as one transaction: {one * 1000:.1f} ms; the same commands one libnftables call "
        f"each: {per_call * 1000:.0f} ms ({per_call / one:.1f}x).\n"
    )


if __name__ == "__main__":
    sys.stdout.write(run())
