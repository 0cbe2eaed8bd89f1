"""Notifications from a real tandemd: notify scripts, the notify FIFO and smtp_alert mail, in event order."""

from __future__ import annotations

import mailbox
import sys

import pytest
from daemon_lab import GLOBAL, Daemon, instance
from tandemlab.polling import wait_for
from test_tracking import open_fifo, read_lines, script

pytestmark = [pytest.mark.lab, pytest.mark.slow]

SMTP_PORT = 2525


def recorder(path, label: str, out) -> str:
    path.write_text(f'#!/bin/sh\necho "{label} $*" >> {out}\n')
    path.chmod(0o755)
    return str(path)


def start_smtp_server(host, maildir):
    """aiosmtpd inside ``host`` (tandemd's namespace), on its loopback, delivering into a Maildir."""
    argv = [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{SMTP_PORT}"]
    server = host.spawn([*argv, "-c", "aiosmtpd.handlers.Mailbox", str(maildir)])
    probe = f"import socket; socket.create_connection(('127.0.0.1', {SMTP_PORT}), 1)"
    assert wait_for(lambda: host.run([sys.executable, "-c", probe], check=False).returncode == 0, 10)
    return server


def test_scripts_fifo_and_mail_get_every_transition_in_order(make_lab, tmp_path):
    (h1,) = make_lab(1).hosts
    out, healthy, fifo, maildir = (tmp_path / n for n in ("notify.out", "healthy", "tandem.fifo", "mail"))
    healthy.touch()
    start_smtp_server(h1, maildir)
    global_defs = GLOBAL.replace(
        "}",
        f"    router_id h1\n    notify_fifo {fifo}\n    smtp_server 127.0.0.1 {SMTP_PORT}\n"
        "    smtp_connect_timeout 5\n    notification_email {\n        ops@example.com\n    }\n"
        "    notification_email_from tandemd@example.com\n}",
    )
    notify = f"""\
        notify_master {recorder(tmp_path / "master.sh", "master", out)}
        notify_backup {recorder(tmp_path / "backup.sh", "backup", out)}
        notify_fault {recorder(tmp_path / "fault.sh", "fault", out)}
        notify_stop {recorder(tmp_path / "stop.sh", "stop", out)}
        notify {recorder(tmp_path / "notify.sh", "notify", out)}
        smtp_alert
        track_script {{
            chk
        }}"""
    reader = open_fifo(fifo)
    vi_1 = instance(h1, "VI_1", 51, "198.51.100.100/24", 100, notify)
    config = global_defs + script("chk", healthy, weight=0) + vi_1
    daemon = Daemon(h1, tmp_path).start(config)
    assert wait_for(lambda: daemon.state() == "MASTER", 5)
    healthy.unlink()
    assert wait_for(lambda: daemon.state() == "FAULT", 5)
    healthy.touch()
    assert wait_for(lambda: daemon.state() == "MASTER", 5)
    assert daemon.stop() == 0

    states = ["BACKUP", "MASTER", "FAULT", "BACKUP", "MASTER", "STOP"]
    assert read_lines(reader) == [f'INSTANCE "VI_1" {state} 100' for state in states]
    expected = []
    for state in states:
        expected += [f"{state.lower()} ", f"notify INSTANCE VI_1 {state} 100"]
    assert out.read_text().splitlines() == expected  # all ran before tandemd exited

    subjects = sorted(message["Subject"] for message in mailbox.Maildir(maildir, create=False))
    assert subjects == sorted(f"[h1] VRRP Instance VI_1 - Entering {state} state" for state in states[:-1])
    first = next(iter(mailbox.Maildir(maildir, create=False)))
    assert (first["From"], first["To"]) == ("tandemd@example.com", "ops@example.com")
