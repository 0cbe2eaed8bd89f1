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
VIP = "198.51.100.100/24"


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


def test_priority_changes_and_the_fifo_script(make_lab, tmp_path):
    """vrrp_notify_priority_changes: a tracked priority change writes ``INSTANCE "VI_1" MASTER_PRIORITY N``
    (keepalived 2.2.7 writes exactly these lines for the same config); an instance that turns the option
    off writes none. vrrp_notify_fifo_script runs at start with the FIFO's path as its last argument,
    reads every line, and is stopped with tandemd."""
    (h1,) = make_lab(1).hosts
    fifo, weight, out = tmp_path / "vrrp.fifo", tmp_path / "weight", tmp_path / "reader.out"
    reader = tmp_path / "reader.sh"
    loop = f'while read l; do echo "$l" >> {out}; done < "$1"'
    reader.write_text(f'#!/bin/sh\necho "args $*" >> {out}\n{loop}\n')
    reader.chmod(0o755)
    weight.write_text("0\n")
    global_defs = GLOBAL.replace(
        "}",
        f"    vrrp_notify_fifo {fifo}\n    vrrp_notify_fifo_script {reader}\n"
        "    vrrp_notify_priority_changes\n}",
    )
    track = f"track_file weight {{\n    file {weight}\n    weight 1\n}}\n"
    quiet = "notify_priority_changes off\ntrack_file {\n    weight\n}"
    config = (
        global_defs
        + track
        + instance(h1, "VI_1", 51, "198.51.100.100/24", 100, "track_file {\n    weight\n}")
        + instance(h1, "VI_2", 52, "198.51.100.101/24", 100, quiet)
    )
    daemon = Daemon(h1, tmp_path).start(config)
    assert wait_for(lambda: daemon.state() == "MASTER", 5)
    weight.write_text("-20\n")
    assert wait_for(lambda: daemon.status()["VI_1"]["priority"] == 80, 5)
    weight.write_text("5\n")
    assert wait_for(lambda: daemon.status()["VI_1"]["priority"] == 105, 5)
    expected = ['INSTANCE "VI_1" MASTER_PRIORITY 80', 'INSTANCE "VI_1" MASTER_PRIORITY 105']
    assert wait_for(lambda: out.exists() and expected[-1] in out.read_text(), 5)
    pids = h1.run(["pgrep", "-f", str(reader)], check=False).stdout.split()
    assert len(pids) == 1
    assert daemon.stop() == 0
    lines = out.read_text().splitlines()
    assert lines[0] == f"args {fifo}"
    assert [line for line in lines if "PRIORITY" in line] == expected  # none for VI_2
    assert 'INSTANCE "VI_1" MASTER 100' in lines and 'INSTANCE "VI_2" MASTER 100' in lines
    assert wait_for(lambda: h1.run(["kill", "-0", pids[0]], check=False).returncode != 0, 5)


@pytest.mark.interop
@pytest.mark.parametrize("higher", ["tandemd", "keepalived"])
def test_master_rx_lower_pri_after_a_split_brain(make_lab, tmp_path, higher):
    """The Master cut off from its backup (h1 → h2 dropped at the switch) hears the backup's adverts once
    that one became Master too: ``INSTANCE "VI_1" MASTER_RX_LOWER_PRI 150`` (its own priority) on the
    FIFO and notify_master_rx_lower_pri run, whether the higher node is tandemd or keepalived 2.2.7
    (the reference: the same line); the healed link ends the split brain. keepalived writes the line
    for every such advert, tandemd at most once a second."""
    from vrrp_lab import Group, holders, start

    lab = make_lab(2)
    h1, h2 = lab.hosts
    fifo, out = tmp_path / "vrrp.fifo", tmp_path / "notify.out"
    rx_lower = recorder(tmp_path / "rx_lower.sh", "rx_lower", out)
    group = Group(options=(f"notify_master_rx_lower_pri {rx_lower}",))
    lower = "keepalived" if higher == "tandemd" else "tandemd"
    reader = open_fifo(fifo)
    noticed = Group(options=group.options, global_options=(f"vrrp_notify_fifo {fifo}",))
    start(higher, h1, noticed.config(h1, [h2], 150), tmp_path)
    start(lower, h2, Group().config(h2, [h1], 100), tmp_path)
    assert wait_for(lambda: holders(lab.hosts, VIP) == ["h1"], 10)
    lines = read_lines(reader)
    assert 'INSTANCE "VI_1" MASTER 150' in lines
    assert not any("RX_LOWER" in line for line in lines)
    lab.block(h1, h2)  # h2 no longer hears h1: it becomes Master too, h1 hears its adverts
    assert wait_for(lambda: holders(lab.hosts, VIP) == ["h1", "h2"], 5)
    assert wait_for(lambda: out.exists() and "rx_lower" in out.read_text(), 5)
    lab.heal()
    assert wait_for(lambda: holders(lab.hosts, VIP) == ["h1"], 5)
    lines = read_lines(reader)
    assert {line for line in lines if "RX_LOWER" in line} == {'INSTANCE "VI_1" MASTER_RX_LOWER_PRI 150'}
    assert {line.strip() for line in out.read_text().splitlines()} == {"rx_lower"}  # no arguments


def test_fifo_write_vrrp_states_on_reload(make_lab, tmp_path):
    """fifo_write_vrrp_states_on_reload: a reload writes the state of every instance to the FIFO again,
    without a transition, as keepalived.conf(5) describes it. (keepalived 2.2.7 itself was seen writing
    nothing on SIGHUP, with vrrp_notify_fifo or notify_fifo, with or without a FIFO script.)"""
    (h1,) = make_lab(1).hosts
    fifo = tmp_path / "vrrp.fifo"
    reader = open_fifo(fifo)
    global_defs = GLOBAL.replace(
        "}", f"    vrrp_notify_fifo {fifo}\n    fifo_write_vrrp_states_on_reload\n}}"
    )
    daemon = Daemon(h1, tmp_path).start(global_defs + instance(h1, "VI_1", 51, VIP, 100))
    assert wait_for(lambda: daemon.state() == "MASTER", 10)
    assert wait_for(lambda: 'INSTANCE "VI_1" MASTER 100' in read_lines(reader), 5)
    assert daemon.ctl("reload").returncode == 0
    assert wait_for(lambda: 'INSTANCE "VI_1" MASTER 100' in read_lines(reader), 10)
    assert daemon.status()["VI_1"]["state"] == "MASTER"  # no transition: the line is the state, again


def test_no_email_faults_sends_no_mail_for_fault(tmp_path):
    """global_defs no_email_faults: smtp_alert mails every transition but FAULT (instances and groups)."""
    from tandem.config import load_config_text
    from tandem.notify.notifier import Notifier, NotifyEvent
    from tandem.notify.scripts import ScriptPolicy

    class Mailer:
        def __init__(self):
            self.sent = []

        def alert(self, kind, name, state):
            self.sent.append((kind, name, state))

    for quiet, expected in ((False, ["MASTER", "FAULT", "BACKUP"]), (True, ["MASTER", "BACKUP"])):
        text = (
            "global_defs {\n    smtp_server 127.0.0.1\n" + ("    no_email_faults\n" if quiet else "") + "}\n"
        )
        text += "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 1\n smtp_alert\n"
        text += " virtual_ipaddress {\n  198.51.100.1/24\n }\n}\n"
        config = load_config_text(text).config
        mailer = Mailer()
        notifier = Notifier(config, ScriptPolicy.from_global_defs(config.global_defs), (), mailer)
        for state in ("MASTER", "FAULT", "BACKUP"):
            notifier.notify(NotifyEvent("INSTANCE", "VI_1", state, 100))
        assert [state for _, _, state in mailer.sent] == expected
