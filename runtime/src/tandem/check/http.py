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

HTTP_GET runs as a :class:`~tandem.check.engine.Probe` (callbacks, no task per check); SSL_GET on
asyncio's TLS transport, under :func:`~tandem.check.result.bounded`. Both read the response with one
:class:`ResponseReader`.

SSL_GET does not verify the server's certificate, like keepalived (it never sets a verify mode);
the top-level ``SSL { certificate key password }`` block gives the client certificate it presents;
``enable_sni`` sends the virtualhost as the TLS server name.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import select
import ssl
from collections.abc import Awaitable, Callable, Iterable

from tandem.check.engine import READY_EVENTS, Done, Probe, run_probe
from tandem.check.net import address_text, tcp_connect
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
        host = f"[{address_text(check.address)}]:{check.port}"
    else:
        host = f"{address_text(check.address)}:{check.port}"
    protocol = checker.http_protocol or "1.0"
    lines = [
        f"GET {url.path} HTTP/{'1.1' if protocol == '1.1' else '1.0'}",
        "User-Agent: KeepAliveClient",
        *(["Connection: close"] if protocol in ("1.0C", "1.1") else []),
        f"Host: {host}",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def parse_header(header: bytes) -> tuple[int, int | None]:
    """Status code (0 when the status line is not HTTP) and Content-Length (None when absent; of
    several, the last valid one). Only the fields that contain the name are split."""
    first = header.find(b"\r\n")
    parts = (header if first < 0 else header[:first]).split(None, 2)
    status = int(parts[1]) if len(parts) >= 2 and parts[0].startswith(b"HTTP/") and parts[1].isdigit() else 0
    length = None
    if first < 0:
        return status, length
    lower = header.lower()
    at = lower.find(b"content-length", first)
    while at >= 0:
        start = lower.rfind(b"\r\n", first, at) + 2
        end = lower.find(b"\r\n", at)
        if end < 0:
            end = len(lower)
        name, _, value = header[start:end].partition(b":")
        if name.strip().lower() == b"content-length" and value.strip().isdigit():
            length = int(value.strip())
        at = lower.find(b"content-length", end)
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


class ResponseReader:
    """One url's response fed as it arrives (``feed(b"")`` at end of stream): the header, then the
    body hashed on the way; the outcome (judged) once complete, else None. ``stage`` names the part
    awaited."""

    __slots__ = ("_buffer", "_in_body", "_md5", "_remaining", "_status", "_window", "stage", "url")

    def __init__(self, url: CheckerUrl) -> None:
        self.url = url
        self.stage = f"{url.path}: reading the response header"
        self._buffer = bytearray()
        self._md5 = hashlib.md5(usedforsecurity=False) if url.digest else None
        self._window = bytearray()
        self._remaining: int | None = None
        self._status = 0
        self._in_body = False

    def feed(self, chunk: bytes) -> Outcome | None:
        """Raises CheckFailed when the response cannot pass."""
        if self._in_body:
            return self._judge() if not chunk else self._body(chunk)
        url, buffer = self.url, self._buffer
        if not chunk:
            raise CheckFailed(
                f"{url.path}: " + ("response header incomplete" if buffer else "no data received")
            )
        if buffer:
            buffer += chunk
            data = buffer
        else:  # the first chunk (most often the whole response): not copied into the buffer
            data = chunk
        end = data.find(b"\r\n\r\n")
        if end < 0:
            if len(data) > HEADER_LIMIT:
                raise CheckFailed(f"{url.path}: response header longer than {HEADER_LIMIT} bytes")
            if data is chunk:
                buffer += chunk
            return None
        self._status, self._remaining = parse_header(bytes(data[:end]))
        self.stage = f"{url.path}: reading the response body"
        self._in_body = True
        rest = data[end + 4 :]
        self._buffer = bytearray()
        return self._body(rest)

    def _body(self, chunk: bytes) -> Outcome | None:
        if self._remaining is not None:
            chunk = chunk[: self._remaining]
            self._remaining -= len(chunk)
        if self._md5 is not None:
            self._md5.update(chunk)
        if self.url.regex is not None and len(self._window) < REGEX_WINDOW:
            self._window += chunk[: REGEX_WINDOW - len(self._window)]
        return self._judge() if self._remaining == 0 else None

    def _judge(self) -> Outcome:
        digest = self._md5.hexdigest() if self._md5 is not None else ""
        return judge(self.url, self._status, digest, bytes(self._window))


async def read_response(recv: Recv, url: CheckerUrl, stage: Stage) -> Outcome:
    """The response read with ``recv(n)`` (b"" at end of stream), judged."""
    reader = ResponseReader(url)
    while True:
        stage.name = reader.stage
        outcome = reader.feed(await recv(READ_CHUNK))
        if outcome is not None:
            return outcome


async def fetch_tls(check: CheckParams, url: CheckerUrl, stage: Stage) -> Outcome:
    """SSL_GET's fetch of one url: asyncio's TLS transport on a connected socket."""
    checker: HttpCheck = check.checker  # type: ignore[assignment]
    stage.name = f"{url.path}: connecting"
    sock = await tcp_connect(check)
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


class HttpProbe(Probe):
    """HTTP_GET without TLS: each url on a connection of its own, one after the other."""

    __slots__ = ("index", "latency", "pending", "reader", "reasons", "urls")

    def __init__(self, check: CheckParams, done: Done) -> None:
        super().__init__(check, done)
        self.urls = check.checker.urls  # type: ignore[attr-defined]
        self.index, self.latency, self.reasons = 0, 0.0, []
        self.reader: ResponseReader | None = None
        self.pending = b""

    def next_url(self) -> None:
        self.connect(f"{self.urls[self.index].path}: connecting")

    def connected(self) -> None:
        url = self.urls[self.index]
        self.stage = f"{url.path}: sending the request"
        self.pending = request(self.check, url)
        self.reader = ResponseReader(url)
        self._send(0)

    def _send(self, mask: int) -> None:
        try:
            sent = self.sock.send(self.pending)
        except BlockingIOError:
            sent = 0
        except OSError as error:
            self.error(error)
            return
        self.pending = self.pending[sent:]
        if self.pending:
            self.engine.poller.watch(self.sock.fileno(), select.EPOLLOUT, self._send)
            return
        self.stage = self.reader.stage
        self.engine.poller.watch(self.sock.fileno(), READY_EVENTS, self._readable)

    def _readable(self, mask: int) -> None:
        engine = self.engine
        try:
            count = self.sock.recv_into(engine.buffer)
        except BlockingIOError:
            return
        except OSError as error:
            self.error(error)
            return
        try:
            outcome = self.reader.feed(bytes(engine.view[:count]))
        except Exception as error:  # CheckFailed: the reason; anything else: a bug (Probe.error)
            self.error(error)
            return
        if outcome is None:
            self.stage = self.reader.stage
            return
        self.close()
        self.finished(True, outcome.reason)

    def finished(self, ok: bool, reason: str) -> None:
        self.latency += self.loop.time() - self.began
        if not ok:
            self.report(CheckResult(False, reason, self.latency))
            return
        self.reasons.append(reason)
        self.index += 1
        if self.index < len(self.urls):
            self.next_url()
        else:
            self.report(CheckResult(True, ", ".join(self.reasons), self.latency))


def start(check: CheckParams, done: Done) -> HttpProbe | None:
    """HTTP_GET as a probe (no task); SSL_GET: None (it runs as a task, :func:`run`)."""
    if check.kind == "SSL_GET":
        return None
    probe = HttpProbe(check, done)
    if not probe.urls:
        probe.report(CheckResult(False, f"{check.kind} has no url", 0.0))
    else:
        probe.next_url()
    return probe.started()


async def run(check: CheckParams) -> CheckResult:
    checker: HttpCheck = check.checker  # type: ignore[assignment]
    if checker.kind != "SSL_GET":
        return await run_probe(start, check)
    if not checker.urls:
        return CheckResult(False, f"{checker.kind} has no url", 0.0)
    latency, reasons = 0.0, []
    for url in checker.urls:
        result = await bounded(check.connect_timeout, functools.partial(fetch_tls, check, url))
        latency += result.latency
        if not result.ok:
            return CheckResult(False, result.reason, latency)
        reasons.append(result.reason)
    return CheckResult(True, ", ".join(reasons), latency)
