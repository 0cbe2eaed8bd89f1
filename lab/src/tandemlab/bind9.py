"""A real BIND9 ``named`` for tests and the demo: one dynamically updatable zone signed with a TSIG key.

``Bind9().start(zone, key, port, listen_address, netns=None)`` writes a named.conf, the zone file and the
key into its own temporary directory, starts ``named`` in the foreground (inside ``netns`` when given)
and returns once named reports it is running. The key may update A and AAAA records anywhere in the zone
(``update-policy``); zones listed in ``static_zones`` are served too but accept no update (REFUSED).
``stop()`` ends named by its pid and removes the directory; ``with Bind9().start(...) as server:`` too.
"""

from __future__ import annotations

import base64
import ipaddress
import secrets
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tandemlab.process import LabProcess, die_with_parent
from tandemlab.shell import LabError, netns_exec

NAMED = "/usr/sbin/named"
SOA_SERIAL = 1


@dataclass(frozen=True)
class TsigKey:
    name: str
    secret: str
    algorithm: str = "hmac-sha256"

    @classmethod
    def generate(cls, name: str, algorithm: str = "hmac-sha256") -> TsigKey:
        return cls(name, base64.b64encode(secrets.token_bytes(32)).decode(), algorithm)

    def named_conf(self) -> str:
        return f'key "{self.name}" {{\n  algorithm {self.algorithm};\n  secret "{self.secret}";\n}};\n'


def zone_file(zone: str, listen_address: str) -> str:
    """A minimal zone: SOA, one NS and the name server's own address."""
    origin = zone.rstrip(".") + "."
    family = "AAAA" if ipaddress.ip_address(listen_address).version == 6 else "A"
    return (
        f"$ORIGIN {origin}\n$TTL 300\n"
        f"@ IN SOA ns.{origin} hostmaster.{origin} {SOA_SERIAL} 3600 600 86400 60\n"
        f"@ IN NS ns.{origin}\n"
        f"ns IN {family} {listen_address}\n"
    )


def named_conf(workdir: Path, zone: str, key: TsigKey, port: int, listen_address: str, static_zones) -> str:
    """Only ``listen_address``:``port``, no recursion, no rndc; every file named writes is in ``workdir``."""
    if ipaddress.ip_address(listen_address).version == 6:
        listen = f"listen-on port {port} {{ none; }};\n  listen-on-v6 port {port} {{ {listen_address}; }};"
    else:
        listen = f"listen-on port {port} {{ {listen_address}; }};\n  listen-on-v6 {{ none; }};"
    options = (
        f'options {{\n  directory "{workdir}";\n  pid-file "{workdir}/named.pid";\n'
        f'  session-keyfile "{workdir}/session.key";\n  managed-keys-directory "{workdir}";\n'
        f"  {listen}\n  recursion no;\n  dnssec-validation no;\n  notify no;\n}};\ncontrols {{ }};\n"
    )
    updatable = f'update-policy {{ grant "{key.name}" zonesub A AAAA; }};'
    zones = [(zone, updatable)] + [(static, "allow-update { none; };") for static in static_zones]
    return (
        key.named_conf()
        + options
        + "".join(
            f'zone "{name}" {{\n  type primary;\n  file "{workdir / name}.zone";\n  {policy}\n}};\n'
            for name, policy in zones
        )
    )


class Bind9:
    """One named process with its own directory; start() once, stop() always (it is idempotent)."""

    def __init__(self):
        self.workdir: Path | None = None
        self.process: LabProcess | None = None
        self.zone = self.key = self.port = self.listen_address = None

    def start(
        self,
        zone: str,
        key: TsigKey,
        port: int,
        listen_address: str = "127.0.0.1",
        netns: str | None = None,
        static_zones: tuple[str, ...] = (),
        ready_timeout: float = 10.0,
        outlive_starter: bool = False,
    ) -> Bind9:
        """Serve ``zone``; named dies with the process that started it unless ``outlive_starter`` (a
        script that starts named for others and exits, like molecule's lab_dns.py)."""
        self.zone, self.key, self.port, self.listen_address = zone.rstrip("."), key, port, listen_address
        self.workdir = Path(tempfile.mkdtemp(prefix="tandemlab-bind9-"))
        for served in (self.zone, *static_zones):
            (self.workdir / f"{served}.zone").write_text(zone_file(served, listen_address))
        conf = self.workdir / "named.conf"
        conf.write_text(named_conf(self.workdir, self.zone, key, port, listen_address, static_zones))
        argv = [NAMED, "-g", "-c", str(conf)]
        if netns:
            argv = netns_exec(netns, argv)
        log = (self.workdir / "named.log").open("w")
        popen = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=None if outlive_starter else die_with_parent(),
        )
        log.close()
        self.process = LabProcess(popen, netns or "root namespace", argv)
        self._wait_until_running(ready_timeout)
        return self

    def _wait_until_running(self, timeout: float) -> None:
        """named -g logs "running" once every zone is loaded and it listens (in any namespace)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.alive:
            if any(line.endswith(" running") for line in self.log().splitlines()):
                return
            time.sleep(0.05)
        log = self.log()
        self.stop()
        raise LabError(f"named did not start for {self.zone} on {self.listen_address}:{self.port}:\n{log}")

    def __enter__(self) -> Bind9:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def log(self) -> str:
        path = self.workdir / "named.log" if self.workdir else None
        return path.read_text() if path and path.exists() else ""

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None
