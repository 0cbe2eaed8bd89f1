"""Running configured scripts the way keepalived does: no shell, a user, a timeout, script security.

Used by notify scripts and by vrrp_script (``tandem.track.script``). A script line is split into argv
(``Script.argv``); the program is looked up on PATH when not absolute. It runs as ``user`` from the
script line, else ``global_defs.script_user``, else ``keepalived_script`` when that user exists, else
root (keepalived.conf(5), "SCRIPTS"). Running it as root is refused under ``enable_script_security``
when a non-root user could modify or replace it; without that option it is only a warning.
"""

from __future__ import annotations

import asyncio
import contextlib
import grp
import os
import pwd
import signal
import stat
from dataclasses import dataclass

from tandem.config.model import GlobalDefs, Script

DEFAULT_SCRIPT_USER = "keepalived_script"
KILL_GRACE = 0.5  # seconds between SIGTERM and SIGKILL for a script past its timeout


class ScriptError(Exception):
    """A script that cannot be run (missing program, unknown user, insecure under script security)."""


@dataclass(frozen=True, slots=True)
class RunAs:
    user: str
    uid: int
    gid: int


@dataclass(frozen=True, slots=True)
class PreparedScript:
    argv: tuple[str, ...]  # argv[0] resolved to an absolute path
    run_as: RunAs
    warning: str | None = None  # insecure, but script security is off


@dataclass(frozen=True, slots=True)
class ScriptResult:
    returncode: int | None  # None when it was killed for running too long
    timed_out: bool = False

    @property
    def success(self) -> bool:
        return self.returncode == 0


def writable_by_non_root(path: str) -> str | None:
    """The first of ``path`` and its parent directories a non-root user can modify, or None.

    keepalived's rule: owned by a non-root user, or writable by a non-root group or by everyone —
    except directories with the sticky bit, where others cannot replace what root owns.
    """
    real = os.path.realpath(path)
    candidates = [real]
    while candidates[-1] != "/":
        candidates.append(os.path.dirname(candidates[-1]))
    for candidate in candidates:
        info = os.stat(candidate)
        sticky_dir = stat.S_ISDIR(info.st_mode) and info.st_mode & stat.S_ISVTX
        group_writable = info.st_gid != 0 and info.st_mode & stat.S_IWGRP
        if info.st_uid != 0 or (not sticky_dir and (group_writable or info.st_mode & stat.S_IWOTH)):
            return candidate
    return None


@dataclass(frozen=True, slots=True)
class ScriptPolicy:
    """``global_defs``' script settings: the default user/group and ``enable_script_security``."""

    script_user: str | None = None
    script_group: str | None = None
    enable_script_security: bool = False

    @classmethod
    def from_global_defs(cls, defs: GlobalDefs) -> ScriptPolicy:
        return cls(defs.script_user, defs.script_group, defs.enable_script_security)

    def run_as(self, script: Script) -> RunAs:
        user, group = (script.user, script.group) if script.user else (self.script_user, self.script_group)
        if user is None:
            user = DEFAULT_SCRIPT_USER if _user_exists(DEFAULT_SCRIPT_USER) else "root"
        try:
            entry = pwd.getpwnam(user)
            gid = grp.getgrnam(group).gr_gid if group else entry.pw_gid
        except KeyError as error:
            raise ScriptError(f"{script.pos}: unknown user or group for script {script.command!r}") from error
        return RunAs(user, entry.pw_uid, gid)

    def prepare(self, script: Script) -> PreparedScript:
        """Resolve program and user, and apply script security; raises ScriptError naming the path."""
        import shutil  # here: with bz2 and lzma it is 0.4 MB in the VRRP child of a config without scripts

        argv = script.argv
        program = shutil.which(argv[0]) if argv else None
        if program is None:
            raise ScriptError(f"{script.pos}: script {script.command!r}: program not found")
        run_as = self.run_as(script)
        warning = None
        if run_as.uid == 0:
            unsafe = writable_by_non_root(program)
            if unsafe is not None:
                message = (
                    f"{script.pos}: script {script.command!r} would run as root but {unsafe} "
                    "is writable by a non-root user"
                )
                if self.enable_script_security:
                    raise ScriptError(message)
                warning = message
        return PreparedScript((os.path.abspath(program), *argv[1:]), run_as, warning)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


async def run_script(
    script: PreparedScript, timeout: float, extra_args: tuple[str, ...] = ()
) -> ScriptResult:
    """Run without a shell; past ``timeout`` its whole process group gets SIGTERM, then SIGKILL."""
    process = await start_script(script, extra_args)
    try:
        return ScriptResult(await asyncio.wait_for(process.wait(), timeout))
    except TimeoutError:
        pass
    except asyncio.CancelledError:
        await stop_script(process)
        raise
    await stop_script(process)
    return ScriptResult(None, timed_out=True)


async def start_script(
    script: PreparedScript, extra_args: tuple[str, ...] = ()
) -> asyncio.subprocess.Process:
    """Start ``script`` without a shell, as its user, in a process group of its own (so that
    :func:`stop_script` ends its children too)."""
    identity = {}
    if script.run_as.uid != os.geteuid():
        identity = {"user": script.run_as.uid, "group": script.run_as.gid, "extra_groups": []}
    return await asyncio.create_subprocess_exec(
        *script.argv,
        *extra_args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,
        **identity,
    )


async def stop_script(process: asyncio.subprocess.Process) -> None:
    """SIGTERM to the script's process group, SIGKILL after KILL_GRACE."""
    _signal_group(process.pid, signal.SIGTERM)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(process.wait(), KILL_GRACE)
    _signal_group(process.pid, signal.SIGKILL)  # also children that ignored SIGTERM
    await process.wait()


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signum)
