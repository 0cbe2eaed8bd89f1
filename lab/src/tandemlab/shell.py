"""Running ``ip``, ``nft`` and friends, with errors that say which command failed and why."""

from __future__ import annotations

import subprocess


class LabError(RuntimeError):
    """A lab command failed; the message carries the command and its stderr."""


def run(argv: list[str], *, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run(argv, capture_output=True, text=True, input=input, check=False)
    if check and result.returncode != 0:
        raise LabError(f"{' '.join(argv)} exited {result.returncode}: {result.stderr.strip()}")
    return result


def netns_exec(netns: str, argv: list[str]) -> list[str]:
    """argv that runs inside a namespace; ``ip netns exec`` execs, so the pid is the program's own."""
    return ["ip", "netns", "exec", netns, *argv]


def netns_pids(netns: str) -> list[int]:
    result = run(["ip", "netns", "pids", netns], check=False)
    return [int(pid) for pid in result.stdout.split()]
