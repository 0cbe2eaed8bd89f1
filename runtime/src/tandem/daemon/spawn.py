"""Starting a subsystem's process (``tandemd --child ROLE``), light enough to run before the supervisor
imports anything else: tandemd starts its first child this way straight after reading its arguments, so
the VRRP child's first advert does not wait for the parent's own start-up."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

from tandem.systemd import SystemdNotifier

PARENT_ENV = "TANDEM_SUPERVISOR_PID"


class Spawned(NamedTuple):
    process: subprocess.Popen
    notify: socket.socket  # the parent's end of the child's sd_notify(3) messages
    started: float  # time.monotonic()


def child_socket(control_socket: str, role: str) -> str:
    """A child's own control socket, beside the public one: tandemd.sock → tandemd-vrrp.sock."""
    path = Path(control_socket)
    return str(path.with_name(f"{path.stem}-{role}{path.suffix or '.sock'}"))


def first_role(args) -> str:
    return "check" if args.check_only else "vrrp"


def spawn(args, role: str) -> Spawned:
    """Start ``role``'s process with tandemd's own options; its sd_notify messages reach the parent."""
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK)
    name = f"tandemd-{os.getpid()}-{role}-{time.monotonic_ns()}"
    notify.bind("\0" + name)
    env = dict(os.environ, NOTIFY_SOCKET="@" + name, **{PARENT_ENV: str(os.getpid())})
    env.pop("WATCHDOG_PID", None)
    env.pop("WATCHDOG_USEC", None)
    if (interval := SystemdNotifier.from_environ().watchdog_interval) is not None:
        env["WATCHDOG_USEC"] = str(int(interval * 2e6))  # the child pings the parent as often
    argv = [sys.executable, "-m", "tandem.cli.tandemd", "--child", role, "-f", args.config]
    argv += ["--control-socket", child_socket(args.control_socket, role)]
    argv += [flag for flag, on in (("-l", args.log_console), ("-D", args.log_detail)) if on]
    return Spawned(subprocess.Popen(argv, env=env), notify, time.monotonic())


def write_pid_file(path: Path, pid: int) -> None:
    """Atomically: a reader never sees an empty or half-written pid file (it is replaced on restarts)."""
    part = path.with_name(f".{path.name}.{os.getpid()}")
    part.write_text(f"{pid}\n")
    part.replace(path)
