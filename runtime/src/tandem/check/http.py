"""HTTP_GET and SSL_GET: a GET of each ``url``, judged by status code, MD5 digest and regex, as keepalived.

Each url is fetched on a connection of its own, within connect_timeout (connect, TLS handshake,
request and the whole response); all must pass. The request is keepalived's::

    GET <path> HTTP/1.0|1.1            (http_protocol 1.0 and 1.0C: 1.0; 1.1: 1.1)
    User-Agent: KeepAliveClient
    Connection: close                  (1.0C and 1.1 only)
    Host: <virtualhost>                (url's, else checker's, else virtual server's; else IP:port)

The body is what follows the header, read until the server closes or Content-Length bytes came
(keepalived does not decode chunked transfer encoding: neither does Tandem, so digests computed with
keepalived's genhash match). No status_code means 200-299 (keepalived's HTTP_DEFAULT_STATUS_CODE_*).
The digest is the MD5 of the body, hashed as it arrives; the regex (Python's ``re`` on bytes, for
keepalived's PCRE2) sees the first REGEX_WINDOW bytes, so a huge body costs no memory.

SSL_GET does not verify the server's certificate, like keepalived (it never sets a verify mode);
the top-level ``SSL { certificate key password }`` block gives the client certificate it presents;
``enable_sni`` sends the virtualhost as the TLS server name.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import ssl
from collections.abc import Awaitable, Callable, Iterable

from tandem.check.net import tcp_connect
from tandem.check.regex import compile_regex
from tandem.check.result import CheckFailed, CheckResult, Outcome, Stage, bounded
from tandem.config.model import CheckerSsl, CheckerUrl, HttpCheck
from tandem.lb.params import CheckParams

HEADER_LIMIT = 64 * 1024  # a header longer than this fails the check
READ_CHUNK = 64 * 1024
REGEX_WINDOW = 1024 * 1024  # body bytes a regex is matched against
DEFAULT_STATUS = tuple(range(200, 300))
Recv = Callable[[int], Awaitable[bytes]]


def code_ranges(codes: Iterable[int]) -> str:
    """``200-299 301`` for the set of codes."""
    parts: list[str] = []
    ordered = sorted(set(codes))
    start = prev = ordered[0] if ordered else 0
    for code in [*ordered[1:], None]:
        if code is not None and code == prev + 1:
            prev = code
            continue
        parts.append(f"{start}" if start == prev else f"{start}-{prev}")
        if code is not None:
            start = prev = code
    return " ".join(parts)


@functools.lru_cache(maxsize=8)
def tls_context(settings: CheckerSsl | None) -> ssl.SSLContext:
    """keepalived's SSL_GET context: no verification; the SSL block's client certificate if it has one."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # keepalived's SSL_GET verifies nothing
    if settings is not None and settings.certificate and settings.key:
        context.load_cert_chain(settings.certificate, settings.key, settings.password)
    return context


def request(check: CheckParams, url: CheckerUrl) -> bytes:
    checker: HttpCheck = check.checker  # type: ignore[assignment]
    vhost = url.virtualhost or check.virtualhost
    if vhost:
        host = vhost
    elif check.address.version == 6:
        host = f"[{check.address}]:{check.port}"
    else:
        host = f"{check.address}:{check.port}"
    protocol = checker.http_protocol or "1.0"
    lines = [
        f"GET {url.path} HTTP/{'1.1' if protocol == '1.1' else '1.0'}",
        "User-Agent: KeepAliveClient",
        *(["Connection: close"] if protocol in ("1.0C", "1.1") else []),
        f"Host: {host}",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def parse_header(header: bytes) -> tuple[int, int | None]:
    """Status code (0 when the status line is not HTTP) and Content-Length (None when absent)."""
    status_line, *fields = header.split(b"\r\n")
    parts = status_line.split(None, 2)
    status = int(parts[1]) if len(parts) >= 2 and parts[0].startswith(b"HTTP/") and parts[1].isdigit() else 0
    length = None
    for field in fields:
        name, _, value = field.partition(b":")
        if name.strip().lower() == b"content-length" and value.strip().isdigit():
            length = int(value.strip())
    return status, length


def judge(url: CheckerUrl, status: int, digest: str, body: bytes) -> Outcome:
    """keepalived's order: status code, then digest, then regex."""
    expected = url.status_code or DEFAULT_STATUS
    if status not in expected:
        raise CheckFailed(f"{url.path}: HTTP status {status or 'missing'} (expected {code_ranges(expected)})")
    if url.digest and digest != url.digest.lower():
        raise CheckFailed(f"{url.path}: MD5 digest {digest} (expected {url.digest.lower()})")
    if url.regex is not None:
        found = compile_regex(url.regex, url.regex_options).search(body, url.regex_min_offset)
        matched = found is not None and (
            url.regex_max_offset is None or found.start() <= url.regex_max_offset
        )
        if matched == url.regex_no_match:
            verb = "matches" if matched else "does not match"
            raise CheckFailed(f"{url.path}: body {verb} regex {url.regex!r}")
    return Outcome(reason=f"{url.path}: HTTP {status}")


async def read_response(recv: Recv, url: CheckerUrl, stage: Stage) -> Outcome:
    """Header, then the body hashed as it arrives; ``recv(n)`` returns b"" at end of stream."""
    stage.name = f"{url.path}: reading the response header"
    buffer = bytearray()
    while (end := buffer.find(b"\r\n\r\n")) < 0:
        if len(buffer) > HEADER_LIMIT:
            raise CheckFailed(f"{url.path}: response header longer than {HEADER_LIMIT} bytes")
        chunk = await recv(READ_CHUNK)
        if not chunk:
            raise CheckFailed(
                f"{url.path}: " + ("response header incomplete" if buffer else "no data received")
            )
        buffer += chunk
    status, length = parse_header(bytes(buffer[:end]))
    stage.name = f"{url.path}: reading the response body"
    md5, window = hashlib.md5(usedforsecurity=False), bytearray()
    chunk, remaining = bytes(buffer[end + 4 :]), length
    while True:
        if remaining is not None:
            chunk = chunk[:remaining]
            remaining -= len(chunk)
        md5.update(chunk)
        if url.regex is not None and len(window) < REGEX_WINDOW:
            window += chunk[: REGEX_WINDOW - len(window)]
        if remaining == 0:
            break
        chunk = await recv(READ_CHUNK)
        if not chunk:
            break
    return judge(url, status, md5.hexdigest(), bytes(window))


async def fetch(check: CheckParams, url: CheckerUrl, stage: Stage) -> Outcome:
    checker: HttpCheck = check.checker  # type: ignore[assignment]
    stage.name = f"{url.path}: connecting"
    sock = await tcp_connect(check)
    if checker.kind != "SSL_GET":  # plain HTTP: the loop's socket calls, no stream machinery
        loop = asyncio.get_running_loop()
        with sock:
            stage.name = f"{url.path}: sending the request"
            await loop.sock_sendall(sock, request(check, url))
            return await read_response(functools.partial(loop.sock_recv, sock), url, stage)
    stage.name = f"{url.path}: TLS handshake"
    vhost = url.virtualhost or check.virtualhost
    try:
        reader, writer = await asyncio.open_connection(
            sock=sock,
            ssl=tls_context(check.ssl),
            server_hostname=vhost if checker.enable_sni and vhost else "",
        )
    except BaseException:
        sock.close()
        raise
    try:
        stage.name = f"{url.path}: sending the request"
        writer.write(request(check, url))
        await writer.drain()
        return await read_response(reader.read, url, stage)
    finally:
        writer.transport.abort()


async def run(check: CheckParams) -> CheckResult:
    checker: HttpCheck = check.checker  # type: ignore[assignment]
    if not checker.urls:
        return CheckResult(False, f"{checker.kind} has no url", 0.0)
    latency, reasons = 0.0, []
    for url in checker.urls:
        result = await bounded(check.connect_timeout, functools.partial(fetch, check, url))
        latency += result.latency
        if not result.ok:
            return CheckResult(False, result.reason, latency)
        reasons.append(result.reason)
    return CheckResult(True, ", ".join(reasons), latency)
