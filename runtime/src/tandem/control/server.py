"""ControlServer: the daemon's unix socket (mode 0600: root only), one JSON request per line.

Every request line is answered: garbage (bad JSON or UTF-8, deep nesting, non-finite numbers, wrong
argument types, a line over MAX_REQUEST) gets an error, never a traceback. The socket's directory is
created 0700 when missing; one that exists (possibly shared, such as /tmp) is left as it is.

What clients can hold is bounded: at most MAX_CLIENTS connections at once (one more is answered
"too many" and closed: a flood of connections once took every file descriptor of the process, with a
logged traceback per refused accept), and a client has CLIENT_TIMEOUT seconds to send each request
line and to take each answer (a slow or silent client is closed; ``watch`` waits for events, not for
its client).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os

from tandem.control.protocol import Handler, LbHandler, ReloadOutcome

log = logging.getLogger(__name__)
MAX_REQUEST = 64 * 1024
MAX_DEPTH = 8  # containers in a request (arguments are strings, numbers and booleans)
MAX_CLIENTS = 64  # connections at once (tandemctl uses one a command; each watch holds one)
CLIENT_TIMEOUT = 10.0  # seconds to send a request line (from the last answer) or to read an answer
MAX_LOWER_BY = 255  # maintenance: lowering by more than any priority changes nothing
NO_LB = "no load balancer runs (the config has no virtual_server)"
NO_VRRP = "no VRRP runs in this process"


class BadRequest(Exception):
    """A request line that cannot be acted on; its message is the answer."""


def _finite(text: str) -> float:
    value = float(text)
    if value != value or value in (float("inf"), float("-inf")):  # 1e999 parses as inf
        raise BadRequest(f"number out of range: {text[:40]}")
    return value


def _no_constant(name: str):
    raise BadRequest(f"not JSON: {name}")


def parse_request(line: bytes) -> tuple[str, dict]:
    """The command and arguments of one request line; raises BadRequest."""
    try:
        request = json.loads(line, parse_float=_finite, parse_constant=_no_constant)
    except RecursionError:
        raise BadRequest("request nested too deeply") from None
    except ValueError as error:  # includes bad UTF-8 and integers too long to convert
        raise BadRequest(f"not JSON: {str(error)[:200]}") from None
    if not isinstance(request, dict) or not isinstance(request.get("cmd"), str):
        raise BadRequest("expected a JSON object with a 'cmd' string")
    if _deeper_than(request, MAX_DEPTH):  # no command takes more; the relay re-encodes what it passes on
        raise BadRequest(f"request nested deeper than {MAX_DEPTH} levels")
    return request.pop("cmd"), request


def _deeper_than(value, limit: int) -> bool:
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth >= limit:
                return True
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return False


def maintenance_arguments(args: dict) -> tuple[str | None, int, bool]:
    """``instance`` (a name, or absent for all), ``lower_by`` (0..255) and ``force_backup`` (a bool)."""
    instance, lower_by, force = args.get("instance"), args.get("lower_by", 0), args.get("force_backup", False)
    if instance is not None and not isinstance(instance, str):
        raise BadRequest("bad arguments: 'instance' must be a string")
    if isinstance(lower_by, bool) or not isinstance(lower_by, int) or not 0 <= lower_by <= MAX_LOWER_BY:
        raise BadRequest(f"bad arguments: 'lower_by' must be an integer from 0 to {MAX_LOWER_BY}")
    if not isinstance(force, bool):
        raise BadRequest("bad arguments: 'force_backup' must be true or false")
    return instance, lower_by, force


def drain_arguments(args: dict) -> tuple[str, str, str]:
    """``virtual_server`` and ``real_server`` (names as lb_status shows them) and ``mode``."""
    from tandem.lb.realserver import DRAIN_MODES

    names = (args.get("virtual_server"), args.get("real_server"))
    if not all(isinstance(name, str) for name in names):
        raise BadRequest("bad arguments: 'virtual_server' and 'real_server' must be strings")
    mode = args.get("mode", "drain")
    if mode not in DRAIN_MODES:
        raise BadRequest(f"bad arguments: 'mode' must be one of {', '.join(DRAIN_MODES)}")
    return names[0], names[1], mode


async def reload_all(handler: Handler | None, lb: LbHandler | None) -> ReloadOutcome:
    """Reload VRRP, then (if it took the new config) the load balancer; one outcome for both.
    In tandemd's checker process there is no VRRP handler, in its VRRP process no load balancer."""
    if handler is None:
        return await lb.reload()
    outcome = await handler.reload()
    if lb is None or not outcome.ok:
        return outcome
    lb_outcome = await lb.reload()
    if not lb_outcome.ok:
        return lb_outcome
    return ReloadOutcome(True, summary={**outcome.summary, **lb_outcome.summary})


def encode(obj) -> bytes:
    return json.dumps(obj, default=_plain).encode() + b"\n"


def _plain(value):
    if dataclasses.is_dataclass(value):
        return dataclasses.asdict(value)
    raise TypeError(f"not JSON: {value!r}")


class ControlServer:
    def __init__(
        self,
        path: str,
        handler: Handler | None,
        lb: LbHandler | None = None,
        outside_realtime=contextlib.nullcontext,
    ) -> None:
        self.path = path
        self.handler = handler
        self.lb = lb  # the load balancer, when the config has virtual servers
        # answers are made and encoded inside it: a realtime child (vrrp_/checker_rt_priority) does
        # that at normal scheduling, as 5,000 real servers' status takes longer than RLIMIT_RTTIME
        self.outside_realtime = outside_realtime
        self._server: asyncio.Server | None = None
        self.clients = 0  # connections being served
        self.refused = 0  # connections closed at once: MAX_CLIENTS were being served
        self.timed_out = 0  # clients closed for taking over CLIENT_TIMEOUT

    async def start(self) -> None:
        directory = os.path.dirname(self.path) or "."
        if not os.path.isdir(directory):
            os.makedirs(directory, exist_ok=True)
            os.chmod(directory, 0o700)  # ours: whatever the umask did
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)  # a stale socket of a previous run
        old_umask = os.umask(0o177)  # the socket is created 0600: no window where others can connect
        try:
            self._server = await asyncio.start_unix_server(self._serve, self.path, limit=MAX_REQUEST)
        finally:
            os.umask(old_umask)

    async def close(self) -> None:
        if self._server is None:
            return  # never bound: what is at the path is not ours
        self._server.close()
        await self._server.wait_closed()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.clients >= MAX_CLIENTS:
            self.refused += 1
            if self.refused & (self.refused - 1) == 0:  # 1st, 2nd, 4th, 8th...: a flood logs little
                log.warning(
                    "control socket: over %d clients at once; refused %d so far", MAX_CLIENTS, self.refused
                )
            writer.write(encode({"ok": False, "error": f"too many control connections (over {MAX_CLIENTS})"}))
            writer.close()
            return
        self.clients += 1
        try:
            while True:
                try:
                    line = await asyncio.wait_for(reader.readline(), CLIENT_TIMEOUT)
                except ValueError:  # a line over MAX_REQUEST: no telling where the next one starts
                    await self._send(writer, {"ok": False, "error": f"request over {MAX_REQUEST} bytes"})
                    return
                if not line:
                    return
                try:
                    command, args = parse_request(line)
                except BadRequest as error:
                    await self._send(writer, {"ok": False, "error": str(error)})
                    continue
                if command == "watch":
                    await self._watch(reader, writer)
                    return
                await self._send(writer, await self._answer(command, args))
        except TimeoutError:
            self.timed_out += 1
            log.debug("control client closed: nothing sent or read for %s s", CLIENT_TIMEOUT)
            writer.transport.abort()  # close() would wait for the unread answers to be taken
        except ConnectionError as error:
            log.debug("control client dropped: %s", error)
        finally:
            self.clients -= 1
            writer.close()

    async def _send(self, writer: asyncio.StreamWriter, answer: dict) -> None:
        with self.outside_realtime():
            data = encode(answer)
        writer.write(data)
        await asyncio.wait_for(writer.drain(), CLIENT_TIMEOUT)

    async def _answer(self, command: str, args: dict) -> dict:
        handler = self.handler
        if handler is None and command in ("status", "stats", "maintenance"):
            return {"ok": False, "error": NO_VRRP}
        try:
            if command == "reload":
                return {"ok": True, "result": await reload_all(handler, self.lb)}
            if command == "maintenance":
                return {"ok": True, "result": await handler.maintenance(*maintenance_arguments(args))}
            with self.outside_realtime():  # no await inside: the loop's other work stays realtime
                return self._answer_now(command, args)
        except ImportError as error:
            return {"ok": False, "error": str(error)}
        except BadRequest as error:
            return {"ok": False, "error": str(error)}
        except KeyError as error:
            return {"ok": False, "error": f"unknown instance {error.args[0]}"}

    def _answer_now(self, command: str, args: dict) -> dict:
        """The answers made without waiting for anything."""
        if command == "status":
            return {"ok": True, "result": self.handler.status()}
        if command == "stats":
            return {"ok": True, "result": self.handler.stats()}
        if command in ("lb_status", "lb_stats", "drain"):
            return self._lb_answer(command, args)
        if command == "metrics":  # what tandemd's supervisor serves on its metrics endpoint
            from tandem.control.metrics import metrics_text

            return {"ok": True, "result": metrics_text(self.handler, self.lb)}
        return {"ok": False, "error": f"unknown command {command[:100]!r}"}

    def _lb_answer(self, command: str, args: dict) -> dict:
        if self.lb is None:
            return {"ok": False, "error": NO_LB}
        if command == "lb_status":
            return {"ok": True, "result": self.lb.status()}
        if command == "lb_stats":
            return {"ok": True, "result": self.lb.stats()}
        try:
            return {"ok": True, "result": self.lb.drain(*drain_arguments(args))}
        except KeyError as error:  # the Balancer's message names what is unknown
            return {"ok": False, "error": str(error.args[0])}

    async def _watch(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.handler is None:
            await self._send(writer, {"ok": False, "error": NO_VRRP})
            return
        subscription = self.handler.subscribe()
        gone = asyncio.ensure_future(until_gone(reader, subscription.end))
        try:
            await self._send(writer, {"ok": True, "watching": True})
            async for event in subscription:
                await self._send(writer, {"ok": True, "event": event})
        finally:
            gone.cancel()
            subscription.close()


async def until_gone(reader: asyncio.StreamReader, then) -> None:
    """Read (and drop) what a watching client sends until it goes away, then call ``then``: a watch
    that left is let go at once, not at the next event."""
    with contextlib.suppress(ConnectionError):
        while await reader.read(4096):
            pass
    then()
