"""Removing lab namespaces: the processes inside are killed by pid first (a process outlives
``ip netns del``), then the namespace goes. ``python -m tandemlab.cleanup`` removes what crashed runs
left behind (namespaces whose creating process is gone)."""

from __future__ import annotations

import contextlib
import os
import signal
import time

from tandemlab import naming
from tandemlab.shell import netns_pids, run


def remove_namespaces(names: list[str]) -> None:
    for name in names:
        for pid in netns_pids(name):
            _kill(pid)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(netns_pids(n) for n in names):
        time.sleep(0.05)
    for name in names:
        run(["ip", "netns", "del", name], check=False)


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def lab_namespaces() -> list[str]:
    listing = run(["ip", "netns", "list"], check=False).stdout.splitlines()
    return [line.split()[0] for line in listing if line and naming.owner_pid(line.split()[0]) is not None]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def stale_namespaces() -> list[str]:
    return [name for name in lab_namespaces() if not _alive(naming.owner_pid(name))]


def main() -> None:
    stale = stale_namespaces()
    remove_namespaces(stale)
    print(f"removed {len(stale)} stale lab namespaces")


if __name__ == "__main__":
    main()
