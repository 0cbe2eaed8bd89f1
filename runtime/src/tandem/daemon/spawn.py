"""Starting a subsystem's process (``tandemd --child ROLE``), light enough to run before the supervisor
imports anything else: tandemd starts its first child this way straight after reading its arguments, so
the VRRP child's first advert does not wait for the parent's own start-up.

The child's command line is written here and read back here (:func:`child_options`), without argparse:
it is private to tandemd, and the child starts faster without it. So is its config: the supervisor
loads and checks the file (logging the findings) and hands the result to the child through the child's
stdin, a pipe (:func:`send_config`, :func:`receive_config`): the child imports only the config model,
not the lexer, parser and checks, and a restarted child runs the config the supervisor validated even if
the file was edited since. (A child's reload reads the file itself, after the supervisor checked it.)
"""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import socket
import subprocess
import sys
import threading
import time
from typing import NamedTuple

from tandem.systemd import SystemdNotifier

PARENT_ENV = "TANDEM_SUPERVISOR_PID"
EXIT_FATAL = 3  # a child that cannot run (its config, its control socket): not restarted, tandemd stops
ROLES = ("vrrp", "check")
SUBSYSTEM = {"vrrp": "VRRP", "check": "checker"}  # each role, as the log names it
CHILD_START_WAIT = 30.0  # s: the supervisor's own start-up waits at most this long for its first child's


class Spawned(NamedTuple):
    process: subprocess.Popen  # its stdin: the pipe of its config (send_config)
    notify: socket.socket  # the parent's end of the child's sd_notify(3) messages
    started: float  # time.monotonic()


class ChildOptions(NamedTuple):
    """What a child runs with: ``tandemd --child ROLE -f FILE --control-socket PATH`` and the options of
    the supervisor's own command line that matter to it (``CHILD_FLAGS``, ``CHILD_VALUES``)."""

    child: str  # its role
    config: str
    control_socket: str
    log_console: bool = False
    log_detail: bool = False
    no_syslog: bool = False
    log_facility: str = "daemon"
    config_id: str | None = None
    all_config: bool = False

    @property
    def source(self):
        from tandem.config import ConfigSource

        return ConfigSource(self.config, self.config_id, self.all_config)


# the child's options, by the flag tandemd's command line gives each (cli/tandemd.py)
CHILD_FLAGS = {"-l": "log_console", "-D": "log_detail", "-G": "no_syslog", "-e": "all_config"}
CHILD_VALUES = {"-f": "config", "--control-socket": "control_socket", "-S": "log_facility", "-i": "config_id"}


def child_socket(control_socket: str, role: str) -> str:
    """A child's own control socket, beside the public one: tandemd.sock → tandemd-vrrp.sock."""
    stem, suffix = os.path.splitext(control_socket)  # os.path: pathlib is not loaded in a child
    return f"{stem}-{role}{suffix or '.sock'}"


def first_role(args) -> str:
    return "check" if args.check_only else "vrrp"


def child_argv(args, role: str) -> list[str]:
    """The arguments after ``tandemd`` of ``role``'s process (read back by :func:`child_options`)."""
    given = vars(args) | {"control_socket": child_socket(args.control_socket, role)}
    argv = ["--child", role]
    argv += [
        word for flag, name in CHILD_VALUES.items() if given[name] is not None for word in (flag, given[name])
    ]
    return argv + [flag for flag, name in CHILD_FLAGS.items() if given[name]]


def child_options(argv: list[str]) -> ChildOptions:
    """:func:`child_argv` read back; anything else is a usage error (the child is not for people)."""
    found: dict[str, object] = {}
    values = {"--child": "child", **CHILD_VALUES}
    words = iter(argv)
    for word in words:
        if word in CHILD_FLAGS:
            found[CHILD_FLAGS[word]] = True
        elif word in values and (value := next(words, None)) is not None:
            found[values[word]] = value
        else:
            sys.exit(f"tandemd: {word!r}: --child takes only the options the supervisor gives it")
    if found.get("child") not in ROLES or not {"config", "control_socket"} <= found.keys():
        sys.exit(f"tandemd: usage: --child {'|'.join(ROLES)} -f FILE --control-socket PATH [options]")
    return ChildOptions(**found)


def spawn(args, role: str, config=None, early=None) -> Spawned:
    """Start ``role``'s process with tandemd's own options; its sd_notify messages reach the parent.
    With ``config``, it is sent at once (:func:`send_config`); without, the caller sends it. ``early``:
    a :class:`tandem.vrrp.early.EarlyListener` the (VRRP) child goes on listening with."""
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK)
    name = f"tandemd-{os.getpid()}-{role}-{time.monotonic_ns()}"
    notify.bind("\0" + name)
    env = dict(os.environ, NOTIFY_SOCKET="@" + name, **{PARENT_ENV: str(os.getpid())})
    env.pop("WATCHDOG_PID", None)
    env.pop("WATCHDOG_USEC", None)
    if (interval := SystemdNotifier.from_environ().watchdog_interval) is not None:
        env["WATCHDOG_USEC"] = str(int(interval * 2e6))  # the child pings the parent as often
    fds: tuple[int, ...] = ()
    if early is not None:
        from tandem.vrrp.early import ENV

        fds, env[ENV] = early.handed()
    argv = [sys.executable, "-m", "tandem.cli.tandemd", *child_argv(args, role)]
    process = subprocess.Popen(argv, env=env, stdin=subprocess.PIPE, pass_fds=fds)
    spawned = Spawned(process, notify, time.monotonic())
    if config is not None:
        # from a thread: a config larger than the pipe's buffer waits for the child to read it, and the
        # supervisor's event loop must not
        threading.Thread(target=send_config, args=(spawned, config), daemon=True).start()
    return spawned


def send_config(spawned: Spawned, config) -> None:
    """Hand the loaded config to the child, or, with None (the file has errors: logged by the caller),
    nothing: the child then exits with EXIT_FATAL."""
    pipe = spawned.process.stdin
    try:
        if config is not None:
            pipe.write(pickle.dumps(config, protocol=pickle.HIGHEST_PROTOCOL))
        pipe.close()
    except BrokenPipeError:  # the child has ended already: the supervisor sees its exit
        with contextlib.suppress(OSError):
            pipe.close()


def receive_config():
    """In a child: the config :func:`send_config` sent, or None when it sent none."""
    with os.fdopen(sys.stdin.fileno(), "rb", closefd=False) as pipe:
        try:
            return pickle.load(pipe)
        except EOFError:
            return None


def wait_until_started(spawned: Spawned, timeout: float) -> None:
    """Idle until the child's first sd_notify message (READY=1 once its instances run), its end, or
    ``timeout``: the parent's own start-up (asyncio, the config) would otherwise take CPU from the
    child's, whose first advert is what matters. Nothing is read: the supervisor reads it later."""
    pidfd = os.pidfd_open(spawned.process.pid)
    try:
        select.select([spawned.notify, pidfd], [], [], timeout)
    finally:
        os.close(pidfd)
