"""The lab's DNS server for the active_active scenario: a real BIND9 (tandemlab.bind9) in a namespace.

    lab_dns.py start --netns NS --listen ADDRESS --zone ZONE --state FILE
    lab_dns.py stop --state FILE

``start`` runs named inside NS, waits until it serves ZONE (updatable with a fresh TSIG key) and writes
FILE (JSON: pid, workdir, server, port, zone, key_name, key_secret, key_algorithm); named keeps running
after this script exits. ``stop`` ends that pid (only if it is still named) and removes its directory.
Run with the project venv's Python (tandemlab is installed there).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import time
from pathlib import Path

from tandemlab.bind9 import Bind9, TsigKey

PORT = 53


def start(args: argparse.Namespace) -> None:
    key = TsigKey.generate("lab-update-key")
    server = Bind9().start(args.zone, key, PORT, args.listen, netns=args.netns, outlive_starter=True)
    state = {
        "pid": server.process.pid,
        "workdir": str(server.workdir),
        "server": args.listen,
        "port": PORT,
        "zone": args.zone,
        "key_name": key.name,
        "key_secret": key.secret,
        "key_algorithm": key.algorithm,
    }
    Path(args.state).write_text(json.dumps(state) + "\n")
    print(json.dumps({"pid": state["pid"], "server": args.listen, "zone": args.zone}))


def _is_named(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() == "named"
    except OSError:
        return False


def stop(args: argparse.Namespace) -> None:
    path = Path(args.state)
    if not path.exists():
        print("absent")
        return
    state = json.loads(path.read_text())
    pid = int(state["pid"])
    if _is_named(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        while _is_named(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _is_named(pid):
            os.kill(pid, signal.SIGKILL)
    shutil.rmtree(state["workdir"], ignore_errors=True)
    path.unlink()
    print("stopped")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="action", required=True)
    on = sub.add_parser("start")
    on.add_argument("--netns", required=True)
    on.add_argument("--listen", required=True)
    on.add_argument("--zone", required=True)
    on.add_argument("--state", required=True)
    off = sub.add_parser("stop")
    off.add_argument("--state", required=True)
    args = parser.parse_args()
    start(args) if args.action == "start" else stop(args)


if __name__ == "__main__":
    main()
