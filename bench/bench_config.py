"""Config parse + validate time on a large generated config, side by side with ``keepalived -t``.

The config has 10,000 vrrp_instances (40 interfaces x 250 VRIDs, one VIP each, a tracked script)
and 200 virtual servers with 10 real servers each (2,000 real servers, one TCP_CHECK each).
Goal: Tandem under 2 s. Run: ``python -m bench.bench_config`` (or ``python -m bench config``).
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tandem.config import load_config

INSTANCES = 10_000
VIRTUAL_SERVERS = 200
REAL_SERVERS_EACH = 10
ROUNDS = 3
KEEPALIVED_TIMEOUT = 300


def generate() -> str:
    parts = [
        "global_defs {\n    router_id bench\n    vrrp_version 3\n}\n",
        'vrrp_script chk {\n    script "/bin/true"\n    interval 2\n    weight -10\n}\n',
    ]
    for index in range(INSTANCES):
        interface, vrid = divmod(index, 250)
        vip = f"10.{index >> 16 & 255}.{index >> 8 & 255}.{index & 255}/32"
        parts.append(
            f"vrrp_instance VI_{index} {{\n    state BACKUP\n    interface eth{interface}\n"
            f"    virtual_router_id {vrid + 1}\n    priority {100 + index % 100}\n    advert_int 1\n"
            f"    virtual_ipaddress {{\n        {vip}\n    }}\n"
            f"    track_script {{\n        chk\n    }}\n}}\n"
        )
    for vs in range(VIRTUAL_SERVERS):
        real = "".join(
            f"    real_server 172.16.{vs}.{rs + 1} 80 {{\n        weight 1\n"
            f"        TCP_CHECK {{\n            connect_timeout 3\n        }}\n    }}\n"
            for rs in range(REAL_SERVERS_EACH)
        )
        parts.append(
            f"virtual_server 203.0.113.{vs % 250 + 1} {8000 + vs} {{\n    delay_loop 6\n    lb_algo rr\n"
            f"    lb_kind NAT\n    protocol TCP\n{real}}}\n"
        )
    return "".join(parts)


def _time_tandem(path: Path) -> tuple[float, int]:
    times = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        result = load_config(path)
        times.append(time.perf_counter() - start)
    if result.config is None:
        raise RuntimeError(f"generated config is invalid: {result.errors[:3]}")
    return statistics.median(times), len(result.findings)


def _time_keepalived(path: Path) -> tuple[float | None, str]:
    """Seconds (None if unavailable) and a note; it exits non-zero here as eth0.. do not exist."""
    binary = shutil.which("keepalived")
    if binary is None:
        return None, "not installed"
    start = time.perf_counter()
    try:
        command = [binary, "-t", "-f", str(path)]
        done = subprocess.run(command, capture_output=True, timeout=KEEPALIVED_TIMEOUT)
    except subprocess.TimeoutExpired:
        return None, f"> {KEEPALIVED_TIMEOUT} s (timed out)"
    seconds = time.perf_counter() - start
    return seconds, f"{seconds:.2f} s (exit {done.returncode})"


def run() -> str:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.conf"
        path.write_text(generate())
        size_mb = path.stat().st_size / 1e6
        seconds, findings = _time_tandem(path)
        keepalived_seconds, keepalived = _time_keepalived(path)
    real_servers = VIRTUAL_SERVERS * REAL_SERVERS_EACH
    ratio = f"{seconds / keepalived_seconds:.1f}x keepalived" if keepalived_seconds else ""
    return (
        "## Config parse + validate\n\n"
        f"{INSTANCES} vrrp_instances, {real_servers} real servers, {size_mb:.1f} MB, median of {ROUNDS}.\n\n"
        "| what | time | goal | ratio |\n| --- | --- | --- | --- |\n"
        f"| Tandem `load_config` (lex, parse, schema, model, checks; {findings} findings) "
        f"| {seconds:.2f} s | < 2 s | {ratio} |\n"
        f"| keepalived 2.2.7 `-t` (whole process) | {keepalived} | | 1.0x |\n"
    )


if __name__ == "__main__":
    sys.stdout.write(run())
