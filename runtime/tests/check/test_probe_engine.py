"""The probe engine (tandem.check.engine): results only from loop callbacks, cancel, deadlines per
timeout value, the poller's closed-descriptor rule, start_check's task fallback, and LbService
running real TCP_CHECK/HTTP_GET probes against loopback servers."""

from __future__ import annotations

import asyncio
import socket

from check_helpers import closed_port, http_answer, params, serve
from tandem.check import http, tcp
from tandem.check.engine import Deadlines, Poller, cancel_checks, engine, start_check
from tandem.check.registry import RUNNERS
from tandem.check.result import CheckResult
from tandem.config import load_config_text
from tandem.config.model import CheckerUrl, HttpCheck, TcpCheck
from tandem.lb.service import LbService

TCP = TcpCheck(kind="TCP_CHECK")


def http_check(*paths: str, kind: str = "HTTP_GET") -> HttpCheck:
    return HttpCheck(kind=kind, urls=tuple(CheckerUrl(path=p) for p in paths))


def test_done_comes_from_a_later_callback_even_for_an_immediate_failure():
    async def scenario():
        results: list[CheckResult] = []
        probe = tcp.start(params(TCP, None), results.append)  # no port: fails inside start
        during = list(results)
        await asyncio.sleep(0)
        return during, results, probe

    during, results, _ = asyncio.run(scenario())
    assert during == []
    assert len(results) == 1 and not results[0].ok and "no port" in results[0].reason


def test_cancel_closes_the_socket_and_reports_nothing():
    async def silent(reader, writer):
        await asyncio.sleep(5)

    async def scenario():
        results: list[CheckResult] = []
        async with serve(silent) as port:
            probe = http.start(params(http_check("/"), port), results.append)
            await asyncio.sleep(0.05)
            watched_before = len(engine().poller)
            probe.cancel()
            await asyncio.sleep(0.05)
            return results, watched_before, len(engine().poller), probe.sock

    results, before, after, sock = asyncio.run(scenario())
    assert results == [] and before == 1 and after == 0 and sock is None


def test_deadlines_of_different_timeouts_expire_each_at_its_own():
    async def silent(reader, writer):
        await asyncio.sleep(5)

    async def scenario():
        order: list[str] = []
        finished = asyncio.Event()

        def done(name):
            def record(result: CheckResult) -> None:
                order.append(f"{name}: {result.reason}")
                if len(order) == 4:
                    finished.set()

            return record

        async with serve(silent) as silent_port, serve(http_answer(200, b"ok")) as ok_port:
            http.start(params(http_check("/slow"), silent_port, connect_timeout=0.6), done("long"))
            http.start(params(http_check("/fast"), silent_port, connect_timeout=0.2), done("short"))
            http.start(params(http_check("/a", "/b"), ok_port, connect_timeout=0.2), done("ok"))
            tcp.start(params(TCP, closed_port(), connect_timeout=0.2), done("refused"))
            await asyncio.wait_for(finished.wait(), 5)
        return order

    order = asyncio.run(scenario())
    assert sorted(order[:2]) == ["ok: /a: HTTP 200, /b: HTTP 200", "refused: connection refused (connecting)"]
    assert order[2:] == [
        "short: timeout after 0.2 s (/fast: reading the response header)",
        "long: timeout after 0.6 s (/slow: reading the response header)",
    ]


def test_an_event_for_a_descriptor_closed_in_the_same_turn_is_skipped():
    async def scenario():
        poller = Poller(asyncio.get_running_loop())
        first, first_peer = socket.socketpair()
        second, second_peer = socket.socketpair()
        calls: list[str] = []
        reused: list[socket.socket] = []

        def on_first(mask):
            calls.append("first")
            poller.close(first)
            poller.close(second)  # its event of this turn is pending
            new, new_peer = socket.socketpair()  # most likely takes a closed number
            new_peer.send(b"x")
            reused.extend((new, new_peer))
            poller.watch(new.fileno(), 1, lambda mask: calls.append("new"))

        first_peer.send(b"x")
        second_peer.send(b"x")
        poller.watch(first.fileno(), 1, on_first)
        poller.watch(second.fileno(), 1, lambda mask: calls.append("second"))
        poller._ready()
        in_turn = list(calls)
        poller._ready()
        for sock in (first_peer, second_peer, *reused):
            sock.close()
        return in_turn, calls

    in_turn, calls = asyncio.run(scenario())
    assert in_turn == ["first"]  # neither the closed socket nor its successor in the same turn
    assert calls == ["first", "new"]


def test_start_check_runs_other_kinds_as_tasks_and_reports_a_missing_runner():
    class Coroutine:
        async def run(self, check):
            await asyncio.sleep(0)
            return CheckResult(True, "from run", 0.0)

    class Broken:
        async def run(self, check):
            raise RuntimeError("bug")

    async def silent(reader, writer):
        await asyncio.sleep(5)

    async def scenario():
        results: list[CheckResult] = []
        start_check(Coroutine(), params(TCP, 1), results.append)
        start_check(Broken(), params(TCP, 1), results.append)
        start_check(None, params(TCP, 1), results.append)
        async with serve(silent) as port:  # SSL_GET: a task, waiting for the TLS handshake
            hanging = start_check(
                RUNNERS["SSL_GET"], params(http_check("/", kind="SSL_GET"), port), results.append
            )
            await asyncio.sleep(0.1)
            await cancel_checks([hanging])
        return results, hanging.task

    results, task = asyncio.run(scenario())
    assert {r.reason for r in results} == {
        "from run",
        "internal error: RuntimeError: bug",
        "no checker for TCP_CHECK",
    }
    assert len(results) == 3 and task.cancelled()


def test_lb_service_runs_real_probes(tmp_path):
    """LbService with the real runners: a listening server stays up, a refused one goes down, an
    HTTP_GET one passes; stop cancels the probes in flight."""

    async def scenario():
        async with serve(http_answer(200, b"ok")) as port:
            refused = closed_port()
            text = f"""
virtual_server 127.0.0.1 80 {{
  delay_loop 0.2
  connect_timeout 1
  lb_algo rr
  lb_kind NAT
  real_server 127.0.0.1 {port} {{
    TCP_CHECK {{ }}
  }}
  real_server 127.0.0.1 {refused} {{
    TCP_CHECK {{ }}
  }}
  real_server 127.0.0.2 {port} {{
    HTTP_GET {{
      url {{
        path /
      }}
      connect_ip 127.0.0.1
    }}
  }}
}}
"""
            path = tmp_path / "tandemd.conf"
            path.write_text(text)
            config = load_config_text(text, str(path)).config

            class Plane:
                name = "fake"

                def apply(self, services):
                    pass

                def set_timeouts(self, timeouts):
                    pass

                def counters(self):
                    return {}

                def close(self):
                    pass

            service = LbService(str(path), config, plane=Plane(), watch_addresses=False, rand=lambda: 0.0)
            await service.start()
            try:
                async with asyncio.timeout(10):
                    while service.checks_run < 9:
                        await asyncio.sleep(0.05)
                (vs,) = service.status().virtual_servers
                states = {rs.id: (rs.state, rs.checks[0].reason) for rs in vs.real_servers}
            finally:
                await service.stop()
            return states, port, refused, len(engine().poller)

    states, port, refused, watched = asyncio.run(scenario())
    assert states[f"[127.0.0.1]:{port}"] == ("UP", "connected")
    assert states[f"[127.0.0.1]:{refused}"] == ("DOWN", "connection refused (connecting)")
    assert states[f"[127.0.0.2]:{port}"] == ("UP", "/: HTTP 200")
    assert watched == 0


class FakeTimer:
    def __init__(self, when, callback):
        self.when, self.callback, self.cancelled = when, callback, False

    def cancel(self):
        self.cancelled = True


class FakeLoop:
    """Time and timers for Deadlines, by hand."""

    def __init__(self):
        self.now, self.timers = 0.0, []

    def time(self):
        return self.now

    def call_at(self, when, callback):
        self.timers.append(timer := FakeTimer(when, callback))
        return timer

    def run_until(self, until):
        """Run the live timers due by ``until`` in time order; how many ran."""
        ran = 0
        while due := [t for t in self.timers if not t.cancelled and t.when <= until]:
            timer = min(due, key=lambda t: t.when)
            self.timers.remove(timer)
            self.now = timer.when
            timer.callback()
            ran += 1
        self.now = until
        return ran


class FakeProbe:
    def __init__(self):
        self.deadline = None
        self.expired = 0

    def expire(self):
        self.expired += 1
        self.deadline = None


def test_deadlines_wake_for_running_probes_only():
    """1,000 probes that finish long before their deadline cost one timer wake, not one each."""
    loop = FakeLoop()
    deadlines = Deadlines(loop)
    probes = [FakeProbe() for _ in range(1000)]
    for i, probe in enumerate(probes):
        loop.now = i / 1000
        probe.deadline = deadlines.add(probe, 2.0)
    still_running = probes[500]
    for probe in probes:
        if probe is not still_running:
            probe.deadline = None  # finished
    assert loop.run_until(10.0) == 2  # the first deadline (stale by then), then the running one's
    assert still_running.expired == 1 and sum(p.expired for p in probes) == 1


def test_an_answer_already_there_is_taken_before_the_probe_is_expired():
    """Deadlines runs what the poller has ready before it expires a probe: a probe that finishes
    there is not expired (its answer came; the loop was only busy)."""
    loop = FakeLoop()
    answered, silent = FakeProbe(), FakeProbe()
    caught_up = []

    def catch_up():
        caught_up.append(loop.now)
        answered.deadline = None  # its socket was ready: it finished

    deadlines = Deadlines(loop, catch_up)
    answered.deadline = deadlines.add(answered, 1.0)
    silent.deadline = deadlines.add(silent, 1.0)
    loop.run_until(5.0)
    assert caught_up == [1.0]
    assert (answered.expired, silent.expired) == (0, 1)
