"""A Python process inside a lab host that runs calls for a test or a benchmark.

What must run in a namespace (libnftables talks to the namespace of its process; a client's sockets)
runs there: ``worker.call("module:function", ...)`` imports and calls a function in the host;
``worker.new("module:Class", ...)`` makes an object that stays there and returns a proxy whose method
calls run remotely. Requests and replies are pickled over the child's stdin/stdout; an exception is
raised again in the caller. Both ends are this checkout's own code, so pickle is fine here.
"""

from __future__ import annotations

import importlib
import pickle
import struct
import subprocess
import sys
from typing import Any, BinaryIO

_LENGTH = struct.Struct("!I")


def _send(stream: BinaryIO, value: Any) -> None:
    data = pickle.dumps(value)
    stream.write(_LENGTH.pack(len(data)) + data)
    stream.flush()


def _receive(stream: BinaryIO) -> Any:
    header = stream.read(_LENGTH.size)
    if len(header) < _LENGTH.size:
        raise EOFError("the worker closed its pipe")
    (length,) = _LENGTH.unpack(header)
    return pickle.loads(stream.read(length))


def _resolve(target: str) -> Any:
    module, _, name = target.partition(":")
    value: Any = importlib.import_module(module)
    for part in name.split("."):
        value = getattr(value, part)
    return value


class Remote:
    """An object living in the worker; attribute calls are forwarded."""

    def __init__(self, worker: Worker, ref: int):
        self._worker, self._ref = worker, ref

    def __getattr__(self, method: str):
        return lambda *args, **kwargs: self._worker._request(("method", self._ref, method, args, kwargs))


class Worker:
    """``python -m tandemlab.worker`` in a lab host (stopped with the lab, or by :meth:`close`)."""

    def __init__(self, host):
        argv = [sys.executable, "-m", "tandemlab.worker"]
        self.process = host.spawn(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def _request(self, request: tuple) -> Any:
        _send(self.process.popen.stdin, request)
        ok, value = _receive(self.process.popen.stdout)
        if not ok:
            raise value
        return value

    def call(self, target: str, *args: Any, **kwargs: Any) -> Any:
        return self._request(("call", target, args, kwargs))

    def new(self, target: str, *args: Any, **kwargs: Any) -> Remote:
        return Remote(self, self._request(("new", target, args, kwargs)))

    def close(self) -> None:
        self.process.popen.stdin.close()
        self.process.stop(timeout=5)


def _serve(requests: BinaryIO, replies: BinaryIO) -> None:
    objects: dict[int, Any] = {}
    while True:
        try:
            request = _receive(requests)
        except EOFError:
            return
        try:
            if request[0] == "method":
                _, ref, method, args, kwargs = request
                reply = (True, getattr(objects[ref], method)(*args, **kwargs))
            else:
                kind, target, args, kwargs = request
                value = _resolve(target)(*args, **kwargs)
                if kind == "new":
                    objects[id(value)] = value
                    value = id(value)
                reply = (True, value)
        except Exception as e:  # handed back to the caller, which raises it
            reply = (False, e)
        try:
            _send(replies, reply)
        except (pickle.PicklingError, TypeError, AttributeError):
            _send(replies, (False, RuntimeError(repr(reply[1]))))


if __name__ == "__main__":
    replies, sys.stdout = sys.stdout.buffer, sys.stderr  # a stray print must not corrupt the replies
    _serve(sys.stdin.buffer, replies)
