"""The control socket, tandemctl's live subcommands and the metrics endpoint, over real sockets.

The handler here stands in for the daemon's state (the daemon implements the same Protocol).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import stat
import threading
import time
import urllib.request

import pytest
from tandem.control import cli
from tandem.control.client import ControlError, request, watch
from tandem.control.metrics import MetricsServer
from tandem.control.metrics import metrics_text as render
from tandem.control.protocol import (
    Broadcaster,
    InstanceStats,
    InstanceStatus,
    ReloadOutcome,
    TransitionEvent,
)
from tandem.control.server import ControlServer


class DaemonState:
    def __init__(self) -> None:
        self.broadcaster = Broadcaster()
        self.maintenance_calls: list[tuple] = []
        self.reload_ok = True

    def status(self):
        return [
            InstanceStatus(
                name="VI_1",
                state="MASTER",
                priority=130,
                base_priority=150,
                master="198.51.100.1",
                vips=("198.51.100.10/24",),
                since=1_700_000_000.0,
                reason="master down",
                maintenance="lower_by 20",
            )
        ]

    def stats(self):
        return [InstanceStats("VI_1", 10, 4, 1, 0, 2, 3, {"TTL": 2, "AUTH": 1})]

    async def reload(self):
        if self.reload_ok:
            return ReloadOutcome(True, summary={"unchanged": ["VI_1"], "added": ["VI_2"]})
        return ReloadOutcome(False, errors=("new.conf:12: unknown keyword 'priorty' in vrrp_instance",))

    async def maintenance(self, instance, lower_by, force_backup):
        if instance not in (None, "VI_1"):
            raise KeyError(instance)
        self.maintenance_calls.append((instance, lower_by, force_backup))
        return ["VI_1"]

    def subscribe(self):
        return self.broadcaster.subscribe()


@pytest.fixture
def daemon(tmp_path):
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    state = DaemonState()
    server = ControlServer(str(tmp_path / "run" / "tandemd.sock"), state)
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(5)
    yield server.path, state, loop
    asyncio.run_coroutine_threadsafe(server.close(), loop).result(5)
    asyncio.run_coroutine_threadsafe(cancel_connections(), loop).result(5)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


async def cancel_connections() -> None:
    """Connection handlers (a watch) outlive the listening socket; end them before the loop closes."""
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def tandemctl(socket_path: str, *argv: str) -> int:
    """What tandemctl does once it dispatches to tandem.control.cli."""
    parser = argparse.ArgumentParser(prog="tandemctl")
    parser.add_argument("-s", "--socket")
    parser.add_argument("--json", action="store_true")
    cli.add_commands(parser.add_subparsers(dest="command"))
    return cli.run(parser.parse_args(["--socket", socket_path, *argv]))


def test_socket_is_root_only(daemon):
    path, _, _ = daemon
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700


def test_status_json_and_table(daemon, capsys):
    path, _, _ = daemon
    assert tandemctl(path, "--json", "status") == 0
    (instance,) = json.loads(capsys.readouterr().out)
    assert (
        instance["state"] == "MASTER"
        and instance["priority"] == 130
        and instance["vips"] == ["198.51.100.10/24"]
    )
    assert tandemctl(path, "status") == 0
    header, row = capsys.readouterr().out.splitlines()
    assert header.split() == ["INSTANCE", "STATE", "PRIO/BASE", "MASTER", "VIPS", "SINCE", "REASON"]
    assert row.split()[:5] == ["VI_1", "MASTER", "130/150", "198.51.100.1", "198.51.100.10/24"]
    assert row.endswith("master down [maintenance: lower_by 20]")


def test_stats_reload_and_maintenance(daemon, capsys):
    path, state, _ = daemon
    assert tandemctl(path, "stats") == 0
    assert capsys.readouterr().out.splitlines()[1].split() == [
        "VI_1",
        "10",
        "4",
        "1",
        "0",
        "3",
        "2",
        "AUTH=1,",
        "TTL=2",
    ]
    assert tandemctl(path, "reload") == 0
    assert capsys.readouterr().out.strip() == "reloaded; unchanged: VI_1; added: VI_2"
    state.reload_ok = False
    assert tandemctl(path, "reload") == 1
    assert "new.conf:12: unknown keyword" in capsys.readouterr().out
    assert tandemctl(path, "maintenance", "VI_1", "--lower-by", "50") == 0
    assert tandemctl(path, "maintenance", "--force-backup") == 0
    assert tandemctl(path, "maintenance", "--clear") == 0
    assert state.maintenance_calls == [("VI_1", 50, False), (None, 0, True), (None, 0, False)]
    assert tandemctl(path, "maintenance", "VI_9", "--clear") == 1
    assert "unknown instance VI_9" in capsys.readouterr().err


def test_bad_requests_get_errors_not_disconnects(daemon):
    path, _, _ = daemon
    with pytest.raises(ControlError, match="unknown command 'explode'"):
        request(path, "explode")
    with pytest.raises(ControlError, match="cannot reach tandemd"):
        request(path + ".missing", "status")


def test_watch_streams_transitions_in_order(daemon):
    path, state, loop = daemon
    events = watch(path)
    received = []

    def publish_when_subscribed():
        deadline = time.monotonic() + 5
        while not state.broadcaster.subscribers and time.monotonic() < deadline:
            time.sleep(0.01)
        for new in ("MASTER", "BACKUP"):
            event = TransitionEvent(
                "VI_1", "BACKUP" if new == "MASTER" else "MASTER", new, "test", 100, time.time()
            )
            loop.call_soon_threadsafe(state.broadcaster.publish, event)

    threading.Thread(target=publish_when_subscribed, daemon=True).start()
    for event in events:
        received.append((event["old"], event["new"]))
        if len(received) == 2:
            break
    events.close()
    assert received == [("BACKUP", "MASTER"), ("MASTER", "BACKUP")]


def metrics_text(handler, lb=None) -> str:
    """One scrape of a MetricsServer serving ``handler`` (and ``lb``)."""

    async def scenario():
        async def source() -> str:
            return render(handler, lb)

        server = MetricsServer(source, "127.0.0.1", 0)
        await server.start()
        try:
            url = f"http://127.0.0.1:{server.port}/metrics"
            return await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=5).read().decode())
        finally:
            await server.close()

    return asyncio.run(scenario())


def test_metrics_endpoint_exposes_state_and_counters():
    text = metrics_text(DaemonState())
    assert 'tandem_vrrp_state{instance="VI_1",state="MASTER"} 1.0' in text
    assert 'tandem_vrrp_priority{instance="VI_1"} 130.0' in text
    assert 'tandem_vrrp_adverts_sent_total{instance="VI_1"} 10.0' in text
    assert 'tandem_vrrp_dropped_total{instance="VI_1",reason="TTL"} 2.0' in text
