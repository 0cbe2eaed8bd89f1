"""TCP_CHECK, HTTP_GET and SSL_GET against real servers on loopback."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import http.server
import ssl
import threading
from ipaddress import ip_address

import pytest
from check_helpers import closed_port, http_answer, params, self_signed, serve
from tandem.check.registry import RUNNERS
from tandem.config.model import CheckerSsl, CheckerUrl, HttpCheck, TcpCheck


def run(check):
    return asyncio.run(RUNNERS[check.kind].run(check))


def http_check(*urls: CheckerUrl, kind: str = "HTTP_GET", **values) -> HttpCheck:
    return HttpCheck(kind=kind, urls=urls, **values)


def test_tcp_check_up_refused_and_bound_source():
    async def scenario():
        seen = []

        async def handle(reader, writer):
            seen.append(writer.get_extra_info("peername"))
            writer.close()

        async with serve(handle) as port:
            up = await RUNNERS["TCP_CHECK"].run(params(TcpCheck(kind="TCP_CHECK"), port))
            bound = await RUNNERS["TCP_CHECK"].run(
                params(TcpCheck(kind="TCP_CHECK"), port, bindto=ip_address("127.0.0.2"))
            )
            await asyncio.sleep(0.05)
        down = await RUNNERS["TCP_CHECK"].run(params(TcpCheck(kind="TCP_CHECK"), closed_port()))
        return up, bound, down, seen

    up, bound, down, seen = asyncio.run(scenario())
    assert up.ok and up.latency >= 0
    assert bound.ok and seen[-1][0] == "127.0.0.2"
    assert not down.ok and "connection refused" in down.reason


def test_tcp_check_ipv6_and_missing_port():
    async def scenario():
        async def handle(reader, writer):
            writer.close()

        async with serve(handle, host="::1") as port:
            return await RUNNERS["TCP_CHECK"].run(params(TcpCheck(kind="TCP_CHECK"), port, address="::1"))

    assert asyncio.run(scenario()).ok
    missing = run(params(TcpCheck(kind="TCP_CHECK"), None))
    assert not missing.ok and "no port" in missing.reason


class _Pages(http.server.BaseHTTPRequestHandler):
    """The stdlib's HTTP server: /ok 200, /moved 302, /missing 404 (its own error page)."""

    protocol_version = "HTTP/1.1"

    def do_GET(self):
        status = {"/ok": 200, "/moved": 302}.get(self.path)
        if status is None:
            self.send_error(404)
            return
        body = f"page {self.path} for {self.headers['Host']}".encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def stdlib_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_http_get_status_codes_and_ranges_against_http_server(stdlib_server):
    port = stdlib_server
    ok = run(params(http_check(CheckerUrl(path="/ok")), port))
    assert ok.ok, ok.reason
    moved_default = run(params(http_check(CheckerUrl(path="/moved")), port))
    assert not moved_default.ok and "HTTP status 302 (expected 200-299)" in moved_default.reason
    moved_range = run(params(http_check(CheckerUrl(path="/moved", status_code=tuple(range(300, 400)))), port))
    assert moved_range.ok
    missing = run(params(http_check(CheckerUrl(path="/missing", status_code=(200, 301, 302))), port))
    assert not missing.ok and "404 (expected 200 301-302)" in missing.reason
    # every url must pass: the second one fails the check
    both = run(params(http_check(CheckerUrl(path="/ok"), CheckerUrl(path="/missing")), port))
    assert not both.ok and "/missing" in both.reason
    for protocol in ("1.0", "1.0C", "1.1"):
        assert run(params(http_check(CheckerUrl(path="/ok"), http_protocol=protocol), port)).ok


def test_http_get_digest_regex_and_request_format():
    body = b"<html>status: healthy; version 42</html>"
    digest = hashlib.md5(body).hexdigest()

    async def scenario():
        handler = http_answer(200, body)
        async with serve(handler) as port:
            check = functools.partial(params, port=port)
            results = {
                "digest_ok": http_check(CheckerUrl(path="/", digest=digest.upper())),
                "digest_bad": http_check(CheckerUrl(path="/", digest="0" * 32)),
                "regex_ok": http_check(CheckerUrl(path="/", regex=r"healthy; version \d+")),
                "regex_bad": http_check(CheckerUrl(path="/", regex="unhealthy")),
                "no_match": http_check(CheckerUrl(path="/", regex="unhealthy", regex_no_match=True)),
                "caseless": http_check(CheckerUrl(path="/", regex="HEALTHY", regex_options=("caseless",))),
                "offset_past": http_check(CheckerUrl(path="/", regex="healthy", regex_min_offset=20)),
                "offset_before": http_check(CheckerUrl(path="/", regex="version", regex_max_offset=10)),
            }
            out = {name: await RUNNERS["HTTP_GET"].run(check(value)) for name, value in results.items()}
            vhost_11 = http_check(CheckerUrl(path="/x?y=1", virtualhost="url.test"), http_protocol="1.1")
            await RUNNERS["HTTP_GET"].run(check(vhost_11, virtualhost="vs.test"))
            await RUNNERS["HTTP_GET"].run(check(http_check(CheckerUrl(path="/plain"))))
            await RUNNERS["HTTP_GET"].run(
                check(http_check(CheckerUrl(path="/c"), http_protocol="1.0C"), virtualhost="vs.test")
            )
            return out, handler.requests, port

    out, requests, port = asyncio.run(scenario())
    assert out["digest_ok"].ok and out["regex_ok"].ok and out["no_match"].ok and out["caseless"].ok
    assert not out["digest_bad"].ok and f"MD5 digest {digest}" in out["digest_bad"].reason
    assert not out["regex_bad"].ok and "does not match regex" in out["regex_bad"].reason
    assert not out["offset_past"].ok and not out["offset_before"].ok
    assert requests[-3] == (
        b"GET /x?y=1 HTTP/1.1\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\nHost: url.test\r\n\r\n"
    )
    assert (
        requests[-2]
        == f"GET /plain HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    )
    assert (
        requests[-1]
        == b"GET /c HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\nHost: vs.test\r\n\r\n"
    )


def test_http_get_odd_servers():
    big = 8 * 1024 * 1024  # streamed, hashed on the way: never held in memory

    async def huge(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(f"HTTP/1.0 200 OK\r\nContent-Length: {big}\r\n\r\n".encode())
        chunk = b"x" * 65536
        for _ in range(big // len(chunk)):
            writer.write(chunk)
            await writer.drain()
        writer.close()

    async def silent(reader, writer):
        await reader.read(1)
        await asyncio.sleep(10)

    async def hang_up(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.close()

    async def not_http(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"SSH-2.0-OpenSSH\r\n\r\n")
        writer.close()

    async def scenario():
        out = {}
        for name, handler in {
            "huge": huge,
            "silent": silent,
            "hang_up": hang_up,
            "not_http": not_http,
        }.items():
            async with serve(handler) as port:
                check = params(http_check(CheckerUrl(path="/", regex="x{5}")), port, connect_timeout=1.0)
                out[name] = await RUNNERS["HTTP_GET"].run(check)
        async with serve(http_answer(200, b"no length", length=False)) as port:
            out["no_length"] = await RUNNERS["HTTP_GET"].run(params(http_check(CheckerUrl(path="/")), port))
        return out

    out = asyncio.run(scenario())
    assert out["huge"].ok, out["huge"].reason
    assert (
        not out["silent"].ok and "timeout after 1 s (/: reading the response header)" in out["silent"].reason
    )
    assert not out["hang_up"].ok and "no data received" in out["hang_up"].reason
    assert not out["not_http"].ok and "HTTP status missing" in out["not_http"].reason
    assert out["no_length"].ok


def test_ssl_get_against_tls_server_with_sni(tmp_path):
    cert, key = self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    names = []
    context.sni_callback = lambda sock, name, ctx: names.append(name)
    body = b"secure ok"

    async def scenario():
        async with serve(http_answer(200, body), ssl=context) as port:
            plain = await RUNNERS["SSL_GET"].run(
                params(
                    http_check(CheckerUrl(path="/", digest=hashlib.md5(body).hexdigest()), kind="SSL_GET"),
                    port,
                )
            )
            sni = await RUNNERS["SSL_GET"].run(
                params(
                    http_check(CheckerUrl(path="/"), kind="SSL_GET", enable_sni=True),
                    port,
                    virtualhost="web.test",
                )
            )
            http_on_tls = await RUNNERS["HTTP_GET"].run(params(http_check(CheckerUrl(path="/")), port))

        async def plain_speaker(reader, writer):
            writer.write(b"HTTP/1.0 400 Bad Request\r\n\r\n")
            writer.close()

        async with serve(plain_speaker) as port:
            tls_on_plain = await RUNNERS["SSL_GET"].run(
                params(http_check(CheckerUrl(path="/"), kind="SSL_GET"), port)
            )
        return plain, sni, http_on_tls, tls_on_plain

    plain, sni, http_on_tls, tls_on_plain = asyncio.run(scenario())
    assert plain.ok, plain.reason
    assert sni.ok and names == [None, "web.test"]
    assert not http_on_tls.ok
    assert not tls_on_plain.ok and "TLS" in tls_on_plain.reason


def test_ssl_get_presents_the_ssl_blocks_client_certificate(tmp_path):
    cert, key = self_signed(tmp_path)
    client_cert, client_key = self_signed(tmp_path, "lb.test", password="s3cret")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.verify_mode = ssl.CERT_REQUIRED  # a real server that wants client certificates
    context.load_verify_locations(client_cert)
    check = http_check(CheckerUrl(path="/"), kind="SSL_GET")
    client = CheckerSsl(certificate=str(client_cert), key=str(client_key), password="s3cret")

    async def scenario():
        async with serve(http_answer(200, b"ok"), ssl=context) as port:
            anonymous = await RUNNERS["SSL_GET"].run(params(check, port))
            with_cert = await RUNNERS["SSL_GET"].run(params(check, port, ssl=client))
            wrong_password = CheckerSsl(certificate=str(client_cert), key=str(client_key), password="nope")
            bad_key = await RUNNERS["SSL_GET"].run(params(check, port, ssl=wrong_password))
        return anonymous, with_cert, bad_key

    anonymous, with_cert, bad_key = asyncio.run(scenario())
    assert with_cert.ok, with_cert.reason
    assert not anonymous.ok
    assert not bad_key.ok and "s3cret" not in bad_key.reason and "nope" not in bad_key.reason


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 2\r\nConnection: close", (200, 2)),
        (b"HTTP/1.0 503 Busy\r\nServer: x", (503, None)),  # no Content-Length: read to the end
        (b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nCONTENT-LENGTH : 7 ", (200, 7)),  # the last wins
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: x", (200, 5)),  # an invalid one is not
        (b"HTTP/1.1 200 OK\r\nX-Note: content-length: 9\r\nX-Content-Length: 8", (200, None)),
        (b"HTTP/1.1 200 content-length: 3", (200, None)),  # the status line has no fields
        (b"SSH-2.0-OpenSSH\r\nContent-Length: 1", (0, 1)),  # not HTTP: status 0
        (b"", (0, None)),
    ],
)
def test_parse_header_takes_the_status_and_the_last_valid_content_length(header, expected):
    from tandem.check.http import parse_header

    assert parse_header(header) == expected


def test_a_response_fed_in_pieces_is_read_as_a_whole():
    from tandem.check.http import ResponseReader

    response = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody"
    for cut in range(1, len(response)):
        reader = ResponseReader(CheckerUrl(path="/"))
        assert reader.feed(response[:cut]) is None
        outcome = reader.feed(response[cut:])
        assert outcome is not None and outcome.reason == "/: HTTP 200", cut
