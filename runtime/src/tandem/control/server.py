"""ControlServer: the daemon's unix socket (mode 0600 in a 0700 directory), one JSON request per line."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os

from tandem.control.protocol import Handler

log = logging.getLogger(__name__)
MAX_REQUEST = 64 * 1024


def encode(obj) -> bytes:
    return json.dumps(obj, default=_plain).encode() + b"\n"


def _plain(value):
    if dataclasses.is_dataclass(value):
        return dataclasses.asdict(value)
    raise TypeError(f"not JSON: {value!r}")


class ControlServer:
    def __init__(self, path: str, handler: Handler) -> None:
        self.path = path
        self.handler = handler
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        directory = os.path.dirname(self.path) or "."
        os.makedirs(directory, mode=0o700, exist_ok=True)
        os.chmod(directory, 0o700)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)  # a stale socket of a previous run
        old_umask = os.umask(0o177)  # the socket is created 0600: no window where others can connect
        try:
            self._server = await asyncio.start_unix_server(self._serve, self.path, limit=MAX_REQUEST)
        finally:
            os.umask(old_umask)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                try:
                    request = json.loads(line)
                    command = request.pop("cmd")
                except (ValueError, KeyError, AttributeError, TypeError):
                    writer.write(encode({"ok": False, "error": "expected a JSON object with a 'cmd'"}))
                    continue
                if command == "watch":
                    await self._watch(writer)
                    return
                writer.write(encode(await self._answer(command, request)))
                await writer.drain()
        except (ConnectionError, ValueError) as error:  # ValueError: a line over MAX_REQUEST
            log.debug("control client dropped: %s", error)
        finally:
            writer.close()

    async def _answer(self, command: str, args: dict) -> dict:
        handler = self.handler
        try:
            if command == "status":
                return {"ok": True, "result": handler.status()}
            if command == "stats":
                return {"ok": True, "result": handler.stats()}
            if command == "reload":
                return {"ok": True, "result": await handler.reload()}
            if command == "maintenance":
                affected = await handler.maintenance(
                    args.get("instance"), int(args.get("lower_by", 0)), bool(args.get("force_backup", False))
                )
                return {"ok": True, "result": affected}
        except KeyError as error:
            return {"ok": False, "error": f"unknown instance {error.args[0]}"}
        except (TypeError, ValueError) as error:
            return {"ok": False, "error": f"bad arguments: {error}"}
        return {"ok": False, "error": f"unknown command {command!r}"}

    async def _watch(self, writer: asyncio.StreamWriter) -> None:
        subscription = self.handler.subscribe()
        try:
            writer.write(encode({"ok": True, "watching": True}))
            await writer.drain()
            async for event in subscription:
                writer.write(encode({"ok": True, "event": event}))
                await writer.drain()
        finally:
            subscription.close()
