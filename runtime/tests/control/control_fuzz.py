"""Long form of the control socket's garbage fuzzing (the short form is test_control_hardening's
``test_short_fuzz_mutated_requests_are_always_answered``): mutated valid and garbage request lines, 500
a connection, through a real ControlServer. Oracles: every line gets a JSON answer with a boolean
``ok``, nothing is logged at ERROR or with a traceback, maintenance only ever gets (int, bool) arguments.

    python runtime/tests/control/control_fuzz.py                 # 100,000 requests
    python runtime/tests/control/control_fuzz.py --count 5000 --seed 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import socket
import sys
import tempfile
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from tandem.control.server import MAX_REQUEST, ControlServer
from test_control import DaemonState
from test_control_hardening import GARBAGE, VALID, mutated
from test_control_hardening import PIECES as SHORT_PIECES

PIECES = [*SHORT_PIECES, b"\\ud800", b"9" * 5000, b"[" * 2000]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=16)
    args = parser.parse_args()
    logged: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = logged.append
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(logging.DEBUG)
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    state = DaemonState()
    server = ControlServer(os.path.join(tempfile.mkdtemp(prefix="tandem-fuzz-"), "t.sock"), state)
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(5)
    rng = random.Random(args.seed)
    answered = connections = 0
    while answered < args.count:
        with socket.socket(socket.AF_UNIX) as client:
            client.settimeout(20)
            client.connect(server.path)
            connections += 1
            stream = client.makefile("rb")
            for _ in range(500):
                line = mutated(rng, rng.choice(VALID + GARBAGE), PIECES, most=6)
                client.sendall(line + b"\n")
                answer = json.loads(stream.readline())
                assert isinstance(answer["ok"], bool), (line[:80], answer)
                answered += 1
                if len(line) > MAX_REQUEST:
                    break  # answered 'request over', then closed
    bad = [r for r in logged if r.exc_info or "Traceback" in r.getMessage() or r.levelno >= logging.ERROR]
    assert not bad, [r.getMessage() for r in bad[:3]]
    assert all(isinstance(c[1], int) and isinstance(c[2], bool) for c in state.maintenance_calls)
    print(f"{answered} requests on {connections} connections answered, none logged a traceback; "
          f"{len(state.maintenance_calls)} maintenance calls, all well-typed")  # fmt: skip


if __name__ == "__main__":
    main()
