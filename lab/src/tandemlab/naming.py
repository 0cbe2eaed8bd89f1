"""Names of lab namespaces: unique per run, and recognisable so a crashed run can be cleaned up later.

A namespace is called ``tandemlab-<owner pid>-<lab number>-<role>``: the owner's pid tells whether the
run that made it is still alive. Molecule labs made for a process (the pytest fixture, the demo) take
their prefix from here too, so their namespaces and containers are recognised the same way.
"""

from __future__ import annotations

import itertools
import os
import re

PREFIX = "tandemlab"
_NAME = re.compile(rf"^{PREFIX}-(?P<pid>\d+)-(?P<lab>\d+)-(?P<role>[\w-]+)$")
_lab_numbers = itertools.count(1)


def new_lab_prefix() -> str:
    return f"{PREFIX}-{os.getpid()}-{next(_lab_numbers)}"


def owner_pid(name: str) -> int | None:
    """The pid of the process that made a lab namespace or container; None if the name is not a lab's."""
    match = _NAME.match(name)
    return int(match["pid"]) if match else None
