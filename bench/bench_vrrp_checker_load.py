"""VRRP under checker load: the SIGKILL takeover overshoot while tandemd health-checks 5,000 real servers.

Three lab hosts: h1 a keepalived peer (priority 255, master), h2 tandemd (priority 100, backup), h3 the
real servers (one nginx and an nftables redirect that makes ports 20000..24999 5,000 distinct
targets, as in bench_checker). The peer is killed with SIGKILL; overshoot = tandemd's first GARP −
the peer's last advert − Master_Down_Interval, from the switch capture (as bench_vrrp). Unloaded and
loaded alternate (ABAB) in one run: loaded, tandemd's config also has a virtual_server of the 5,000
real servers with HTTP_GET every second (delay_loop 1, connect_timeout 2), and the kill comes once
its checks run (at least 500 per second at nginx, then a warm-up). Checks are
counted at nginx during the takeover window. A last variant gives the VRRP child realtime scheduling
(``vrrp_rt_priority``, keepalived's own answer to a loaded box), unloaded and at 5,000 real servers.

Goal (issue 12): median overshoot within 0.5 ms of the unloaded figure. Run: ``python -m bench
vrrp_checker_load``.
"""

from __future__ import annotations

import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

from tandemlab import Lab, shell
from tandemlab.shell import netns_exec
from tandemlab.vrrp_config import vip, vrrp_config

from bench.bench_checker import SERVERS, STATUS_PORT, lb_config, nginx_conf, redirect_rules, served
from bench.harness import (
    WireCapture,
    alternate,
    flush_vips,
    harness_pinned,
    load_note,
    mdi,
    spread,
    start_daemon,
    table,
    vip_count,
    wait_for,
)

REPS = 3
VERSION, ADVERT, PRIORITY = 3, 0.1, 100
WARMUP = 2.0  # seconds of steady checking before the kill (the first checks spread over delay_loop)
STEADY = 500  # checks per second at nginx that count as checking (one loaded core, shared with VRRP)
# (real servers the node under test health-checks, VRRP child at vrrp_rt_priority RT_PRIORITY)
LOADS = ((0, False), (1000, False), (SERVERS, False), (0, True), (SERVERS, True))
RT_PRIORITY = 50
TAKEOVER_TIMEOUT = 15.0
IDLE = 0.05  # a loaded window with fewer checks per second than this × real servers is not counted


def _rate(server_host, window: float = 1.0) -> float:
    before = served(server_host)
    time.sleep(window)
    return (served(server_host) - before) / window


# what tandemd's log says when a child did not run through (the cause of an outlier, if any); a
# capture that missed the peer's last adverts is an incident too
INCIDENTS = ("ended (", "realtime CPU limit", "cannot set realtime", "did not stop", "not passed to")


def _takeover(lab, load: int, realtime: bool, workdir: Path) -> tuple[float, float, list[str]]:
    """ms past MDI until tandemd's GARP (inf: none within TAKEOVER_TIMEOUT), nginx's checks per
    second meanwhile, and the incidents in tandemd's log (INCIDENTS)."""
    peer_host, node_host, server_host = lab.hosts
    peer_config = vrrp_config(peer_host, version=VERSION, advert=ADVERT, priority=255, state="MASTER")
    peer = start_daemon("keepalived", peer_host, peer_config, workdir)
    wait_for(lambda: vip_count(peer_host) == 1, 10, "keepalived peer master", poll=0.05)
    config = vrrp_config(node_host, version=VERSION, advert=ADVERT, priority=PRIORITY, state="BACKUP")
    if realtime:
        config += f"global_defs {{\n  vrrp_rt_priority {RT_PRIORITY}\n}}\n"
    if load:
        config += lb_config(server_host.ipv4, load)
    log = workdir / "tandemd.log"
    node = start_daemon("tandemd", node_host, config, workdir, log=log)
    try:
        if load:  # start-up (the real servers, the table) first, then steady checks
            steady = min(STEADY, 0.1 * load)
            wait_for(lambda: _rate(server_host) >= steady, 180, "checks at nginx", poll=0)
        time.sleep(WARMUP if load else 1.5)
        before, started = served(server_host), time.monotonic()
        capture = WireCapture(lab)
        try:
            time.sleep(1.0)  # the capture's tcpdumps start slowly on a loaded machine
            killed = time.time()  # the capture's clock
            peer.kill()
            try:
                wait_for(lambda: vip_count(node_host) == 1, TAKEOVER_TIMEOUT, "takeover", poll=0.02)
                took_over = True
            except TimeoutError:
                took_over = False
            time.sleep(0.1)
        finally:
            frames = capture.stop()
        rate = (served(server_host) - before) / (time.monotonic() - started)
    finally:
        node.stop(timeout=60)  # a saturated checker child takes seconds to stop (thousands in flight)
        peer.stop()
        flush_vips(peer_host, node_host)
    incidents = [
        line for line in log.read_text(errors="replace").splitlines() if any(i in line for i in INCIDENTS)
    ]
    if not took_over:
        return math.inf, rate, incidents
    garps = [f.ts for f in frames if f.sender == node_host.name and f.arp_src == vip(1)]
    adverts = [f.ts for f in frames if f.sender == peer_host.name and f.vrid == 1 and f.priority > 0]
    if not garps or not adverts:  # the capture missed them: no measurement
        print(f"{load}: capture without the peer's adverts or the GARP; run not counted", file=sys.stderr)
        return math.nan, rate, incidents
    if killed - max(adverts) > 1.5 * ADVERT:  # adverts the capture missed would count as overshoot
        incidents.append(
            f"capture: the peer's last advert seen {(killed - max(adverts)) * 1000:.0f} ms before its kill"
        )
    return (min(garps) - max(adverts) - mdi(VERSION, ADVERT, PRIORITY)) * 1000, rate, incidents


def run() -> str:
    overshoot: dict[tuple, list[float]] = {variant: [] for variant in LOADS}
    rates: dict[tuple, list[float]] = {variant: [] for variant in LOADS}
    idle = dict.fromkeys(LOADS, 0)
    troubled = dict.fromkeys(LOADS, 0)  # runs whose log shows an incident (a child ended, SIGXCPU)
    with tempfile.TemporaryDirectory() as tmp, Lab(hosts=3) as lab, harness_pinned():
        workdir = Path(tmp)
        server = lab.hosts[2]
        (workdir / "nginx.conf").write_text(nginx_conf(workdir, server.ipv4))
        shell.run(netns_exec(server.netns, ["nft", "-f", "-"]), input=redirect_rules())
        server.spawn(["nginx", "-c", str(workdir / "nginx.conf"), "-p", str(workdir), "-g", "daemon off;"])
        wait_for(lambda: f":{STATUS_PORT}" in server.run(["ss", "-ltnH"]).stdout, 10, "nginx listening")
        lab.hosts[1].run(["sysctl", "-q", "-w", "net.ipv4.ip_local_port_range=10000 65000"])
        for _, variant in alternate(REPS, LOADS):
            load, realtime = variant
            ms, rate, incidents = _takeover(lab, load, realtime, workdir)
            name = _name(variant)
            print(f"{name}: overshoot {ms:+.1f} ms, {rate:.0f} checks/s", file=sys.stderr)
            for line in incidents:
                print(f"{name}: tandemd: {line}", file=sys.stderr)
            troubled[variant] += bool(incidents)
            if load and rate < IDLE * load:  # the checker stalled through the window: not under load
                print(f"{name}: checker idle in the window; run not counted", file=sys.stderr)
                idle[variant] += 1
            elif not math.isnan(ms):
                overshoot[variant].append(ms)
                rates[variant].append(rate)
            time.sleep(1)  # TIME_WAIT and nginx settle between runs
    verdicts = []
    for realtime in (False, True):
        unloaded, loaded = overshoot.get((0, realtime)), overshoot.get((SERVERS, realtime))
        if unloaded and loaded:
            delta = statistics.median(loaded) - statistics.median(unloaded)
            verdict = "met" if delta <= 0.5 else "not met"
            kind = f"vrrp_rt_priority {RT_PRIORITY}" if realtime else "default scheduling"
            verdicts.append(f"{kind}: median at {SERVERS} − unloaded **{delta:+.1f} ms** ({verdict})")
    if not verdicts:
        return "## VRRP under checker load\n\nno valid runs (see the lines on stderr)\n"
    rows = [
        [
            _name(v),
            spread(overshoot[v], "{:+.1f}"),
            spread(rates[v], "{:.0f}"),
            str(idle[v]),
            str(troubled[v]),
        ]
        for v in LOADS
        if overshoot[v]
    ]
    return (
        "## VRRP under checker load\n\n"
        f"SIGKILL takeover overshoot (v3, 0.1 s adverts: GARP − last advert − MDI), ms, min / median / max "
        f"over {REPS} runs each, variants alternating; loaded: tandemd also health-checks 1,000 or {SERVERS} "
        f"real servers (HTTP_GET, delay_loop 1 s); inf: no takeover within {TAKEOVER_TIMEOUT:g} s. "
        f"Goal ≤ +0.5 ms: {'; '.join(verdicts)}. {load_note()}.\n\n"
        + table(
            [
                "tandemd",
                "overshoot ms",
                "checks/s at nginx",
                "runs not counted (checker idle)",
                "runs with an incident (a child ended, SIGXCPU, adverts not captured)",
            ],
            rows,
        )
    )


def _name(variant: tuple[int, bool]) -> str:
    load, realtime = variant
    name = f"checking {load} real servers" if load else "no virtual_server"
    return f"{name}, vrrp_rt_priority {RT_PRIORITY}" if realtime else name


if __name__ == "__main__":
    print(run())
