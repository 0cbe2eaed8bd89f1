"""Data plane: how soon a change is live, and what one change costs at 10, 1,000 and 5,000 real servers.

A load-balancing lab (tandemlab.lblab: client, lb, two real servers): the nftables plane runs in a
worker inside the lb. "apply → live": the service moves from one real server to the other, and the
client's next new connection must reach the new one; measured from just before ``apply()`` to that
reply (it includes one HTTP request; both ends stamp the one monotonic clock), with and without a
1,000-destination service in the same table. Change cost, inside the lb: one rr, wrr or rr with
persistence_timeout service of N real servers built, then one real server removed, added back, one
weight changed and changed back: apply()'s wall time (what blocks the checker's event loop; it grows
with the machine's load) and the process's CPU time; and counters() on that table (a status read).
``BENCH_LB_PLANE_BEFORE=<other checkout>/runtime/src`` measures that checkout's plane in the same
run, side by side (the plane's public API only).

Anchor: IPVS (``ipvsadm``) would be the natural one, but this kernel has no IP_VS, so no anchor runs
here. Run: ``python -m bench lb_plane``.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from tandemlab.lblab import VIP, LbLab, get

from bench.harness import spread, table

ROUNDS = 10
PASSES = 2  # change costs: each checkout measured in PASSES passes of ROUNDS / PASSES, alternating
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

SIZES = (10, 1000, 5000)
CHANGES = ("remove one", "add it back", "one weight", "weight back")
SCHEDULERS = ("rr", "wrr", "rr+persistence")  # persistence_timeout 300 on rr
# a checkout before persistence sets without a size would take ~10 GB of kernel memory at 5,000 (2 MB a set)
BEFORE_STICKY_SIZES = (10, 1000)


def _one_service(n: int, scheduler: str, skip: int | None = None, weight_of_first: int = 1):
    from tandem.lb.plane import Destination, Service, ServiceKey

    dests = tuple(
        Destination(A(int(A("10.0.0.0")) + i + 1), 80, weight_of_first if i == 0 else 1)
        for i in range(n)
        if i != skip
    )
    lb_algo, sticky = scheduler.split("+")[0], scheduler.endswith("+persistence")
    key = ServiceKey(4, "TCP", A(VIP), 8080)
    return (Service(key, lb_algo, destinations=dests, persistence_timeout=300 if sticky else None),)


def change_costs(
    rounds: int,
    sizes: tuple[int, ...] = SIZES,
    sticky_sizes: tuple[int, ...] = SIZES,
    schedulers: tuple[str, ...] = SCHEDULERS,
) -> dict[str, list[float]]:
    """Seconds of apply() (wall, and the process's CPU) for one change of a service of N real servers:
    the time a checker's event loop is blocked; and of counters() on that table. Only the plane's
    public API: the same function measures another checkout (see :func:`change_costs_of`)."""
    from tandem.lb.nftables import NftablesPlane

    out: dict[str, list[float]] = {}

    def timed(name: str, call, *args) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        call(*args)
        out.setdefault(f"{name}: wall", []).append(time.perf_counter() - wall)
        out.setdefault(f"{name}: cpu", []).append(time.process_time() - cpu)

    for scheduler in schedulers:
        for n in sticky_sizes if "persistence" in scheduler else sizes:
            plane = NftablesPlane()
            full = _one_service(n, scheduler)
            steps = {
                "remove one": _one_service(n, scheduler, skip=n // 2),
                "add it back": full,
                "one weight": _one_service(n, scheduler, weight_of_first=2),
                "weight back": full,
            }
            timed(f"{scheduler} {n} build", plane.apply, full)
            for _ in range(rounds):
                for step, services in steps.items():
                    timed(f"{scheduler} {n} {step}", plane.apply, services)
                timed(f"{scheduler} {n} counters()", plane.counters)
            plane.close()
    return out


def change_costs_of(
    source: str,
    rounds: int,
    sizes: tuple[int, ...] = SIZES,
    sticky_sizes: tuple[int, ...] = BEFORE_STICKY_SIZES,
    schedulers: tuple[str, ...] = SCHEDULERS,
) -> dict[str, list[float]]:
    """:func:`change_costs` with the tandem package of another checkout (``source``: its runtime/src),
    in a child process, to compare before and after in one run."""
    code = (
        "import json, sys; from bench.bench_lb_plane import change_costs; "
        f"print(json.dumps(change_costs({rounds}, {sizes!r}, {sticky_sizes!r}, {schedulers!r})))"
    )
    bench_root = str(Path(__file__).resolve().parents[1])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([source, bench_root]))
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


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
    before = os.environ.get("BENCH_LB_PLANE_BEFORE")  # runtime/src of the checkout to compare with
    with LbLab(servers=2, plane_class="bench.bench_lb_plane:TimedPlane") as lab:
        live_small, apply_small = _live(lab, big=False)
        live_big, apply_big = _live(lab, big=True)
        costs: dict[str, dict[str, list[float]]] = {"this checkout": {}, **({"before": {}} if before else {})}
        for order in range(PASSES):  # A B B A: the machine's load drifts, both see the same
            for name in list(costs) if order % 2 == 0 else reversed(list(costs)):
                if name == "before":
                    args = ("bench.bench_lb_plane:change_costs_of", before, ROUNDS // PASSES)
                else:
                    args = ("bench.bench_lb_plane:change_costs", ROUNDS // PASSES)
                for key, values in lab.lb_worker.call(*args).items():
                    costs[name].setdefault(key, []).extend(values)
    rows = [
        ["a service moves to another real server", _ms(live_small), _ms(apply_small)],
        [f"the same, a {BIG}-destination service beside it", _ms(live_big), _ms(apply_big)],
    ]
    names = list(costs)
    cost_rows = []
    for scheduler in SCHEDULERS:
        for n in SIZES:
            for step in ("build", *CHANGES, "counters()"):
                row = [f"{scheduler}, {n}", step]
                cpus = []
                for name in names:
                    wall, cpu = (costs[name].get(f"{scheduler} {n} {step}: {m}") for m in ("wall", "cpu"))
                    if wall is None:
                        row.append("-")
                        continue
                    cpus.append(statistics.median(cpu))
                    row.append(f"{statistics.median(wall) * 1000:.1f} / {cpus[-1] * 1000:.1f}")
                if len(names) == 2:
                    row.append(f"{cpus[1] / max(cpus[0], 1e-6):.1f}x" if len(cpus) == 2 else "-")
                if any(c != "-" for c in row[2:]):
                    cost_rows.append(row)
    header = ["service", "change", *(f"{name}: wall / CPU ms" for name in names)]
    if len(names) == 2:
        header.append("CPU before / after")
    ipvs = "ipvsadm installed" if shutil.which("ipvsadm") else "no ipvsadm"
    kernel = "IP_VS present" if os.path.exists("/proc/net/ip_vs") else "no IP_VS in this kernel"
    return (
        "## Data plane (nftables)\n\n"
        f"Load average {', '.join(f'{x:.2f}' for x in os.getloadavg())} at the end; the checkout's "
        f"tandem.lb.nftables. min / median / max of {ROUNDS}, in ms. Anchor: none on this machine "
        f"({kernel}, {ipvs}), so IPVS cannot be compared here.\n\n"
        + table(["change", "apply() → new real server answers", "apply() itself"], rows)
        + "\nOne change of one service of N real servers (apply(), inside the lb: what blocks the checker's "
        f"event loop), median of {ROUNDS} ({PASSES} passes, checkouts alternating A B B A; builds: "
        f"median of {PASSES}): wall (load-dependent) / the process's CPU"
        + (f"; before: {before}" if before else "")
        + ":\n\n"
        + table(header, cost_rows)
    )


if __name__ == "__main__":
    sys.stdout.write(run())
