"""track_process: matching, quorum over time (fake clock), the config language, and the watcher on
real processes (the kernel's process connector in the initial network namespace)."""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import subprocess

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tandem.config import load_config
from tandem.config.dump import dump_config
from tandem.config.model import TrackProcess
from tandem.reload import plain
from tandem.track.processes import ProcessWatcher, Quorum, matches, open_connector
from tandem.track.tracker import Fault, Recover, SetPriority, Tracking

CMD = b"/usr/bin/python3\0-m\0http.server\0" + b"8080\0"


@pytest.mark.parametrize(
    ("track", "comm", "cmdline", "expected"),
    [
        (TrackProcess(name="t", process="nginx"), "nginx", b"", True),
        (TrackProcess(name="t", process="nginx"), "nginx-debug", b"", False),
        (TrackProcess(name="t", process="/usr/bin/python3", full_command=True), "python3", CMD, True),
        (TrackProcess(name="t", process="python3", full_command=True), "python3", CMD, False),
        (TrackProcess(name="t", process="/usr/bin/python3", params=("-m", "http.server", "8080"),
                      param_match="exact", full_command=True), "x", CMD, True),
        (TrackProcess(name="t", process="/usr/bin/python3", params=("-m", "http.server"),
                      param_match="exact", full_command=True), "x", CMD, False),
        (TrackProcess(name="t", process="/usr/bin/python3", params=("-m", "http.server"),
                      param_match="partial", full_command=True), "x", CMD, True),
        (TrackProcess(name="t", process="/usr/bin/python3", params=("-m", "http.se"),
                      param_match="partial", full_command=True), "x", CMD, False),
        (TrackProcess(name="t", process="/usr/bin/python3", params=("-m", "http.se"),
                      param_match="initial", full_command=True), "x", CMD, True),
        (TrackProcess(name="t", process="/usr/bin/python3", params=("-x",),
                      param_match="initial", full_command=True), "x", CMD, False),
        (TrackProcess(name="t", process="/usr/bin/python3", param_match="exact", full_command=True),
         "x", b"/usr/bin/python3\0", True),
    ],
)  # fmt: skip
def test_matching_follows_keepalived(track, comm, cmdline, expected):
    assert matches(track, comm, cmdline) is expected


def test_quorum_delays_and_cancellation_on_a_fake_clock():
    quorum = Quorum(
        TrackProcess(name="t", process="p", quorum=2, quorum_max=3, fork_delay=1, terminate_delay=2)
    )
    assert quorum.count(2, 0.0) is True  # the first count decides at once
    assert quorum.count(1, 1.0) is None  # lost, but must last terminate_delay
    assert quorum.expire(2.9) is None
    assert quorum.count(2, 2.5) is None and quorum.pending is None  # back within the delay: cancelled
    assert quorum.expire(10.0) is None
    assert quorum.count(4, 11.0) is None  # more than quorum_max is a loss too
    assert quorum.expire(13.0) is False
    assert quorum.count(3, 14.0) is None
    assert quorum.expire(14.5) is None and quorum.expire(15.0) is True


@given(st.lists(st.tuples(st.integers(0, 5), st.floats(0, 3)), max_size=40))
def test_a_verdict_is_only_reported_when_it_changes(steps):
    quorum = Quorum(TrackProcess(name="t", process="p", quorum=2, fork_delay=0.5, terminate_delay=1))
    now, verdicts = 0.0, []
    for count, gap in steps:
        now += gap
        for verdict in (quorum.expire(now), quorum.count(count, now)):
            if verdict is not None:
                verdicts.append(verdict)
    assert all(a != b for a, b in itertools.pairwise(verdicts))


CONFIG = """\
vrrp_track_process chk_web {
    process web-server
    weight -30
    quorum 2
    delay 0.5
}
vrrp_track_process chk_absent {
    process /usr/bin/python3 -m http.server
    param_match initial
    quorum_max 0
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority 100
    virtual_ipaddress {
        198.51.100.50/24
    }
    track_process {
        chk_web weight -20
        chk_absent
    }
}
"""


def _load(tmp_path, text):
    path = tmp_path / "keepalived.conf"
    path.write_text(text)
    return load_config(str(path))


def test_the_config_language_and_its_dump(tmp_path):
    result = _load(tmp_path, CONFIG)
    assert not result.findings, [str(f) for f in result.findings]
    web, absent = result.config.vrrp_track_processes
    assert (web.process, web.weight, web.quorum, web.fork_delay, web.terminate_delay) == (
        "web-server",
        -30,
        2,
        0.5,
        0.5,
    )
    assert (absent.params, absent.param_match, absent.full_command) == (
        ("-m", "http.server"),
        "initial",
        True,
    )
    assert (absent.quorum, absent.quorum_max) == (0, 0)
    again = _load(tmp_path, dump_config(result.config))
    assert not again.findings
    assert plain(again.config.vrrp_track_processes) == plain(result.config.vrrp_track_processes)


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ("process a\n    param_match exact", "expected nothing (exact match), 'initial' or 'partial'"),
        ("process a\n    quorum 3\n    quorum_max 2", "quorum_max 2 is less than quorum"),
        ("process a\n    quorum 0", "an integer 1..65535"),
        ("weight -20", "missing process"),
        ("process a\n    delay 0", "seconds 0.000001..3600"),
    ],
)
def test_bad_track_process_blocks_are_errors_at_their_line(tmp_path, block, message):
    result = _load(tmp_path, f"vrrp_track_process bad {{\n    {block}\n}}\n")
    errors = [str(f) for f in result.errors]
    assert errors and all(e.startswith(f"{tmp_path / 'keepalived.conf'}:") for e in errors)
    assert any(message in e for e in errors), errors


def test_an_undefined_track_process_is_an_error(tmp_path):
    result = _load(tmp_path, CONFIG.replace("chk_web weight -20", "chk_nope"))
    assert any(
        "track_process 'chk_nope' is not a defined vrrp_track_process" in str(e) for e in result.errors
    )


def test_tracking_weights_and_fault(tmp_path):
    tracking = Tracking(_load(tmp_path, CONFIG).config)
    tracking.start()
    assert tracking.process_quorum("chk_absent", True) == []
    assert tracking.process_quorum("chk_web", False) == [SetPriority("VI_1", 80)]  # weight -20 overrides -30
    assert tracking.process_quorum("chk_absent", False) == [Fault("VI_1", "process chk_absent")]  # weight 0
    assert tracking.process_quorum("chk_absent", True) == [Recover("VI_1")]


def _connector_available() -> bool:
    try:
        open_connector().close()
    except OSError:
        return False
    return True


@pytest.mark.skipif(os.geteuid() != 0 or not _connector_available(), reason="needs root in the initial netns")
def test_the_watcher_follows_real_processes_by_their_events(tmp_path):
    # a program with a name no other process on the machine has (comm is at most 15 characters)
    name = f"tpw{os.getpid()}"[:15]
    program = tmp_path / name
    shutil.copy("/usr/bin/sleep", program)
    track = TrackProcess(name="t", process=name, quorum=2, terminate_delay=0.2)
    verdicts: list[bool] = []

    async def scenario() -> None:
        watcher = ProcessWatcher([track], lambda _name, up: verdicts.append(up))
        task = asyncio.create_task(watcher.run())
        first = subprocess.Popen([program, "30"])
        second = None
        try:
            await _until(lambda: verdicts == [False])
            second = subprocess.Popen([program, "30"])  # a fork + exec event completes the quorum
            await _until(lambda: verdicts == [False, True])
            first.kill()
            first.wait()
            await _until(lambda: verdicts == [False, True, False])  # after terminate_delay
        finally:
            for process in (first, second):
                if process is not None:
                    process.kill()
                    process.wait()
            task.cancel()

    asyncio.run(scenario())


async def _until(condition, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)
