"""A real BIND9 on loopback for the DNS suites, plain dnspython queries to check it, plays run for real.

The server serves ``tandem.test`` (the key may update A and AAAA records anywhere in it) and
``static.test`` (served, never updatable). Every check of what is published goes through
``published()``: an unsigned query that shares no code with the module under test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dns.message
import dns.query
import dns.rdatatype
import pytest
import yaml
from tandemlab.bind9 import Bind9, TsigKey
from tandemlab.ports import free_port
from tandemlab.shell import netns_exec

ZONE = "tandem.test"
STATIC_ZONE = "static.test"
ANSIBLE_PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")


@pytest.fixture(scope="session")
def bind9():
    key = TsigKey.generate("tandem-test-key")
    with Bind9().start(ZONE, key, free_port(), "127.0.0.1", static_zones=(STATIC_ZONE,)) as server:
        yield server


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

    def run(tasks: list[dict], *args: str) -> list[dict]:
        report = run_playbook(tmp_path, {"hosts": "localhost", "tasks": tasks}, *args)
        return [task["hosts"]["localhost"] for task in report]

    return run


@pytest.fixture
def playbook(tmp_path):
    """playbook(play, *ansible_playbook_args, netns=None) -> [{"task": .., "hosts": {host: result}}, ...].

    The inventory holds localhost, h1 and h2, all local connections with this venv's Python; with
    ``netns`` ansible-playbook itself runs inside that network namespace.
    """
    return lambda play, *args, netns=None: run_playbook(tmp_path, play, *args, netns=netns)


def run_playbook(tmp_path: Path, play: dict, *args: str, netns: str | None = None) -> list[dict]:
    inventory = tmp_path / "hosts.ini"
    inventory.write_text(
        "localhost\nh1\nh2\n[all:vars]\n"
        f"ansible_connection=local\nansible_python_interpreter={sys.executable}\n"  # has dnspython
    )
    playbook = tmp_path / "play.yml"
    playbook.write_text(yaml.safe_dump([{"gather_facts": False, **play}]))
    env = {**os.environ, "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json", "ANSIBLE_NOCOLOR": "1"}
    argv = [str(ANSIBLE_PLAYBOOK), "-i", str(inventory), str(playbook), *args]
    completed = subprocess.run(
        netns_exec(netns, argv) if netns else argv,
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
    return [task for play in report["plays"] for task in play["tasks"]]
