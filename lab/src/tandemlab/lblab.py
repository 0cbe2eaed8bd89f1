"""A load-balancing lab: a client, a load balancer running a data plane, real servers that say who they are.

    client   203.0.113.10 (+ .20-.27 for more sources), 2001:db8:1::10
    lb       203.0.113.1 + VIPs 203.0.113.100/.101, 2001:db8:1::1 + VIP 2001:db8:1::100;
             198.51.100.12, 2001:db8::12; forwards, sends no redirects
    rs1..N   198.51.100.13.., 2001:db8::13..; routes to the client's networks via the lb

All on one lab bridge (:class:`tandemlab.topology.Lab`). The plane runs in a worker process inside the
lb namespace (``LbLab.plane``; ``plane_class=None``: none, for a tandemd that runs its own); the
client's requests run in a worker inside the client namespace (``LbLab.call("get", ...)``, the
functions below). Each real server answers HTTP (ports 80 and 8080, IPv4 and IPv6) with its name and
the address it saw the request come from: a Python server that also answers UDP (port 5353), or
with ``http="nginx"`` nginx (the Debian package), as in a real deployment; ``stop_http(i)`` and
``start_http(i)`` kill and restart real server i's.
"""

from __future__ import annotations

import http.client
import ipaddress
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import Counter
from pathlib import Path

from tandemlab.polling import wait_for
from tandemlab.topology import Lab
from tandemlab.worker import Worker

VIP, VIP2, VIP6 = "203.0.113.100", "203.0.113.101", "2001:db8:1::100"
CLIENT, CLIENT6 = "203.0.113.10", "2001:db8:1::10"
CLIENT_EXTRA = [f"203.0.113.{20 + i}" for i in range(8)]
CLIENT_NET, CLIENT_NET6 = "203.0.113.0/24", "2001:db8:1::/64"
LB_SYSCTLS = [
    "net.ipv4.ip_forward=1",
    "net.ipv6.conf.all.forwarding=1",
    "net.ipv4.conf.all.send_redirects=0",
    "net.ipv4.conf.eth0.send_redirects=0",
]
# the lb shares the real servers' link with the client: an IPv6 redirect would send replies past it
SERVER_SYSCTLS = ["net.ipv6.conf.all.accept_redirects=0", "net.ipv6.conf.eth0.accept_redirects=0"]

# a real server: "NAME CLIENT-ADDRESS" over HTTP on its TCP ports (arguments; default 80, 8080) and UDP 5353
SERVER = r"""
import socket, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
name = sys.argv[1]
class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        body = f"{name} {self.client_address[0]}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
class Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6
    daemon_threads = True
for port in [int(port) for port in sys.argv[2:]] or (80, 8080):
    threading.Thread(target=Server(("::", port), Handler).serve_forever, daemon=True).start()
udp = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
udp.bind(("::", 5353))
while True:
    data, peer = udp.recvfrom(512)
    udp.sendto(f"{name} {peer[0]}".encode(), peer)
"""


def nginx_conf(workdir: Path, name: str) -> str:
    """nginx answering ``NAME CLIENT-ADDRESS`` on ports 80 and 8080, IPv4 and IPv6."""
    return textwrap.dedent(
        f"""
        worker_processes 1;
        pid {workdir}/nginx.pid;
        error_log {workdir}/error.log;
        events {{ worker_connections 1024; }}
        http {{
            access_log off;
            server {{
                listen 80;
                listen [::]:80;
                listen 8080;
                listen [::]:8080;
                location / {{
                    default_type text/plain;
                    return 200 "{name} $remote_addr\n";
                }}
            }}
        }}
        """
    )


# --- run in the client's namespace (through LbLab.call) ---------------------------------------------


def _request(host: str, port: int, source: str | None) -> list[str]:
    conn = http.client.HTTPConnection(host, port, timeout=3, source_address=(source, 0) if source else None)
    try:
        conn.request("GET", "/")
        return conn.getresponse().read().decode().split()
    finally:
        conn.close()


def get(host: str, port: int = 80, source: str | None = None) -> str:
    """One HTTP request on a new connection: the answering server's name."""
    return _request(host, port, source)[0]


def get_many(host: str, count: int, port: int = 80, source: str | None = None) -> list[str]:
    return [get(host, port, source) for _ in range(count)]


def hammer(host: str, seconds: float, port: int = 80) -> tuple[Counter, list[str]]:
    """New connections one after another for ``seconds``: answers by server name, and the failures."""
    answers, failures = Counter(), []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            answers[get(host, port)] += 1
        except (OSError, http.client.HTTPException) as e:
            failures.append(repr(e))
    return answers, failures


def seen_as(host: str, port: int = 80) -> str:
    """The address the answering server saw the request come from."""
    return _request(host, port, None)[1].removeprefix("::ffff:")


def udp_ask(host: str, port: int) -> str:
    """One datagram from a new socket (a new flow): the answering server's name."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(3)
        sock.sendto(b"who", (host, port))
        return sock.recv(512).decode().split()[0]


class KeepAlive:
    """One HTTP/1.1 connection kept open across requests."""

    def __init__(self, host: str, port: int = 80):
        self.conn = http.client.HTTPConnection(host, port, timeout=3)

    def get(self) -> str:
        self.conn.request("GET", "/")
        return self.conn.getresponse().read().decode().split()[0]

    def close(self) -> None:
        self.conn.close()


# --- the lab -------------------------------------------------------------------------------------------


class LbLab:
    """Use as a context manager; ``plane_class`` is the plane the lb's worker makes (``module:Class``)."""

    def __init__(
        self,
        servers: int = 3,
        plane_class: str | None = "tandem.lb.nftables:NftablesPlane",
        http: str = "python",
    ):
        if http not in ("python", "nginx"):
            raise ValueError(f"http is python or nginx, not {http!r}")
        self.lab = Lab(2 + servers)
        self.plane_class = plane_class
        self.http = http
        self.client, self.lb, *self.servers = self.lab.hosts
        self.workdir = Path(tempfile.mkdtemp(prefix="lblab-"))
        self._http: dict[int, object] = {}

    def __enter__(self) -> LbLab:
        self.lab.start()
        try:
            self._wire()
        except BaseException:
            self.lab.close()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self.lab.close()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def _wire(self) -> None:
        client, lb = self.client, self.lb
        for address in (CLIENT + "/24", *(a + "/32" for a in CLIENT_EXTRA)):
            client.ip("addr", "add", address, "dev", "eth0")
        client.ip("addr", "add", CLIENT6 + "/64", "dev", "eth0", "nodad")
        for address in ("203.0.113.1/24", f"{VIP}/32", f"{VIP2}/32"):
            lb.ip("addr", "add", address, "dev", "eth0")
        for address in ("2001:db8:1::1/64", f"{VIP6}/128"):
            lb.ip("addr", "add", address, "dev", "eth0", "nodad")
        for sysctl in LB_SYSCTLS:
            lb.run(["sysctl", "-q", "-w", sysctl])
        for server in self.servers:
            for sysctl in SERVER_SYSCTLS:
                server.run(["sysctl", "-q", "-w", sysctl])
            self.route_back(server)
        self.client_worker = Worker(client)
        for i in range(1, len(self.servers) + 1):
            self.start_http(i)
        self.lb_worker = Worker(lb)
        self.plane = self.new_plane() if self.plane_class else None

    def start_http(self, i: int) -> None:
        """Start real server i's HTTP server and wait until it answers (directly, not through the lb)."""
        server = self.servers[i - 1]
        if self.http == "nginx":
            workdir = self.workdir / f"rs{i}"
            workdir.mkdir(exist_ok=True)
            (workdir / "nginx.conf").write_text(nginx_conf(workdir, f"rs{i}"))
            argv = [
                "nginx",
                "-c",
                str(workdir / "nginx.conf"),
                "-p",
                str(workdir),
                "-e",
                str(workdir / "error.log"),
            ]
            self._http[i] = server.spawn([*argv, "-g", "daemon off;"])
        else:
            self._http[i] = server.spawn([sys.executable, "-c", SERVER, f"rs{i}"])
        if not wait_for(lambda: self._answers(server.ipv4), timeout=10):
            raise RuntimeError(f"{server.name}'s HTTP server does not answer")

    def stop_http(self, i: int) -> None:
        """Kill real server i's HTTP server (its connections are refused from now on)."""
        self._http.pop(i).stop(timeout=5)

    def _answers(self, address: str) -> bool:
        try:
            return self.call("get", address).startswith("rs")
        except OSError:
            return False

    def new_plane(self, **kwargs):
        """Another plane object in the lb (the contract says each rebuilds from its own desired state)."""
        return self.lb_worker.new(self.plane_class or "tandem.lb.nftables:NftablesPlane", **kwargs)

    def call(self, function: str, *args, **kwargs):
        """Run one of this module's client functions inside the client."""
        return self.client_worker.call(f"tandemlab.lblab:{function}", *args, **kwargs)

    def route_back(self, server, add: bool = True) -> None:
        """The real server's route to the client's networks via the lb (removed with ``add=False``)."""
        verb = "add" if add else "del"
        server.ip("route", verb, CLIENT_NET, *(["via", self.lb.ipv4] if add else []))
        server.ip("-6", "route", verb, CLIENT_NET6, *(["via", self.lb.ipv6] if add else []))

    def real_server(self, i: int, family: int = 4) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
        host = self.servers[i - 1]
        return ipaddress.ip_address(host.ipv4 if family == 4 else host.ipv6)

    def nft(self, *args: str, input: str | None = None) -> str:
        """``nft`` inside the lb (for what a user would do by hand)."""
        argv = ["ip", "netns", "exec", self.lb.netns, "nft", *args]
        return subprocess.run(argv, input=input, capture_output=True, text=True, check=True).stdout
