"""Checkers in a lab: the checking host and a server host in namespaces of their own, a black hole made
by an nftables drop rule on the server host (packets vanish, nothing answers)."""

from __future__ import annotations

import asyncio
import sys
import textwrap

import pytest
from check_helpers import in_netns, params
from tandem.check.registry import RUNNERS
from tandem.config.model import CheckerUrl, HttpCheck, PingCheck, TcpCheck
from tandemlab.polling import wait_for
from tandemlab.shell import netns_exec, run

pytestmark = pytest.mark.lab

GOOD, BLACK_HOLED = 80, 81
DROPPED_ADDRESS = "198.51.100.50"  # on the server host; ICMP to it is dropped

SERVER = textwrap.dedent(
    """
    import http.server, sys

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"ok"
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    class Server(http.server.ThreadingHTTPServer):
        request_queue_size = 256

    Server((sys.argv[1], int(sys.argv[2])), Handler).serve_forever()
    """
)

BLACK_HOLE = f"""
table inet checker_test {{
    chain input {{
        type filter hook input priority 0; policy accept;
        tcp dport {BLACK_HOLED} drop
        ip daddr {DROPPED_ADDRESS} icmp type echo-request drop
    }}
}}
"""


@pytest.fixture
def lab(make_lab):
    lab = make_lab(2)
    client, server = lab.hosts
    server.ip("addr", "add", f"{DROPPED_ADDRESS}/24", "dev", server.ifname)
    run(netns_exec(server.netns, ["nft", "-f", "-"]), input=BLACK_HOLE)
    server.spawn([sys.executable, "-c", SERVER, server.ipv4, str(GOOD)])
    listening = f"{server.ipv4}:{GOOD}"
    assert wait_for(lambda: listening in server.run(["ss", "-ltnH"]).stdout, 10)
    return client, server


def test_black_holed_servers_time_out_without_delaying_concurrent_checks(lab):
    client, server = lab
    url = CheckerUrl(path="/", status_code=(200,))
    good = [params(HttpCheck(kind="HTTP_GET", urls=(url,)), GOOD, server.ipv4) for _ in range(45)]
    holed = [params(HttpCheck(kind="HTTP_GET", urls=(url,)), BLACK_HOLED, server.ipv4) for _ in range(3)]
    holed += [params(TcpCheck(kind="TCP_CHECK"), BLACK_HOLED, server.ipv4) for _ in range(2)]

    async def all_at_once():
        return await asyncio.gather(*(RUNNERS[check.kind].run(check) for check in good + holed))

    results = in_netns(client.netns, all_at_once)
    assert all(result.ok for result in results[: len(good)]), [r.reason for r in results if not r.ok]
    for result in results[len(good) :]:
        assert (
            not result.ok and result.reason.startswith("timeout after 2 s") and "connecting" in result.reason
        )


def test_ping_check_across_namespaces(lab):
    client, server = lab

    async def pings():
        checks = [params(PingCheck(kind="PING_CHECK"), None, address, connect_timeout=1.0)
                  for address in (server.ipv4, server.ipv6, DROPPED_ADDRESS)]  # fmt: skip
        return await asyncio.gather(*(RUNNERS["PING_CHECK"].run(check) for check in checks))

    v4, v6, dropped = in_netns(client.netns, pings)
    assert v4.ok and v6.ok, (v4.reason, v6.reason)
    assert not dropped.ok and "timeout after 1 s (waiting for the echo reply)" in dropped.reason
