"""Notify scripts in event order without blocking the caller, and notify FIFO lines in keepalived's format."""

from __future__ import annotations

import asyncio
import os
import textwrap

from tandem.config import load_config_text
from tandem.notify.fifo import NotifyFifo
from tandem.notify.notifier import Notifier, NotifyEvent
from tandem.notify.scripts import ScriptPolicy


def write_script(path, body: str) -> str:
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return str(path)


def load(tmp_path):
    log = tmp_path / "log"
    slow_master = write_script(tmp_path / "master.sh", f'sleep 0.3; echo "master $*" >> {log}')
    backup = write_script(tmp_path / "backup.sh", f'echo "backup $*" >> {log}')
    generic = write_script(tmp_path / "notify.sh", f'echo "notify $*" >> {log}')
    text = textwrap.dedent(
        f"""
        vrrp_instance VI_1 {{
            interface eth0
            virtual_router_id 1
            virtual_ipaddress {{
                198.51.100.1/24
            }}
            notify_master "{slow_master} from-config"
            notify_backup {backup}
            notify {generic}
        }}
        vrrp_sync_group VG_1 {{
            group {{
                VI_1
            }}
            notify "{generic} group"
        }}
        """
    )
    result = load_config_text(text, "notify.conf")
    assert result.config is not None, result.findings
    return result.config, log


def test_scripts_run_in_event_order_while_notify_returns_at_once(tmp_path):
    config, log = load(tmp_path)

    async def scenario():
        notifier = Notifier(config, ScriptPolicy(script_user="root"))
        worker = asyncio.ensure_future(notifier.run())
        notifier.notify(NotifyEvent("INSTANCE", "VI_1", "MASTER", 100))
        notifier.notify(NotifyEvent("GROUP", "VG_1", "MASTER", 0))
        notifier.notify(NotifyEvent("INSTANCE", "VI_1", "BACKUP", 80))
        assert not log.exists()  # the slow master script is still sleeping: nothing waited for it
        async with asyncio.timeout(10):
            await notifier.drain()
        worker.cancel()
        assert notifier.errors == []

    asyncio.run(scenario())
    assert log.read_text().splitlines() == [
        "master from-config",
        "notify INSTANCE VI_1 MASTER 100",
        "notify group GROUP VG_1 MASTER 0",
        "backup ",  # echo "backup $*" with no arguments
        "notify INSTANCE VI_1 BACKUP 80",
    ]


def test_insecure_script_is_refused_at_load_with_its_path(tmp_path):
    config, _ = load(tmp_path)
    os.chmod(tmp_path, 0o777)
    notifier = Notifier(config, ScriptPolicy(script_user="root", enable_script_security=True))
    assert len(notifier.errors) == 4
    assert all(f"{tmp_path} is writable by a non-root user" in error for error in notifier.errors)
    assert "notify.conf:" in notifier.errors[0]


def test_fifo_lines_in_keepalived_format_and_no_reader_never_blocks(tmp_path):
    path = str(tmp_path / "notify.fifo")
    fifo = NotifyFifo(path)
    reader = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        fifo.write(NotifyEvent("INSTANCE", "VI_1", "MASTER", 100).fifo_line)
        fifo.write(NotifyEvent("GROUP", "VG_1", "FAULT", 0).fifo_line)
        assert os.read(reader, 4096) == b'INSTANCE "VI_1" MASTER 100\nGROUP "VG_1" FAULT 0\n'
    finally:
        os.close(reader)
    for _ in range(20000):  # far more than a pipe holds, and nobody reads
        fifo.write(NotifyEvent("INSTANCE", "VI_1", "BACKUP", 90).fifo_line)
    assert fifo.dropped > 0
    fifo.close()


def test_priority_changes_follow_keepalived_precedence():
    """notify_priority_changes of the instance, else of its sync group, else global_defs'."""
    from tandem.notify.notifier import priority_changes

    def vi(name: str, vrid: int, line: str = "") -> str:
        return (
            f"vrrp_instance {name} {{\n interface eth0\n virtual_router_id {vrid}\n {line}\n"
            f" virtual_ipaddress {{\n  198.51.100.{vrid}/24\n }}\n}}\n"
        )

    text = (
        "global_defs {\n vrrp_notify_priority_changes\n}\n"
        + vi("PLAIN", 1)  # global: on
        + vi("OFF", 2, "notify_priority_changes false")  # its own: off
        + vi("IN_QUIET_GROUP", 3)  # its group: off
        + vi("LOUD_IN_QUIET_GROUP", 4, "notify_priority_changes")  # its own beats the group
        + "vrrp_sync_group G {\n group {\n  IN_QUIET_GROUP\n  LOUD_IN_QUIET_GROUP\n }\n"
        " notify_priority_changes no\n}\n"
    )
    result = load_config_text(text)
    assert not result.errors, result.errors
    assert priority_changes(result.config) == {"PLAIN", "LOUD_IN_QUIET_GROUP"}
    assert priority_changes(load_config_text(vi("A", 1)).config) == frozenset()
