"""MISC_CHECK, SMTP_CHECK (aiosmtpd), DNS_CHECK (BIND9), UDP_CHECK, PING_CHECK and FILE_CHECK against real
programs and servers on loopback."""

from __future__ import annotations

import asyncio
import os
import stat
import time

import pytest
from check_helpers import closed_port, params, serve
from tandem.check.registry import RUNNERS
from tandem.config.model import (
    DnsCheck,
    FileCheck,
    MiscCheck,
    PingCheck,
    Script,
    SmtpCheck,
    TrackFile,
    UdpCheck,
)
from tandem.notify.scripts import ScriptPolicy


def run(check):
    return asyncio.run(RUNNERS[check.kind].run(check))


def misc(command: str, **values) -> MiscCheck:
    return MiscCheck(kind="MISC_CHECK", misc_path=Script(command=command), **values)


def test_misc_check_exit_statuses_dynamic_weights_and_timeout(tmp_path):
    marker = tmp_path / "child-alive"
    assert run(params(misc("/bin/true"), None)).ok
    down = run(params(misc("/bin/sh -c 'exit 1'"), None))
    assert not down.ok and "exit status 1" in down.reason
    static_3 = run(params(misc("/bin/sh -c 'exit 3'"), None))
    assert not static_3.ok  # without misc_dynamic only 0 is up
    dynamic = run(params(misc("/bin/sh -c 'exit 12'", misc_dynamic=True), None))
    assert dynamic.ok and dynamic.weight == 10
    dynamic_down = run(params(misc("/bin/sh -c 'exit 1'", misc_dynamic=True), None))
    assert not dynamic_down.ok and dynamic_down.weight is None
    # args come from the command line, no shell: the ';' is an argument of echo, not a command separator
    assert run(params(misc(f"/bin/echo ok ; touch {marker}"), None)).ok and not marker.exists()
    # a hung script and the child it spawned are both killed at misc_timeout
    hung = run(params(misc(f"/bin/sh -c '(sleep 30; touch {marker}) & sleep 30'", misc_timeout=0.3), None))
    assert not hung.ok and "timed out after 0.3 s" in hung.reason
    missing = run(params(misc("/nonexistent/check"), None))
    assert not missing.ok and "program not found" in missing.reason
    time.sleep(0.2)
    assert not marker.exists()


def test_misc_check_script_security(tmp_path):
    script = tmp_path / "check.sh"
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o777)  # writable by everyone: insecure when run as root
    tmp_path.chmod(tmp_path.stat().st_mode & ~stat.S_IWOTH)
    check = misc(str(script), misc_timeout=2)
    if os.geteuid() != 0:
        pytest.skip("script security applies to scripts run as root")
    secure = run(
        params(check, None, script_policy=ScriptPolicy(script_user="root", enable_script_security=True))
    )
    assert not secure.ok and "writable by a non-root user" in secure.reason
    lenient = run(params(check, None, script_policy=ScriptPolicy(script_user="root")))
    assert lenient.ok  # without enable_script_security it runs (and is logged once)
    script.chmod(0o755)
    assert run(
        params(check, None, script_policy=ScriptPolicy(script_user="root", enable_script_security=True))
    ).ok


def test_smtp_check_against_aiosmtpd():
    from aiosmtpd.controller import Controller
    from tandemlab.ports import free_port

    class Handler:
        def __init__(self):
            self.helos: list[str] = []

        async def handle_HELO(self, server, session, envelope, hostname):  # aiosmtpd's hook name
            self.helos.append(hostname)
            session.host_name = hostname
            return "250 welcome"

    handler = Handler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        assert run(params(SmtpCheck(kind="SMTP_CHECK"), port)).ok
        assert run(params(SmtpCheck(kind="SMTP_CHECK", helo_name="lb.example.com"), port)).ok
        assert handler.helos == ["smtpchecker.keepalived.org", "lb.example.com"]
    finally:
        controller.stop()
    refused = run(params(SmtpCheck(kind="SMTP_CHECK"), closed_port()))
    assert not refused.ok and "connection refused" in refused.reason


def test_smtp_check_bad_greetings():
    def speaker(*lines: bytes):
        async def handle(reader, writer):
            for line in lines:
                writer.write(line)
                await writer.drain()
                await reader.readline()
            writer.close()

        return handle

    async def scenario():
        out = []
        for handler in (
            speaker(b"554 no service\r\n"),
            speaker(b"220-multi\r\n220 ready\r\n", b"500 go away\r\n"),
            speaker(b"HTTP/1.0 400\r\n"),
        ):
            async with serve(handler) as port:
                out.append(await RUNNERS["SMTP_CHECK"].run(params(SmtpCheck(kind="SMTP_CHECK"), port)))
        return out

    greeting, helo, garbage = asyncio.run(scenario())
    assert not greeting.ok and "expected 220" in greeting.reason
    assert not helo.ok and "HELO answered '500 go away'" in helo.reason
    assert not garbage.ok and "not an SMTP reply" in garbage.reason


@pytest.fixture(scope="module")
def bind9():
    if not os.path.exists("/usr/sbin/named"):
        pytest.skip("BIND9 (named) is not installed")
    from tandemlab.bind9 import Bind9, TsigKey
    from tandemlab.ports import free_port

    with Bind9().start("tandem.test", TsigKey.generate("k"), free_port(), "127.0.0.1") as server:
        yield server


def test_dns_check_against_bind9(bind9):
    def dns(name: str = ".", rtype: str = "SOA"):
        return run(params(DnsCheck(kind="DNS_CHECK", name=name, type=rtype), bind9.port))

    assert dns("tandem.test").ok
    assert dns("ns.tandem.test", "A").ok
    no_records = dns("ns.tandem.test", "MX")  # NOERROR with an empty answer: up, as keepalived
    assert no_records.ok and "0 answer" in no_records.reason
    nxdomain = dns("missing.tandem.test", "A")
    assert not nxdomain.ok and "NXDOMAIN" in nxdomain.reason
    refused = dns()  # the root zone: not served, no recursion
    assert not refused.ok and "REFUSED" in refused.reason
    silent = run(params(DnsCheck(kind="DNS_CHECK"), closed_port(), connect_timeout=0.5))
    assert not silent.ok


class _Echo(asyncio.DatagramProtocol):
    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        self.transport.sendto(b"PONG" + data, addr)


def test_udp_check_reply_rules_and_icmp_unreachable():
    async def scenario():
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(_Echo, local_addr=("127.0.0.1", 0))
        port = transport.get_extra_info("sockname")[1]
        cases = {
            "any_reply": UdpCheck(kind="UDP_CHECK", payload=b"ping", require_reply=b""),
            "prefix": UdpCheck(kind="UDP_CHECK", payload=b"ping", require_reply=b"PONGping-and-more"),
            "mismatch": UdpCheck(kind="UDP_CHECK", payload=b"ping", require_reply=b"PANG"),
            "too_long": UdpCheck(
                kind="UDP_CHECK", payload=b"ping", require_reply=b"PONG", max_reply_length=5
            ),
            "too_short": UdpCheck(
                kind="UDP_CHECK", payload=b"ping", require_reply=b"PONG", min_reply_length=9
            ),
            "no_require": UdpCheck(kind="UDP_CHECK", payload=b"ping"),
        }
        try:
            out = {
                name: await RUNNERS["UDP_CHECK"].run(params(c, port, connect_timeout=1))
                for name, c in cases.items()
            }
        finally:
            transport.close()
        unreachable = UdpCheck(kind="UDP_CHECK", payload=b"x")
        out["unreachable"] = await RUNNERS["UDP_CHECK"].run(
            params(unreachable, closed_port(), connect_timeout=1)
        )
        required = UdpCheck(kind="UDP_CHECK", payload=b"x", require_reply=b"")
        out["unreachable_required"] = await RUNNERS["UDP_CHECK"].run(
            params(required, closed_port(), connect_timeout=1)
        )
        return out

    out = asyncio.run(scenario())
    assert out["any_reply"].ok and out["prefix"].ok and out["no_require"].ok
    assert not out["mismatch"].ok and "does not start with" in out["mismatch"].reason
    assert not out["too_long"].ok and "expected 0..5" in out["too_long"].reason
    assert not out["too_short"].ok
    assert not out["unreachable"].ok and "ICMP port unreachable" in out["unreachable"].reason
    assert not out["unreachable_required"].ok


def test_ping_check_on_loopback():
    for address in ("127.0.0.1", "::1"):
        result = run(params(PingCheck(kind="PING_CHECK"), None, address=address))
        assert result.ok, (address, result.reason)


def test_file_check_state_and_weights(tmp_path):
    path = tmp_path / "weight"
    track = TrackFile(name="tf", file=str(path), weight=0)

    def check(value: str | None, track: TrackFile = track, **values):
        if value is None:
            path.unlink(missing_ok=True)
        else:
            path.write_text(value)
        checker = FileCheck(kind="FILE_CHECK", track_file="tf", **values)
        return run(params(checker, None, track_file=track, weight=5))

    assert check("0").ok
    down = check("3")
    assert not down.ok and "track_file value 3" in down.reason
    assert check(None).ok  # a missing file reads as 0
    assert not check("0", weight=0, weight_reverse=True).ok  # reverse: zero means down
    offset = check("4", weight=2)
    assert offset.ok and offset.weight == 13  # 5 + 4 * 2
    assert check("4", weight=2, weight_reverse=True).weight == 0  # 5 - 8, clamped
    assert check("2", TrackFile(name="tf", file=str(path), weight=3)).weight == 11  # the track_file's weight
    undefined = run(params(FileCheck(kind="FILE_CHECK", track_file="nope"), None))
    assert not undefined.ok and "'nope' is not defined" in undefined.reason
