"""A real BIND9 on loopback for the DNS suites, plain dnspython queries to check it, plays run for real.

The server serves ``tandem.test`` (the key may update A and AAAA records anywhere in it) and
``static.test`` (served, never updatable). Every check of what is published goes through
``published()``: an unsigned query that shares no code with the module under test.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import dns.message
import dns.query
import dns.rdatatype
import pytest
import yaml
from tandemlab.bind9 import Bind9, TsigKey

ZONE = "tandem.test"
STATIC_ZONE = "static.test"
ANSIBLE_PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")
PYTHON = f"ansible_python_interpreter={sys.executable}"  # the venv's, which has dnspython


def free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def bind9():
    key = TsigKey.generate("tandem-test-key")
    server = Bind9().start(ZONE, key, free_loopback_port(), "127.0.0.1", static_zones=(STATIC_ZONE,))
    yield server
    server.stop()


@pytest.fixture
def published(bind9):
    """published(name) -> {"A": (ttl, {addresses}), "AAAA": ...}: what the server answers now."""
    return lambda name: query_address_records(bind9, name)


def query_address_records(server: Bind9, name: str) -> dict[str, tuple[int, set[str]]]:
    found = {}
    for rdtype in ("A", "AAAA"):
        response = dns.query.udp(
            dns.message.make_query(name, rdtype), server.listen_address, port=server.port, timeout=2
        )
        for rrset in response.answer:
            if rrset.rdtype == dns.rdatatype.from_text(rdtype):
                found[rdtype] = (rrset.ttl, {rdata.address for rdata in rrset})
    return found


@pytest.fixture
def server_args(bind9) -> dict:
    """The connection arguments of tandem.ha.dns_rrset for the test server, with the right key."""
    return {
        "zone": ZONE,
        "server": bind9.listen_address,
        "port": bind9.port,
        "key_name": bind9.key.name,
        "key_secret": bind9.key.secret,
    }


@pytest.fixture
def play(tmp_path):
    """play(tasks, *ansible_playbook_args) -> [result of each task], run on localhost."""
    return lambda tasks, *args: run_play(tmp_path, tasks, *args)


def run_play(tmp_path: Path, tasks: list[dict], *args: str) -> list[dict]:
    playbook = tmp_path / "play.yml"
    playbook.write_text(yaml.safe_dump([{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]))
    env = {**os.environ, "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json", "ANSIBLE_NOCOLOR": "1"}
    completed = subprocess.run(
        [str(ANSIBLE_PLAYBOOK), "-i", "localhost,", "-c", "local", "-e", PYTHON, str(playbook), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    try:
        report = json.loads(completed.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"ansible-playbook printed no JSON report:\n{completed.stdout}\n{completed.stderr}")
    return [task["hosts"]["localhost"] for play in report["plays"] for task in play["tasks"]]
