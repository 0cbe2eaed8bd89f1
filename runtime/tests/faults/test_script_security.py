"""keepalived's script security in a real tandemd running as root: a notify or vrrp_script program that a
non-root user can modify is refused (named in the log, never run) under enable_script_security, and
script arguments reach the program as written, never through a shell."""

from __future__ import annotations

import os
import pwd
import time

import pytest
from daemon_lab import GLOBAL, Daemon, instance
from tandemlab.polling import wait_for

pytestmark = [pytest.mark.lab, pytest.mark.slow]
NOBODY = pwd.getpwnam("nobody")


def program(path, body: str, owner=None):
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    if owner is not None:
        os.chown(path, owner.pw_uid, owner.pw_gid)
    return path


def test_insecure_scripts_are_refused_and_arguments_never_pass_through_a_shell(make_lab, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("script security applies to scripts run as root")
    (h1,) = make_lab(1).hosts
    tmp_path.chmod(0o755)
    ran, args = tmp_path / "insecure-ran", tmp_path / "args"
    insecure_notify = program(tmp_path / "notify-nobody.sh", f"touch {ran}", owner=NOBODY)
    insecure_check = program(tmp_path / "check-nobody.sh", f"touch {ran}; exit 0", owner=NOBODY)
    recorder = program(tmp_path / "record.sh", f'printf "%s|" "$@" >> {args}')
    global_defs = GLOBAL.replace("}", "    script_user root\n    enable_script_security\n}")
    check = f"vrrp_script chk_nobody {{\n    script {insecure_check}\n    interval 1\n    weight -50\n}}\n"
    body = f"""\
        notify_master {insecure_notify}
        notify "{recorder} 'two words' $(touch {ran}) ;rm"
        track_script {{
            chk_nobody
        }}"""
    daemon = Daemon(h1, tmp_path).start(
        global_defs + check + instance(h1, "VI_1", 51, "198.51.100.100/24", 100, body)
    )
    assert wait_for(lambda: args.exists() and "MASTER" in args.read_text(), 5), daemon.log_text()
    time.sleep(2.0)  # the check script would have run twice by now
    log = daemon.log_text()
    assert f"{insecure_notify} is writable by a non-root user" in log, log
    assert f"{insecure_check} is writable by a non-root user" in log, log
    assert not ran.exists()  # neither insecure program ran, and $(touch ...) was no command substitution
    first = args.read_text().split("|")
    assert first[:4] == ["two words", "$(touch", f"{ran})", ";rm"], first  # split on blanks, as keepalived
    assert daemon.stop() == 0
