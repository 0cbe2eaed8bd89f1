"""Checks without a task each: TCP_CHECK and HTTP_GET stepped by callbacks on one epoll of their own.

Why
---
At thousands of checks a second, asyncio's machinery around a check cost more CPU than the check's
own system calls: a Task, a Future and a loop Handle for every socket wait, an epoll_ctl to register
and another to unregister each wait, a TimerHandle and a Timeout per check (measured at 5,000 real
servers: ~170 µs of user CPU per TCP_CHECK, where HAProxy spends ~16 µs). Here a check is one
:class:`Probe` object: a non-blocking socket watched by the checker's :class:`Poller` (an epoll of its
own, itself one reader of the event loop), stepped by callbacks, its deadline in a :class:`Deadlines`
FIFO, its result handed to ``done(result)``.

Rules (those of :func:`tandem.check.result.bounded`, which the other kinds run under):

- ``done(result)`` is called exactly once, from an event-loop callback: never inside the call that
  started the probe (a failure found there is reported on the next loop iteration), never after
  :meth:`Probe.cancel`;
- the whole probe (HTTP: each url) has ``connect_timeout`` seconds; past it the result is ``timeout
  after N s (stage)``, the stage being what the probe was doing (``/: reading the response header``);
- a socket error is ``<error> (stage)`` (:func:`~tandem.check.result.describe`), a server that answers
  wrongly gives the :class:`~tandem.check.result.CheckFailed` reason, a bug an ``internal error``
  result (logged): nothing raises into the event loop;
- latency is measured from the start of the probe (HTTP: summed over the urls).

:func:`start_check` is how the load balancer starts any check: a runner with ``start(check, done)``
(:mod:`tandem.check.tcp`, :mod:`tandem.check.http`) runs here, every other one (and SSL_GET) as a
task running its ``run(check)`` coroutine; :func:`run_probe` gives a probe the coroutine interface.
"""

from __future__ import annotations

import asyncio
import collections
import errno
import logging
import os
import select
import socket
import weakref
from collections.abc import Callable

from tandem.check.net import make_socket, target
from tandem.check.result import CheckFailed, CheckResult, describe
from tandem.lb.params import CheckParams

log = logging.getLogger(__name__)

Done = Callable[[CheckResult], None]
READY_EVENTS = select.EPOLLIN | select.EPOLLERR | select.EPOLLHUP
FAILED_EVENTS = select.EPOLLERR | select.EPOLLHUP  # epoll reports these whether asked or not
MAX_EVENTS = 128  # events taken from the epoll per turn of the event loop (the rest: next turn): a
# turn stays short (a few ms), so the checks' timers due meanwhile start nearly on time
CATCH_UP_TURNS = 4  # Poller.catch_up: at most this many batches


class Poller:
    """An epoll of the checker's own sockets, read when the event loop sees it ready.

    A socket is closed through :meth:`close`: the kernel drops a closed descriptor from the epoll
    itself (no epoll_ctl), and an event of this turn for a number closed (and perhaps reused) during
    the turn is skipped: level-triggered, the new socket's own events come again next turn."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._epoll = select.epoll()
        self._callbacks: dict[int, Callable[[int], None]] = {}
        self._closed: set[int] = set()
        loop.add_reader(self._epoll.fileno(), self._ready)

    def watch(self, fd: int, events: int, callback: Callable[[int], None]) -> None:
        """Call ``callback(mask)`` while ``fd`` has any of ``events`` (replacing what it watched)."""
        if fd in self._callbacks:
            self._epoll.modify(fd, events)
        else:
            self._epoll.register(fd, events)
        self._callbacks[fd] = callback

    def close(self, sock: socket.socket) -> None:
        fd = sock.fileno()
        if fd >= 0 and self._callbacks.pop(fd, None) is not None:
            self._closed.add(fd)
        sock.close()

    def _ready(self) -> int:
        """Run the callbacks of up to MAX_EVENTS ready descriptors; how many events there were."""
        callbacks, closed = self._callbacks, self._closed
        closed.clear()
        events = self._epoll.poll(0, MAX_EVENTS)
        for fd, mask in events:
            if fd in closed:
                continue
            callback = callbacks.get(fd)
            if callback is None:
                continue
            try:
                callback(mask)
            except Exception as error:  # a bug in one probe must not stop the others
                self.loop.call_exception_handler({"message": "checker probe failed", "exception": error})
        return len(events)

    def catch_up(self) -> None:
        """Run what is ready now (a few turns' worth at most): before probes are expired, so that an
        answer already received is taken, not reported as a timeout because the loop was busy."""
        for _ in range(CATCH_UP_TURNS):
            if self._ready() < MAX_EVENTS:
                return

    def __len__(self) -> int:
        return len(self._callbacks)


class Deadlines:
    """Probes' deadlines: a FIFO per timeout value (probes start in time order, so each FIFO is in
    deadline order) and one event-loop timer for the earliest still running; a probe's entry that is
    no longer its deadline (it finished, or went on to its next url) is dropped when the timer is set.
    What is ready on the poller runs first (``catch_up``): a probe is expired only when no answer
    for it has arrived."""

    def __init__(self, loop: asyncio.AbstractEventLoop, catch_up: Callable[[], None] = lambda: None) -> None:
        self.loop = loop
        self._catch_up = catch_up  # run before probes are expired (Poller.catch_up)
        self._fifos: dict[float, collections.deque[tuple[float, Probe]]] = {}
        self._handle: asyncio.TimerHandle | None = None
        self._handle_at: float | None = None

    def add(self, probe: Probe, timeout: float) -> float:
        """Expire ``probe`` ``timeout`` seconds from now unless its deadline has changed by then."""
        at = self.loop.time() + timeout
        fifo = self._fifos.get(timeout)
        if fifo is None:
            fifo = self._fifos[timeout] = collections.deque()
        fifo.append((at, probe))
        if self._handle_at is None or at < self._handle_at:
            self._schedule(at)
        return at

    def _schedule(self, at: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._handle_at = at
        self._handle = self.loop.call_at(at, self._expire)

    def _expire(self) -> None:
        self._handle = self._handle_at = None
        now = self.loop.time()
        fifos = list(self._fifos.values())
        if any((at := _live_head(fifo)) is not None and at <= now for fifo in fifos):
            self._catch_up()  # may finish some of them
        for fifo in fifos:
            while (at := _live_head(fifo)) is not None and at <= now:
                probe = fifo.popleft()[1]
                try:
                    probe.expire()
                except Exception as error:
                    self.loop.call_exception_handler({"message": "checker probe failed", "exception": error})
        earliest = None  # of every FIFO now: an expired probe's done() may have started others
        for timeout, fifo in list(self._fifos.items()):
            at = _live_head(fifo)
            if at is None:
                del self._fifos[timeout]
            elif earliest is None or at < earliest:
                earliest = at
        if earliest is not None:
            self._schedule(earliest)


def _live_head(fifo: collections.deque[tuple[float, Probe]]) -> float | None:
    """The deadline of the FIFO's first entry still a probe's deadline; the entries before it (of
    probes that finished or went on to their next url) are dropped. So the timer is set for a probe
    still running, not for each one that finished long ago (one wake per probe, otherwise)."""
    while fifo:
        at, probe = fifo[0]
        if probe.deadline == at:
            return at
        fifo.popleft()
    return None


class Engine:
    """The probes of one event loop: their poller, deadlines and a receive buffer they share."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.poller = Poller(loop)
        self.deadlines = Deadlines(loop, self.poller.catch_up)
        self.buffer = bytearray(64 * 1024)
        self.view = memoryview(self.buffer)


_engines: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Engine] = weakref.WeakKeyDictionary()


def _none() -> None:
    return None


_last: Callable[[], Engine | None] = _none  # a weak reference to the engine engine() last gave


def engine() -> Engine:
    """The running event loop's engine (made on first use)."""
    global _last
    loop = asyncio.get_running_loop()
    found = _last()
    if found is not None and found.loop is loop:
        return found
    found = _engines.get(loop)
    if found is None:
        found = _engines[loop] = Engine(loop)
    _last = weakref.ref(found)
    return found


class Probe:
    """One check on one socket at a time, stepped by the poller; a kind subclasses the steps."""

    __slots__ = ("began", "check", "deadline", "done", "engine", "loop", "sock", "stage", "starting")

    def __init__(self, check: CheckParams, done: Done) -> None:
        self.check, self.done = check, done
        self.engine = engine()
        self.loop = self.engine.loop
        self.sock: socket.socket | None = None
        self.stage = "connecting"
        self.deadline: float | None = None
        self.began = 0.0
        self.starting = True

    # --- what a kind provides ---------------------------------------------------------------------

    def connected(self) -> None:
        """The connection is up (a kind sends its request, or finishes)."""
        raise NotImplementedError

    def finished(self, ok: bool, reason: str) -> None:
        """This socket's part is over with ``ok``/``reason`` (a kind may go on, e.g. to its next url)."""
        self.report(CheckResult(ok, reason, self.loop.time() - self.began))

    # --- steps ------------------------------------------------------------------------------------

    def connect(self, stage: str, port: int | None = None) -> None:
        """Open the socket to the check's target, within connect_timeout from now."""
        self.began = self.loop.time()
        self.deadline = self.engine.deadlines.add(self, self.check.connect_timeout)
        self.stage = stage
        try:
            self.sock = make_socket(self.check, socket.SOCK_STREAM)
            code = self.sock.connect_ex(target(self.check, port))
        except OSError as error:
            self.error(error)
            return
        if code == 0:
            self.connected()
        elif code == errno.EINPROGRESS:
            self.engine.poller.watch(self.sock.fileno(), select.EPOLLOUT, self._writable)
        else:
            self.error(OSError(code, os.strerror(code)))

    def _writable(self, mask: int) -> None:
        if mask & FAILED_EVENTS:  # the kernel flags a failed connect so; SO_ERROR says why
            code = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code:
                self.error(OSError(code, os.strerror(code)))
                return
        self.connected()

    def error(self, error: BaseException) -> None:
        if isinstance(error, CheckFailed):
            self.fail(str(error))
        elif isinstance(error, (OSError, EOFError)):
            self.fail(f"{describe(error)} ({self.stage})")
        else:
            log.error("checker failed unexpectedly", exc_info=error)
            self.fail(f"internal error: {type(error).__name__}: {error}")

    def fail(self, reason: str) -> None:
        self.close()
        self.finished(False, reason)

    def expire(self) -> None:
        self.fail(f"timeout after {self.check.connect_timeout:g} s ({self.stage})")

    def close(self) -> None:
        """Close this socket (its deadline entry is forgotten when it comes up)."""
        self.deadline = None
        if self.sock is not None:
            self.engine.poller.close(self.sock)
            self.sock = None

    def report(self, result: CheckResult) -> None:
        """Hand ``result`` over (on the next loop iteration while the probe is still being started)."""
        self.close()
        done, self.done = self.done, None
        if done is None:
            return
        if self.starting:
            self.loop.call_soon(done, result)
        else:
            done(result)

    def cancel(self) -> None:
        """Stop: the socket is closed, ``done`` is never called."""
        self.done = None
        self.close()

    def started(self) -> Probe:
        self.starting = False
        return self


# --- starting any check -----------------------------------------------------------------------------


class TaskCheck:
    """A runner without ``start``: its ``run(check)`` coroutine as a task."""

    __slots__ = ("task",)

    def __init__(self, runner, check: CheckParams, done: Done) -> None:
        self.task = asyncio.get_running_loop().create_task(runner.run(check))

        def finished(task: asyncio.Task) -> None:
            if task.cancelled():
                return
            error = task.exception()
            if error is not None:  # runners never raise: a bug, reported as a failed check
                log.error("checker failed unexpectedly", exc_info=error)
                done(CheckResult(False, f"internal error: {type(error).__name__}: {error}", 0.0))
            else:
                done(task.result())

        self.task.add_done_callback(finished)

    def cancel(self) -> None:
        self.task.cancel()


def start_check(runner, check: CheckParams, done: Done):
    """Start ``check`` with ``runner`` (None: no runner for its kind); ``done(result)`` follows on a
    later loop iteration. Returns what to ``cancel()`` it with."""
    if runner is None:
        loop = asyncio.get_running_loop()
        return loop.call_soon(done, CheckResult(False, f"no checker for {check.kind}", 0.0))
    start = getattr(runner, "start", None)
    probe = start(check, done) if start is not None else None
    return probe if probe is not None else TaskCheck(runner, check, done)


async def cancel_checks(running: list) -> None:
    """Cancel what :func:`start_check` returned; the tasks among them have ended on return."""
    for check in running:
        check.cancel()
    await asyncio.gather(*(c.task for c in running if isinstance(c, TaskCheck)), return_exceptions=True)


async def run_probe(start: Callable[[CheckParams, Done], Probe], check: CheckParams) -> CheckResult:
    """A probe as a coroutine (a runner's ``run``): its result; cancelled, the probe is cancelled."""
    future = asyncio.get_running_loop().create_future()
    probe = start(check, future.set_result)
    try:
        return await future
    except asyncio.CancelledError:
        probe.cancel()
        raise
