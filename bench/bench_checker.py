"""Checker throughput: 5,000 real servers health-checked with HTTP_GET every second, Tandem vs HAProxy.

h2 holds the real servers: one nginx (Debian package) on 198.51.100.12:8080, and an nftables redirect
that makes every port 20000..24999 of that address a real server of its own (5,000 distinct targets,
each check a new TCP connection and a real HTTP exchange). h1 runs the checker under test, pinned to
one CPU, for a fixed window after a warm-up:

- Tandem: the checker runners (``tandem.check.registry``, started by ``tandem.check.engine.start_check``
  as LbService starts them) driven by ``tandem.timers.TimerQueue`` as keepalived schedules them: each
  real server checked again delay_loop (1 s) after its last check ended; lateness = when a check
  started − when it was due.
- tandemd: the daemon itself, a virtual_server of the same 5,000 real servers (HTTP_GET, delay_loop 1),
  run by its checker child (LbService: state machine, nftables plane, adaptive bound); CPU and RSS are
  the checker child's (``-c`` pid file), lateness its own ``lb_stats``;
- HAProxy: one backend of the same 5,000 servers, ``option httpchk GET /`` and ``check inter 1s``.

Checks are counted where they arrive: nginx's request counter (stub_status on a port of its own), the
same for both. CPU is the checker process's scheduler time over the window (all threads), RSS at its
end. A/B/A/B, ROUNDS each. Run: ``python -m bench checker``.

"tandem" runs Tandem's runners without the LbService around them (state machine, plane): the
health-checking cost itself; "tandemd" is what a deployment runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from tandemlab import Lab, shell
from tandemlab.shell import netns_exec

from bench.harness import (
    DAEMON_CPU,
    REPO,
    _tandem_env,
    alternate,
    cpu_seconds,
    harness_pinned,
    load_note,
    ratio,
    rss_mb,
    spread,
    table,
    wait_for,
)

SERVERS = int(os.environ.get("TANDEM_BENCH_SERVERS", "5000"))  # bench.report varies it
FIRST_PORT = 20000
NGINX_PORT, STATUS_PORT = 8080, 8081
WARMUP, WINDOW, ROUNDS = 4.0, 10.0, 2
KINDS = ("tandem", "tandemd", "haproxy")


def nginx_conf(workdir: Path, address: str) -> str:
    return textwrap.dedent(
        f"""
        worker_processes 1;
        pid {workdir}/nginx.pid;
        error_log {workdir}/nginx.err;
        events {{ worker_connections 8192; }}
        http {{
            access_log off;
            server {{
                listen {address}:{NGINX_PORT} backlog=8192;
                location / {{ return 200 "ok"; }}
            }}
            server {{
                listen {address}:{STATUS_PORT};
                location / {{ stub_status; }}
            }}
        }}
        """
    )


def redirect_rules() -> str:
    last = FIRST_PORT + SERVERS - 1
    return (
        "table ip bench_checker {\n  chain pre {\n    type nat hook prerouting priority dstnat;\n"
        f"    tcp dport {FIRST_PORT}-{last} redirect to :{NGINX_PORT}\n  }}\n}}\n"
    )


def haproxy_conf(workdir: Path, address: str) -> str:
    servers = "".join(f"    server s{i} {address}:{FIRST_PORT + i} check inter 1s\n" for i in range(SERVERS))
    return (
        f"global\n    maxconn 2000\n    pidfile {workdir}/haproxy.pid\n"
        "defaults\n    mode http\n    timeout connect 2s\n    timeout check 2s\n"
        "    timeout client 5s\n    timeout server 5s\n"
        "frontend fe\n    bind 127.0.0.1:18999\n    default_backend be\n"
        f"backend be\n    option httpchk GET /\n{servers}"
    )


def served(server_host) -> int:
    """nginx's request count so far (stub_status)."""
    url = f"http://{server_host.ipv4}:{STATUS_PORT}/"
    code = f"import urllib.request; print(urllib.request.urlopen({url!r}).read().decode())"
    text = server_host.run([sys.executable, "-c", code]).stdout
    return int(text.splitlines()[2].split()[2])  # "server accepts handled requests" numbers line


# --- the Tandem checker child ------------------------------------------------------------------------


async def child(address: str, warmup: float, window: float) -> dict:
    """Check SERVERS real servers every second; report lateness, failures, CPU and RSS of the window."""
    from ipaddress import ip_address

    from tandem.check.engine import start_check
    from tandem.check.registry import RUNNERS
    from tandem.config.model import CheckerUrl, HttpCheck
    from tandem.daemon.child import CHECKER_GC_THRESHOLD
    from tandem.lb.params import CheckParams
    from tandem.timers import TimerQueue

    loop = asyncio.get_running_loop()
    checker = HttpCheck(kind="HTTP_GET", urls=(CheckerUrl(path="/"),))
    checks = [
        CheckParams(str(i), checker, ip_address(address), FIRST_PORT + i, connect_timeout=2.0, delay_loop=1.0)
        for i in range(SERVERS)
    ]
    start = loop.time() + 0.2
    due = {i: start + i / SERVERS for i in range(SERVERS)}  # spread over the first second
    runner = RUNNERS["HTTP_GET"]
    stats = {"lateness": [], "failed": 0, "reasons": set()}
    measuring = False

    def checked(i: int, result) -> None:
        if measuring and not result.ok:
            stats["failed"] += 1
            stats["reasons"].add(result.reason)
        due[i] = loop.time() + checks[i].delay_loop  # keepalived: delay_loop after the check ended
        queue.arm(i)

    def fire(i: int) -> None:
        if measuring:
            stats["lateness"].append(loop.time() - due[i])
        due[i] = None
        start_check(runner, checks[i], functools.partial(checked, i))  # as LbService starts a check

    queue = TimerQueue(now=loop.time, call_at=loop.call_at, deadline=due.get, fire=fire)
    for i in range(SERVERS):
        queue.arm(i)
    gc.freeze()  # as tandemd's checker child after its start: no collection walks the set-up again,
    gc.set_threshold(CHECKER_GC_THRESHOLD)  # and young objects are collected as rarely
    await asyncio.sleep(warmup)
    measuring, cpu0 = True, time.process_time()
    print("measuring", flush=True)
    await asyncio.sleep(window)
    measuring, cpu = False, time.process_time() - cpu0
    lateness = sorted(stats["lateness"])
    with open("/proc/self/status") as status:
        rss = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:")) / 1024
    queue.close()
    return {
        "cpu": cpu,
        "started": len(lateness),
        "failed": stats["failed"],
        "reasons": sorted(stats["reasons"])[:3],
        "p50": lateness[len(lateness) // 2] if lateness else 0.0,
        "p99": lateness[int(len(lateness) * 0.99)] if lateness else 0.0,
        "rss": rss,
    }


def _pinned(argv: list[str]) -> list[str]:
    return ["taskset", "-c", str(DAEMON_CPU), *argv] if DAEMON_CPU is not None else argv


def run_tandem(client, server, workdir: Path) -> dict:
    env = _tandem_env(workdir) or {}
    if env:
        env["PYTHONPATH"] += f":{REPO}"
    argv = _pinned(
        [sys.executable, "-m", "bench.bench_checker", "child", server.ipv4, str(WARMUP), str(WINDOW)]
    )
    process = subprocess.Popen(
        netns_exec(client.netns, argv), stdout=subprocess.PIPE, text=True, cwd=REPO, env=env or None
    )
    try:
        assert process.stdout.readline().strip() == "measuring", "checker child did not start"
        before = served(server)
        result = json.loads(process.stdout.readline())
        result["served"] = served(server) - before
    finally:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        process.wait()
    return result


def lb_config(address: str, count: int = SERVERS) -> str:
    """A virtual_server of ``count`` of the real servers, HTTP_GET every second."""
    servers = "".join(
        f"  real_server {address} {FIRST_PORT + i} {{\n    HTTP_GET {{\n      url {{\n        path /\n"
        "        status_code 200\n      }\n    }\n  }\n"
        for i in range(count)
    )
    return (
        "virtual_server 203.0.113.200 80 {\n  delay_loop 1\n  connect_timeout 2\n  lb_algo rr\n"
        f"  lb_kind NAT\n{servers}}}\n"
    )


def _lb_stats(socket_path: str) -> dict | None:
    from tandem.control.client import ControlError, request

    try:
        return request(socket_path, "lb_stats", timeout=30)
    except (ControlError, OSError):
        return None


def run_tandemd(client, server, workdir: Path) -> dict:
    """tandemd itself: its checker child (LbService, nftables plane) checking the same real servers."""
    conf, pidfile = workdir / "tandemd-lb.conf", workdir / "checker.pid"
    conf.write_text(lb_config(server.ipv4))
    pidfile.unlink(missing_ok=True)
    socket_path = str(workdir / "tandemd.sock")
    argv = [sys.executable, "-m", "tandem.cli.tandemd", "-f", str(conf), "-n", "-l", "-c", str(pidfile)]
    process = client.spawn(
        _pinned([*argv, "--control-socket", socket_path]),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=_tandem_env(workdir),
    )
    try:
        wait_for(lambda: pidfile.exists() and _lb_stats(socket_path) is not None, 180, "tandemd checking")
        time.sleep(WARMUP)
        pid = int(pidfile.read_text())
        first, cpu0, before = _lb_stats(socket_path), cpu_seconds([pid]), served(server)
        time.sleep(WINDOW)
        cpu1, count = cpu_seconds([pid]), served(server) - before
        last = _lb_stats(socket_path) or {}
        failed = last.get("checks_failed", 0) - (first or {}).get("checks_failed", 0)
        return {
            "cpu": cpu1[pid] - cpu0[pid],
            "served": count,
            "rss": rss_mb([pid]),
            "p50": last.get("lateness_p50", float("nan")),
            "p99": last.get("lateness_p99", float("nan")),
            "failed": failed,
            "reasons": [],
        }
    finally:
        process.stop(timeout=60)


def run_haproxy(client, server, workdir: Path) -> dict:
    conf = workdir / "haproxy.cfg"
    conf.write_text(haproxy_conf(workdir, server.ipv4))
    process = client.spawn(_pinned(["haproxy", "-db", "-f", str(conf)]), stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        time.sleep(WARMUP)
        pids = [process.pid]
        cpu0, before = cpu_seconds(pids), served(server)
        time.sleep(WINDOW)
        cpu1, count = cpu_seconds(pids), served(server) - before
        return {"cpu": cpu1[process.pid] - cpu0[process.pid], "served": count, "rss": rss_mb(pids)}
    finally:
        process.stop(timeout=5)


def run() -> str:
    results: dict[str, list[dict]] = {kind: [] for kind in KINDS}
    with tempfile.TemporaryDirectory() as tmp, Lab(2) as lab, harness_pinned():
        workdir = Path(tmp)
        client, server = lab.hosts
        (workdir / "nginx.conf").write_text(nginx_conf(workdir, server.ipv4))
        shell.run(netns_exec(server.netns, ["nft", "-f", "-"]), input=redirect_rules())
        server.spawn(["nginx", "-c", str(workdir / "nginx.conf"), "-p", str(workdir), "-g", "daemon off;"])
        wait_for(lambda: f":{STATUS_PORT}" in server.run(["ss", "-ltnH"]).stdout, 10, "nginx listening")
        client.run(["sysctl", "-q", "-w", "net.ipv4.ip_local_port_range=10000 65000"])
        for _, kind in alternate(ROUNDS, KINDS):
            runner = {"tandem": run_tandem, "tandemd": run_tandemd, "haproxy": run_haproxy}[kind]
            results[kind].append(runner(client, server, workdir))
            time.sleep(1)  # let TIME_WAIT and nginx settle between runs
    return report(results)


def report(results: dict[str, list[dict]]) -> str:
    def per_cpu_second(r: dict) -> float:
        return r["served"] / r["cpu"] if r["cpu"] else float("inf")

    def cpu_per_check_us(r: dict) -> float:
        return 1e6 * r["cpu"] / r["served"] if r["served"] else float("inf")

    rows = []
    for kind in KINDS:
        runs = results[kind]
        rows.append(
            [
                kind,
                spread([r["served"] / WINDOW for r in runs], "{:.0f}"),
                spread([per_cpu_second(r) for r in runs], "{:.0f}"),
                spread([cpu_per_check_us(r) for r in runs], "{:.0f}"),
                spread([1e3 * r["p50"] for r in runs], "{:.2f}") if kind != "haproxy" else "n/a",
                spread([1e3 * r["p99"] for r in runs], "{:.2f}") if kind != "haproxy" else "n/a",
                spread([r["rss"] for r in runs], "{:.0f}"),
            ]
        )
    tandem, haproxy = results["tandem"], results["haproxy"]
    failures = sum(r["failed"] for r in tandem)
    reasons = sorted({reason for r in tandem for reason in r["reasons"]})[:3]
    cpu_ratio = ratio([cpu_per_check_us(r) for r in tandem], [cpu_per_check_us(r) for r in haproxy])
    daemon = results["tandemd"]
    daemon_ratio = ratio([cpu_per_check_us(r) for r in daemon], [cpu_per_check_us(r) for r in haproxy])
    daemon_failures = sum(r["failed"] for r in daemon)
    header = [
        "checker",
        "checks/s",
        "checks per CPU-s",
        "CPU µs/check",
        "lateness p50 ms",
        "p99 ms",
        "RSS MB",
    ]
    return (
        f"## Checker: {SERVERS} real servers, HTTP_GET every 1 s, Tandem vs HAProxy\n\n"
        + table(header, rows)
        + f"\nCPU per check, Tandem / HAProxy: **{cpu_ratio}** (goal ≤ 3), tandemd's checker child / "
        f"HAProxy: **{daemon_ratio}**; "
        f"Tandem failed checks in the windows: {failures}{' ' + str(reasons) if reasons else ''}, "
        f"tandemd's: {daemon_failures}. "
        f"min / median / max over {ROUNDS} runs of {WINDOW:g} s after {WARMUP:g} s warm-up; "
        f"checks counted at nginx. {load_note()}\n"
    )


if __name__ == "__main__" and sys.argv[1:2] == ["child"]:
    address, warmup, window = sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
    outcome = asyncio.run(child(address, warmup, window))
    print(json.dumps(outcome), flush=True)
