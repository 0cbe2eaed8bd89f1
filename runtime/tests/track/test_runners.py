"""The tracking runners against real processes, real files and real netlink events."""

from __future__ import annotations

import asyncio
import json
import select
import subprocess
import sys
import textwrap
import time

import pytest
from tandem.config.model import Script, TrackFile, VrrpScript
from tandem.notify.scripts import ScriptPolicy
from tandem.track.files import FileWatcher, read_track_file
from tandem.track.script import ScriptRunner


async def collect_until(task_factory, results: list, count: int, limit: float = 5.0) -> None:
    """Run a runner until it reported ``count`` results (bounded), then cancel it."""
    task = asyncio.ensure_future(task_factory())
    try:
        async with asyncio.timeout(limit):
            while len(results) < count:
                await asyncio.sleep(0.02)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def test_script_runner_reports_exit_statuses_and_kills_hung_runs(tmp_path):
    state = tmp_path / "state"
    state.write_text("0")
    command = f"/bin/sh -c 'read s < {state}; [ $s = hang ] && sleep 30; exit $s'"
    script = VrrpScript(name="chk", script=Script(command=command), interval=0.1, timeout=0.3)
    results: list[tuple[str, bool]] = []

    def on_result(name: str, success: bool) -> None:
        results.append((name, success))
        if len(results) == 2:
            state.write_text("1")
        elif len(results) == 4:
            state.write_text("hang")

    runner = ScriptRunner(script, ScriptPolicy().prepare(script.script), on_result)
    asyncio.run(collect_until(runner.run, results, 5))
    assert results[:5] == [("chk", True)] * 2 + [("chk", False)] * 3


def test_track_file_values_and_init_file(tmp_path):
    path = tmp_path / "weight"
    track_file = TrackFile(name="tf", file=str(path), init_file=7)
    values: list[tuple[str, int]] = []

    def on_value(name: str, value: int) -> None:
        values.append((name, value))
        if value == 7:
            path.write_text("  -12 trailing words\n")
        elif value == -12:
            path.unlink()

    watcher = FileWatcher(track_file, on_value, interval=0.05)
    asyncio.run(collect_until(watcher.run, values, 3))
    assert values == [("tf", 7), ("tf", -12), ("tf", 0)]
    path.write_text("garbage")
    assert read_track_file(str(path)) == 0


LINK_MONITOR = textwrap.dedent(
    """
    import asyncio, json, sys
    from tandem.track.links import LinkMonitor

    def report(name, up):
        print(json.dumps([name, up]), flush=True)

    delays = json.loads(sys.argv[1])
    asyncio.run(LinkMonitor(sys.argv[2:], report, delays).run())
    """
)


def read_line(process: subprocess.Popen, limit: float = 5.0):
    ready, _, _ = select.select([process.stdout], [], [], limit)
    assert ready, "no link event within the time limit"
    return json.loads(process.stdout.readline())


@pytest.mark.lab
def test_link_monitor_sees_initial_state_and_carrier_changes(lab2):
    host = lab2.hosts[0]
    monitor = host.spawn(
        [sys.executable, "-c", LINK_MONITOR, "{}", host.ifname, "absent0"], stdout=subprocess.PIPE, bufsize=0
    )
    try:
        assert {tuple(read_line(monitor.popen)) for _ in range(2)} == {
            (host.ifname, True),
            ("absent0", False),
        }
        host.link_down()
        assert read_line(monitor.popen) == [host.ifname, False]
        host.link_up()
        assert read_line(monitor.popen) == [host.ifname, True]
    finally:
        monitor.stop()


@pytest.mark.lab
def test_link_monitor_waits_out_interface_up_down_delays(lab2):
    """interface_up_down_delays eth0 2 1: a bounce shorter than the delay is never reported; a lasting
    change is, once the delay (down 2 s, up 1 s) has passed."""
    host = lab2.hosts[0]
    delays = json.dumps({host.ifname: [2.0, 1.0]})
    argv = [sys.executable, "-c", LINK_MONITOR, delays, host.ifname]
    monitor = host.spawn(argv, stdout=subprocess.PIPE, bufsize=0)
    try:
        assert read_line(monitor.popen) == [host.ifname, True]  # the state at start: at once
        host.link_down()
        host.link_up()  # back within the down delay
        ready, _, _ = select.select([monitor.popen.stdout], [], [], 2.5)
        assert not ready, "a bounce shorter than the delay was reported"
        down_at = time.monotonic()
        host.link_down()
        assert read_line(monitor.popen) == [host.ifname, False]
        assert time.monotonic() - down_at >= 1.95
        up_at = time.monotonic()
        host.link_up()
        assert read_line(monitor.popen) == [host.ifname, True]
        assert time.monotonic() - up_at >= 0.95
    finally:
        monitor.stop()
