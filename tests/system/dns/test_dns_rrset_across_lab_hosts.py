"""tandem.ha.dns_rrset over a real network: BIND9 inside lab host h1, ansible-playbook inside lab host h2."""

from __future__ import annotations

import json
import sys

import pytest
from tandemlab.bind9 import Bind9, TsigKey

pytestmark = [pytest.mark.lab, pytest.mark.slow]

PORT = 5353
NAME = "pair.lab.test"
VIPS = ["198.51.100.201", "198.51.100.202", "2001:db8::201"]
QUERY = """
import json, sys
import dns.message, dns.query
server, port, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
found = {}
for rdtype in ("A", "AAAA"):
    response = dns.query.udp(dns.message.make_query(name, rdtype), server, port=port, timeout=2)
    found[rdtype] = sorted(rdata.address for rrset in response.answer for rdata in rrset)
print(json.dumps(found))
"""


@pytest.fixture
def bind9_on_h1(lab2):
    h1 = lab2.host("h1")
    with Bind9().start("lab.test", TsigKey.generate("lab-key"), PORT, h1.ipv4, netns=h1.netns) as server:
        yield server


def answered_to_h2(lab2, server):
    """What h2 gets asked over the lab network: {"A": [...], "AAAA": [...]}."""
    query = [sys.executable, "-c", QUERY, server.listen_address, str(PORT), NAME]
    return json.loads(lab2.host("h2").run(query).stdout)


def publish_from_h2(playbook, lab2, server, timeout=5, **args):
    task = {
        "tandem.ha.dns_rrset": {
            "name": NAME,
            "zone": "lab.test",
            "addresses": VIPS,
            "server": server.listen_address,
            "port": PORT,
            "key_name": server.key.name,
            "key_secret": server.key.secret,
            "timeout": timeout,
            **args,
        },
        "ignore_errors": True,
    }
    [result] = playbook({"hosts": "localhost", "tasks": [task]}, netns=lab2.host("h2").netns)
    return result["hosts"]["localhost"]


def test_publish_from_another_host_then_lose_the_server(playbook, lab2, bind9_on_h1):
    assert answered_to_h2(lab2, bind9_on_h1) == {"A": [], "AAAA": []}

    assert publish_from_h2(playbook, lab2, bind9_on_h1)["changed"] is True
    assert answered_to_h2(lab2, bind9_on_h1) == {"A": VIPS[:2], "AAAA": VIPS[2:]}
    assert publish_from_h2(playbook, lab2, bind9_on_h1)["changed"] is False

    lab2.host("h1").link_down()
    lost = publish_from_h2(playbook, lab2, bind9_on_h1, timeout=1)
    assert lost["failed"] is True
    assert lost["msg"] == f"no answer from DNS server {bind9_on_h1.listen_address} port {PORT} within 1 s"
