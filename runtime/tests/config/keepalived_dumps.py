"""keepalived 2.2.7's own dump of a config it runs: what it understood, for the differential harness.

``keepalived -t`` prints no dump, and ``-d`` writes it into the log interleaved with the parent's. So
each config is run for real, briefly: in a network namespace of its own that has the interfaces the
config names (veth pairs whose peers stay down: no carrier, so no instance ever becomes Master and no
notify_master script runs), with a private /tmp (a mount namespace whose /tmp is a scratch directory
of this run). keepalived runs with ``-d``, which dumps the config into its log as it starts (the
configured state is still there; a later SIGUSR1 dump shows FAULT instead); once the VRRP child
answers SIGUSR1 ("Printing VRRP data"), the start dump is complete, and SIGTERM stops it. Only the
VRRP child runs (``-P -B``: a BFD child's dump would interleave with it); on this kernel the checker
exits at start ("IPVS: Can't initialize ipvs"), so virtual servers are not compared here.

Runs go in parallel, each bounded by a timeout; namespaces and processes are this run's own (names
start with ``tdm<pid>``) and are removed afterwards.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

START_SECONDS = 20.0  # bound for keepalived to come up and dump (the machine is loaded)
PARALLEL = 6


def _namespace(name: str, interfaces: set[str]) -> None:
    subprocess.run(["ip", "netns", "add", name], check=True)
    subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
    for index, interface in enumerate(sorted(interfaces | {"eth0"})):
        subprocess.run(
            ["ip", "-n", name, "link", "add", interface, "type", "veth", "peer", "name", f"tdmpeer{index}"],
            check=True,
        )
        subprocess.run(["ip", "-n", name, "link", "set", interface, "up"], check=True)


def _remove_namespace(name: str) -> None:
    pids = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True).stdout.split()
    for pid in pids:  # processes of this run's own namespace only
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGKILL)
    subprocess.run(["ip", "netns", "del", name], capture_output=True)


def vrrp_dump(path: Path, interfaces: set[str], netns: str) -> tuple[str | None, str]:
    """(the text of keepalived.data, keepalived's log) for one config; None when no dump came."""
    if path.resolve().is_relative_to("/tmp"):  # keepalived writes /tmp/keepalived.data: a scratch /tmp
        raise ValueError(f"{path}: keepalived's private /tmp would hide it; put the project elsewhere")
    scratch = Path(tempfile.mkdtemp(prefix="tdm-ka-"))
    log = scratch / "log"
    (scratch / "tmp").mkdir()
    _namespace(netns, interfaces)
    script = (
        'mount --make-rprivate / && mount --bind "$1" /tmp && exec keepalived -P -B -l -n -d -i lb1 -f "$2" '
        "-p /tmp/k.pid -r /tmp/v.pid -c /tmp/c.pid -b /tmp/b.pid"
    )
    argv = [
        "ip",
        "netns",
        "exec",
        netns,
        "unshare",
        "-m",
        "sh",
        "-c",
        script,
        "sh",
        str(scratch / "tmp"),
        str(path),
    ]
    try:
        with log.open("wb") as out:
            process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=path.parent)
        try:
            deadline = time.monotonic() + START_SECONDS
            while time.monotonic() < deadline and process.poll() is None:
                if (scratch / "tmp" / "v.pid").exists():
                    if b"Printing VRRP data" in log.read_bytes():
                        break
                    process.send_signal(signal.SIGUSR1)
                time.sleep(0.3)
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=START_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        text = log.read_text(errors="replace")
        return start_dump(text), text
    finally:
        _remove_namespace(netns)
        shutil.rmtree(scratch, ignore_errors=True)


_LOG_PREFIX = re.compile(r"^\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}: ")


def start_dump(log: str) -> str | None:
    """The VRRP child's ``-d`` dump from its log (None if it never answered SIGUSR1): the lines from
    the first section header to the SIGUSR1 answer that are dump lines (a header, or indented); the
    log messages written meanwhile (not indented) are left out."""
    lines = [_LOG_PREFIX.sub("", line) for line in log.splitlines()]
    try:
        start = next(i for i, line in enumerate(lines) if line.startswith("------< Global definitions"))
        end = next(i for i, line in enumerate(lines) if line.startswith("Printing VRRP data"))
    except StopIteration:
        return None
    return "\n".join(line for line in lines[start:end] if line.startswith((" ", "------<"))) + "\n"


def vrrp_dumps(jobs: list[tuple[Path, set[str]]]) -> dict[Path, tuple[str | None, str]]:
    """Each config's dump, ``PARALLEL`` at a time."""
    prefix = f"tdm{os.getpid()}x"
    with ThreadPoolExecutor(PARALLEL) as pool:
        futures = {
            path: pool.submit(vrrp_dump, path, names, f"{prefix}{index}")
            for index, (path, names) in enumerate(jobs)
        }
        return {path: future.result() for path, future in futures.items()}
