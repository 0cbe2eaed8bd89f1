"""The control socket under hostile input: every line gets an answer, nothing logs a traceback, the
socket is root only, and a directory the daemon did not create keeps its permissions."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import pwd
import random
import socket
import stat
import subprocess
import sys

import pytest
from tandem.control.server import MAX_REQUEST, ControlServer
from test_control import DaemonState, daemon  # noqa: F401 - the daemon fixture

VALID = [
    b'{"cmd": "status"}',
    b'{"cmd": "stats"}',
    b'{"cmd": "maintenance", "instance": "VI_1", "lower_by": 20, "force_backup": false}',
]
GARBAGE = [
    b"[" * 30_000 + b"]" * 30_000,  # deep nesting: once a RecursionError traceback
    b'{"cmd": "maintenance", "lower_by": 1e999}',  # once int(inf): an OverflowError traceback
    b'{"cmd": "maintenance", "lower_by": -1e999}',
    b"1e999",
    b'{"cmd": "status", "x": NaN}',
    b'{"cmd": "status", "x": Infinity}',
    b'{"cmd": "maintenance", "lower_by": ' + b"9" * 5000 + b"}",
    b'{"cmd": "maintenance", "lower_by": true}',
    b'{"cmd": "maintenance", "lower_by": 2.5}',
    b'{"cmd": "maintenance", "lower_by": 100000}',
    b'{"cmd": "maintenance", "force_backup": "no"}',
    b'{"cmd": "maintenance", "instance": [1]}',
    b'{"cmd": "maintenance", "instance": {"a": 1}}',
    b'{"cmd": ' + b"[" * 900 + b"]" * 900 + b"}",
    b'{"cmd": 5}',
    b'{"cmd": null}',
    b'{"nocmd": 1}',
    b"[]",
    b'"status"',
    b"\xff\xfe\xfd",
    b'{"cmd": "\xc3\x28"}',
    b'{"cmd": "\\ud800"}',
    b"{",
    b"",
    b"\0\0\0",
    b'{"cmd": "' + b"x" * 60_000 + b'"}',
]


def talk(path: str, lines: list[bytes], timeout: float = 10) -> list[dict]:
    """Send each line on one connection and read one answer per line."""
    with socket.socket(socket.AF_UNIX) as client:
        client.settimeout(timeout)
        client.connect(path)
        stream = client.makefile("rb")
        answers = []
        for line in lines:
            client.sendall(line + b"\n")
            answers.append(json.loads(stream.readline()))
        return answers


def no_tracebacks(caplog) -> None:
    assert not [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]


def test_garbage_lines_get_errors_and_the_connection_keeps_serving(daemon, caplog):  # noqa: F811
    path, _, _ = daemon
    caplog.set_level(logging.DEBUG)
    answers = talk(path, [line for bad in GARBAGE for line in (bad, b'{"cmd": "status"}')])
    for bad, answer, after in zip(GARBAGE, answers[::2], answers[1::2], strict=True):
        assert answer["ok"] is False and answer["error"], bad[:60]
        assert after["ok"] is True and after["result"][0]["name"] == "VI_1"
    no_tracebacks(caplog)


def test_a_line_over_the_limit_is_refused_and_the_next_client_is_served(daemon, caplog):  # noqa: F811
    path, _, _ = daemon
    with socket.socket(socket.AF_UNIX) as client:
        client.settimeout(10)
        client.connect(path)
        client.sendall(b'{"cmd": "' + b"x" * (MAX_REQUEST + 10) + b'"}\n')
        answer = json.loads(client.makefile("rb").readline())
    assert answer == {"ok": False, "error": f"request over {MAX_REQUEST} bytes"}
    assert talk(path, [VALID[0]])[0]["ok"] is True
    no_tracebacks(caplog)


def test_short_fuzz_mutated_requests_are_always_answered(daemon, caplog):  # noqa: F811
    """Random byte mutations of valid requests; the long form is the same with more seeds."""
    path, state, _ = daemon
    rng = random.Random(1616)
    pieces = [b"{", b"}", b"[", b"]", b'"', b"\\", b"1e999", b"-0", b"null", b"\xff", b"\\u0000", b","]
    lines = []
    for _ in range(400):
        line = bytearray(rng.choice(VALID))
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(line) + 1)
            if rng.random() < 0.5:
                line[at:at] = rng.choice(pieces)
            else:
                line[at : at + rng.randint(1, 3)] = bytes([rng.randrange(256)])
        lines.append(bytes(line).replace(b"\n", b" "))
    answers = talk(path, lines)
    assert len(answers) == len(lines)
    assert all(isinstance(a["ok"], bool) for a in answers)
    assert all(isinstance(c[1], int) and isinstance(c[2], bool) for c in state.maintenance_calls)
    no_tracebacks(caplog)


def test_a_shared_directory_keeps_its_mode_and_a_created_one_is_0700(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)

    async def scenario():
        servers = [
            ControlServer(str(shared / "tandemd.sock"), DaemonState()),
            ControlServer(str(tmp_path / "new" / "tandemd.sock"), DaemonState()),
        ]
        for server in servers:
            await server.start()
        for server in servers:
            await server.close()
        return [server.path for server in servers]

    old_umask = os.umask(0o022)
    try:
        asyncio.run(scenario())
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o700


@pytest.mark.skipif(os.geteuid() != 0, reason="connects as another user: needs root")
def test_the_socket_refuses_a_non_root_user_even_in_a_shared_directory(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    tmp_path.chmod(0o755)
    path = str(shared / "tandemd.sock")
    nobody = pwd.getpwnam("nobody")
    probe = (
        "import socket, sys\n"
        "s = socket.socket(socket.AF_UNIX)\n"
        "try:\n    s.connect(sys.argv[1])\nexcept PermissionError:\n    sys.exit(13)\n"
    )

    async def scenario():
        server = ControlServer(path, DaemonState())
        await server.start()
        try:
            mode = stat.S_IMODE(os.stat(path).st_mode)
            argv = [sys.executable, "-c", probe, path]
            run = await asyncio.to_thread(subprocess.run, argv, user=nobody.pw_uid, group=nobody.pw_gid)
            return mode, run.returncode
        finally:
            await server.close()

    assert asyncio.run(scenario()) == (0o600, 13)
