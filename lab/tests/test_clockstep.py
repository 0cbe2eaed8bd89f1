"""The clock-step shim: a process's wall clock and its packets' arrival stamps move by the offset, its
monotonic clock and sleeps do not (the machine's clock is never touched)."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from tandemlab import clockstep

PROBE = """
import json, socket, sys, time
SO_TIMESTAMPNS = 35
rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
rx.bind(("127.0.0.1", 0))
rx.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
print("ready", flush=True)
sys.stdin.readline()  # stepped by now
m0 = time.monotonic()
time.sleep(0.05)
tx.sendto(b"x", rx.getsockname())
_, ancillary, _, _ = rx.recvmsg(16, 64)
sec, nsec = __import__("struct").unpack("=qq", ancillary[0][2][:16])
print(json.dumps({"wall": time.time(), "stamp": sec + nsec / 1e9, "slept": time.monotonic() - m0}))
"""


@pytest.mark.skipif(clockstep.available() is not None, reason=str(clockstep.available()))
def test_a_step_moves_wall_clock_and_arrival_stamps_but_not_monotonic_time(tmp_path):
    clock = clockstep.ClockStep(tmp_path)
    probe = subprocess.Popen(
        [sys.executable, "-c", PROBE],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=clock.env(),
    )
    assert probe.stdout.readline().strip() == "ready"
    clock.set(-300)
    probe.stdin.write("go\n")
    probe.stdin.flush()
    seen = json.loads(probe.stdout.readline())
    probe.wait(10)
    assert seen["wall"] - time.time() == pytest.approx(-300, abs=1)
    assert seen["wall"] - seen["stamp"] == pytest.approx(0, abs=0.5)  # stamps shifted like the clock
    assert 0.04 < seen["slept"] < 2
