"""Running configured scripts: no shell, a user, a timeout that kills, and keepalived's script security."""

from __future__ import annotations

import asyncio
import os
import pwd
import time

import pytest
from tandem.config.model import Position, Script
from tandem.notify.scripts import ScriptError, ScriptPolicy, run_script, writable_by_non_root
from tandemlab.polling import wait_for

NOBODY = pwd.getpwnam("nobody")
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="changes owners and users: needs root")


def running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's zombie waits for init to reap it)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def script_in(tmp_path, body: str = "exit 0", name: str = "check.sh") -> str:
    path = tmp_path / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return str(path)


def test_exit_status_decides_success_and_arguments_come_without_a_shell(tmp_path):
    marker = tmp_path / "args"
    path = script_in(tmp_path, f'printf "%s|" "$@" > {marker}; exit 3')
    prepared = ScriptPolicy().prepare(Script(command=f"{path} 'two words' $HOME;"))
    result = asyncio.run(run_script(prepared, timeout=5, extra_args=("INSTANCE",)))
    assert result.returncode == 3 and not result.success
    assert marker.read_text() == "two words|$HOME;|INSTANCE|"


def test_a_hung_script_and_its_children_are_killed_at_the_timeout(tmp_path):
    pids = tmp_path / "pids"
    path = script_in(tmp_path, f'trap "" TERM; sleep 30 & echo $$ $! > {pids}; wait')
    prepared = ScriptPolicy().prepare(Script(command=path))
    started = time.monotonic()
    result = asyncio.run(run_script(prepared, timeout=0.3))
    assert result.timed_out and not result.success
    assert time.monotonic() - started < 5
    # SIGKILL takes effect when the killed process next runs: on a loaded machine, a moment later
    assert wait_for(lambda: not any(running(int(pid)) for pid in pids.read_text().split()), 5)


def test_program_not_found_names_the_config_line():
    with pytest.raises(ScriptError, match=r"keepalived\.conf:7: .*program not found"):
        ScriptPolicy().prepare(Script(command="/no/such/check", pos=Position("keepalived.conf", 7)))


@needs_root
def test_runs_as_script_user_from_global_defs():
    policy = ScriptPolicy(script_user="nobody")
    prepared = policy.prepare(Script(command=f"/bin/sh -c 'test $(id -u) = {NOBODY.pw_uid}'"))
    assert prepared.run_as.uid == NOBODY.pw_uid
    assert asyncio.run(run_script(prepared, timeout=5)).success
    as_root = ScriptPolicy(script_user="nobody").prepare(
        Script(command="/bin/sh -c 'test $(id -u) = 0'", user="root")
    )
    assert asyncio.run(run_script(as_root, timeout=5)).success


@needs_root
def test_script_security_refuses_root_scripts_a_non_root_user_can_modify(tmp_path):
    tmp_path.chmod(0o755)
    secure = script_in(tmp_path, name="ok.sh")
    assert writable_by_non_root(secure) is None
    unsafe_dir = tmp_path / "writable"
    unsafe_dir.mkdir()
    os.chown(unsafe_dir, NOBODY.pw_uid, NOBODY.pw_gid)
    unsafe = script_in(unsafe_dir, name="bad.sh")
    group_writable = script_in(tmp_path, name="gw.sh")
    os.chown(group_writable, 0, NOBODY.pw_gid)
    os.chmod(group_writable, 0o775)

    strict = ScriptPolicy(script_user="root", enable_script_security=True)
    assert strict.prepare(Script(command=secure)).warning is None
    with pytest.raises(ScriptError, match=f"{unsafe_dir} is writable by a non-root user"):
        strict.prepare(Script(command=unsafe, pos=Position("k.conf", 3)))
    with pytest.raises(ScriptError, match=f"{group_writable} is writable"):
        strict.prepare(Script(command=group_writable))
    assert strict.prepare(Script(command=unsafe, user="nobody")).run_as.user == "nobody"
    lenient = ScriptPolicy(script_user="root")
    assert f"{unsafe_dir} is writable" in lenient.prepare(Script(command=unsafe)).warning


@needs_root
def test_sticky_world_writable_directory_is_not_a_hole(tmp_path):
    sticky = tmp_path / "sticky"
    sticky.mkdir()
    sticky.chmod(0o1777)
    tmp_path.chmod(0o755)
    assert writable_by_non_root(script_in(sticky)) is None
