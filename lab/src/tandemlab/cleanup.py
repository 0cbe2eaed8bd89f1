"""Removing labs: the processes inside a namespace are killed by pid first (a process outlives
``ip netns del``), then the namespace goes; molecule's podman containers are removed by name.
``python -m tandemlab cleanup`` removes what crashed runs left behind: namespaces and containers named
by :mod:`tandemlab.naming` whose owner process is gone."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time

from tandemlab import naming
from tandemlab.shell import netns_pids, run

# The label molecule/resources/create.yml puts on every container it starts (value: the lab prefix).
CONTAINER_LABEL = "org.tandem.lab"


def remove_namespaces(names: list[str]) -> None:
    for name in names:
        for pid in netns_pids(name):
            _kill(pid)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(netns_pids(n) for n in names):
        time.sleep(0.05)
    for name in names:
        run(["ip", "netns", "del", name], check=False)


def remove_containers(names: list[str]) -> None:
    if names:
        run(["podman", "rm", "--force", "--time", "0", *names], check=False)


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _namespaces() -> list[str]:
    return [line.split()[0] for line in run(["ip", "netns", "list"], check=False).stdout.splitlines() if line]


def lab_namespaces() -> list[str]:
    return [name for name in _namespaces() if naming.owner_pid(name) is not None]


def lab_containers() -> list[str]:
    """Every container of a molecule lab, whatever its prefix (none where podman is not installed)."""
    if shutil.which("podman") is None:
        return []
    listing = run(["podman", "ps", "--all", "--filter", f"label={CONTAINER_LABEL}", "--format", "{{.Names}}"])
    return listing.stdout.split()


def lab_parts(prefix: str) -> tuple[list[str], list[str]]:
    """The containers and the namespaces of the lab ``prefix``."""
    mine = f"{prefix}-"
    return (
        [name for name in lab_containers() if name.startswith(mine)],
        [name for name in _namespaces() if name.startswith(mine)],
    )


def remove_lab(prefix: str) -> list[str]:
    """Remove every container and namespace of the lab ``prefix``; return their names."""
    containers, namespaces = lab_parts(prefix)
    remove_containers(containers)
    remove_namespaces(namespaces)
    return containers + namespaces


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _stale(names: list[str]) -> list[str]:
    return [name for name in names if (pid := naming.owner_pid(name)) is not None and not _alive(pid)]


def stale_namespaces() -> list[str]:
    return _stale(lab_namespaces())


def remove_stale() -> list[str]:
    """Remove the containers, then the namespaces, of runs that are gone; return their names."""
    containers = _stale(lab_containers())
    remove_containers(containers)
    namespaces = stale_namespaces()
    remove_namespaces(namespaces)
    return containers + namespaces
