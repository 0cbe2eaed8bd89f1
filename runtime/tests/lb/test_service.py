"""LbService on a fake clock: checks scheduled on the timer queue, results into the Balancer, the plane
changed once per change, scripts, reload, drain, ha_suspend, bounded concurrency, status and stats.

The check runners and the plane are fakes here (the driver's logic); the lab tests
(test_lb_acceptance.py) run the real ones against real servers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from ipaddress import ip_address
from pathlib import Path

import pytest
from tandem.check.result import CheckResult
from tandem.config import ConfigSource, load_config_text
from tandem.control.server import encode
from tandem.lb.plane import PlaneError
from tandem.lb.service import LbService

OK = CheckResult(True, "ok", 0.002)
FAIL = CheckResult(False, "connection refused (connecting)", 0.001)
HANG = "hang"


class Handle:
    def __init__(self, when, callback):
        self.when, self.callback, self.cancelled = when, callback, False

    def cancel(self):
        self.cancelled = True


class Clock:
    """Fake time for the timer queue; :meth:`advance` runs what falls due and lets the tasks run."""

    def __init__(self):
        self.now = 100.0
        self.handles: list[Handle] = []

    def time(self) -> float:
        return self.now

    def call_at(self, when, callback) -> Handle:
        handle = Handle(when, callback)
        self.handles.append(handle)
        return handle

    async def advance(self, seconds: float) -> None:
        until = self.now + seconds
        while True:
            await settle()
            due = [h for h in self.handles if not h.cancelled and h.when <= until]
            if not due:
                break
            handle = min(due, key=lambda h: h.when)
            self.handles.remove(handle)
            self.now = max(self.now, handle.when)
            handle.callback()
        self.now = until
        await settle()


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


class Runners(dict):
    """Every kind's runner: the result for the check's address (OK unless set), a weight, or a hang."""

    def __init__(self):
        super().__init__()
        self.results: dict[str, object] = {}
        self.started: list[tuple[float, str]] = []
        self.clock: Clock | None = None

    def get(self, kind, default=None):
        return self

    async def run(self, check):
        address = str(check.address)
        self.started.append((self.clock.now, address))
        result = self.results.get(address, OK)
        if result == HANG:
            await asyncio.Event().wait()  # until cancelled (a real runner times out)
        return result


class Plane:
    name = "fake"

    def __init__(self):
        self.applied: list[tuple] = []
        self.timeouts: list = []
        self.closed = False
        self.refuse = False

    def set_timeouts(self, timeouts):
        self.timeouts.append(timeouts)

    def apply(self, services):
        if self.refuse:
            raise PlaneError("refused for the test")
        self.applied.append(services)

    def counters(self):
        if not self.applied:
            return {}
        from tandem.lb.plane import DestinationCounters

        return {
            (s.key, d.address, d.port): DestinationCounters(packets=10, bytes=1000, connections=2)
            for s in self.applied[-1]
            for d in s.destinations
        }

    def close(self):
        self.closed = True

    def weights(self, index: int = -1) -> dict[str, int]:
        """The last applied state's single service: real server address → weight."""
        (service,) = self.applied[index]
        return {str(d.address): d.weight for d in service.destinations}


def config_text(body: str = "", servers: int = 3, extra_rs: str = "", checker: str = "TCP_CHECK { }") -> str:
    rs = "\n".join(
        f"  real_server 198.51.100.{i} 80 {{\n   weight 1\n{extra_rs}\n   {checker}\n  }}"
        for i in range(1, servers + 1)
    )
    return f"""
virtual_server 203.0.113.100 80 {{
  delay_loop 2
  retry 1
  delay_before_retry 1
  connect_timeout 1
  lb_algo rr
{body}
{rs}
}}
"""


def scenario(test):
    """Run ``async def test(lb, tmp_path)`` in a fresh event loop; ``lb(text, **kwargs)`` starts an
    LbService on a fake clock with fake runners and plane (stopped at the end)."""

    def run(tmp_path: Path) -> None:
        async def body() -> None:
            made: list[LbService] = []

            async def make(text: str, **kwargs) -> LbService:
                path = tmp_path / "tandemd.conf"
                path.write_text(text)
                result = load_config_text(text, str(path))
                assert result.config is not None, [str(f) for f in result.errors]
                clock, runners, plane = Clock(), Runners(), Plane()
                runners.clock = clock
                service = LbService(
                    ConfigSource(str(path)),
                    result.config,
                    plane=plane,
                    runners=runners,
                    now=clock.time,
                    call_at=clock.call_at,
                    watch_addresses=False,
                    rand=lambda: 0.0,  # every first check right at start
                    **kwargs,
                )
                service.clock, service.runners, service.fake_plane = clock, runners, plane
                service.file = path
                await service.start()
                made.append(service)
                return service

            try:
                await test(make, tmp_path)
            finally:
                for service in made:
                    await service.stop()

        asyncio.run(body())

    run.__name__ = test.__name__
    run.__doc__ = test.__doc__
    return run


def rs_status(service: LbService, address: str):
    (vs,) = service.status().virtual_servers
    return next(rs for rs in vs.real_servers if rs.id == f"[{address}]:80")


@scenario
async def test_a_failed_server_leaves_the_plane_and_comes_back(lb, tmp_path):
    service = await lb(config_text())
    plane, clock = service.fake_plane, service.clock
    # the table is made before any check runs: every real server starts up (no alpha)
    assert plane.weights(0) == {"198.51.100.1": 1, "198.51.100.2": 1, "198.51.100.3": 1}
    await clock.advance(0)
    assert len(service.runners.started) == 3
    killed = clock.now
    service.runners.results["198.51.100.2"] = FAIL
    await clock.advance(2)  # the next check fails: retry 1, after delay_before_retry
    assert "198.51.100.2" in plane.weights()
    await clock.advance(1)
    assert "198.51.100.2" not in plane.weights()
    status = rs_status(service, "198.51.100.2")
    assert status.state == "DOWN" and status.plane_weight is None
    assert status.checks[0].reason == FAIL.reason and status.checks[0].latency == FAIL.latency
    assert clock.now - killed <= 2 * (1 + 1) + 1  # delay_loop × (retry + 1) + connect_timeout
    changes = len(plane.applied)
    await clock.advance(10)
    assert len(plane.applied) == changes  # nothing changed, nothing applied
    service.runners.results.pop("198.51.100.2")
    await clock.advance(2)
    assert plane.weights() == {"198.51.100.1": 1, "198.51.100.2": 1, "198.51.100.3": 1}
    assert rs_status(service, "198.51.100.2").state == "UP"


@scenario
async def test_before_its_first_success_one_failure_is_enough(lb, tmp_path):
    service = await lb(config_text())
    service.runners.results["198.51.100.1"] = FAIL
    await service.clock.advance(0)  # keepalived: the retries start used up
    assert "198.51.100.1" not in service.fake_plane.weights()


@scenario
async def test_changes_together_are_one_transaction(lb, tmp_path):
    service = await lb(config_text())
    for i in (1, 2, 3):
        service.runners.results[f"198.51.100.{i}"] = FAIL
    before = len(service.fake_plane.applied)
    await service.clock.advance(0)  # all three fail in the same loop iteration
    assert len(service.fake_plane.applied) == before + 1
    assert service.fake_plane.weights() == {}


@scenario
async def test_all_down_the_sorry_server_and_quorum_down_script(lb, tmp_path):
    marker = tmp_path / "quorum_down"
    body = f"""
  sorry_server 198.51.100.99 8080
  quorum 2
  quorum_down "/usr/bin/touch {marker}"
  quorum_up "/usr/bin/rm -f {marker}"
"""
    service = await lb(config_text(body))
    plane = service.fake_plane
    await service.clock.advance(0)
    service.runners.results.update({"198.51.100.1": FAIL, "198.51.100.2": FAIL})
    await service.clock.advance(3)  # failure, retry failure: live weight 1 < quorum 2
    assert plane.weights() == {"198.51.100.99": 1}
    (vs,) = service.status().virtual_servers
    assert vs.quorum == "DOWN" and vs.sorry_server == "[198.51.100.99]:8080"
    await asyncio.wait_for(service.scripts.drain(), 10)
    assert marker.exists()
    service.runners.results.clear()
    await service.clock.advance(2)
    assert set(plane.weights()) == {"198.51.100.1", "198.51.100.2", "198.51.100.3"}
    await asyncio.wait_for(service.scripts.drain(), 10)
    assert not marker.exists()


@scenario
async def test_notify_scripts_and_smtp_alerts(lb, tmp_path):
    down = tmp_path / "down"
    extra = f'   notify_down "/usr/bin/touch {down}"'
    text = "global_defs {\n smtp_server 127.0.0.1\n notification_email { ops@example.com }\n}\n"
    service = await lb(text + config_text(extra_rs=extra, servers=1))
    sent = []
    service.mailer.alert = lambda kind, name, state: sent.append((kind, name, state))
    service.runners.results["198.51.100.1"] = FAIL
    await service.clock.advance(0)
    await asyncio.wait_for(service.scripts.drain(), 10)
    assert down.exists()
    assert ("REALSERVER", "[198.51.100.1]:80 of [203.0.113.100]:80", "DOWN") in sent


@scenario
async def test_dynamic_weights_change_the_split(lb, tmp_path):
    service = await lb(config_text(checker="MISC_CHECK {\n misc_path /bin/true\n misc_dynamic\n}"))
    await service.clock.advance(0)
    service.runners.results["198.51.100.1"] = CheckResult(True, "exit 5", 0.01, weight=5)
    await service.clock.advance(2)
    assert service.fake_plane.weights() == {"198.51.100.1": 5, "198.51.100.2": 1, "198.51.100.3": 1}
    status = rs_status(service, "198.51.100.1")
    assert (status.weight, status.configured_weight, status.plane_weight) == (5, 1, 5)


@scenario
async def test_a_black_holed_server_delays_no_other_check(lb, tmp_path):
    service = await lb(config_text())
    service.runners.results["198.51.100.1"] = HANG
    await service.clock.advance(0)
    await service.clock.advance(2 * 5)
    others = [t for t, address in service.runners.started if address != "198.51.100.1"]
    assert others == [100.0 + 2 * i for i in range(6) for _ in (0, 1)]  # on time, every delay_loop
    assert service.stats().checks_running == 1
    assert service.stats().lateness_p99 == 0.0


@scenario
async def test_the_concurrency_bound_queues_due_checks(lb, tmp_path):
    service = await lb(config_text(), max_running=1)
    service.runners.results["198.51.100.1"] = HANG
    await service.clock.advance(0)
    stats = service.stats()
    assert (stats.checks_running, stats.checks_waiting) == (1, 2)  # the bound holds them back


@scenario
async def test_drain_remove_restore(lb, tmp_path):
    service = await lb(config_text())
    await service.clock.advance(0)
    status = service.drain("[203.0.113.100]:80", "[198.51.100.3]:80", "drain")
    assert status.maintenance == "drain" and status.plane_weight == 0
    assert service.fake_plane.weights()["198.51.100.3"] == 0
    service.drain("[203.0.113.100]:80", "[198.51.100.3]:80", "remove")
    assert "198.51.100.3" not in service.fake_plane.weights()
    service.drain("[203.0.113.100]:80", "[198.51.100.3]:80", "restore")
    assert service.fake_plane.weights()["198.51.100.3"] == 1
    with pytest.raises(KeyError):
        service.drain("[203.0.113.100]:80", "[198.51.100.9]:80", "drain")
    with pytest.raises(ValueError):
        service.drain("[203.0.113.100]:80", "[198.51.100.3]:80", "sideways")


@scenario
async def test_reload_keeps_unchanged_state_and_refuses_a_bad_config(lb, tmp_path):
    service = await lb(config_text())
    await service.clock.advance(0)
    service.runners.results["198.51.100.2"] = FAIL
    await service.clock.advance(3)
    assert rs_status(service, "198.51.100.2").state == "DOWN"
    runs = rs_status(service, "198.51.100.1").checks[0].runs

    service.file.write_text(config_text() + "virtual_server 203.0.113.100 {\n")  # broken
    outcome = await service.reload()
    assert not outcome.ok and outcome.errors
    assert rs_status(service, "198.51.100.2").state == "DOWN"

    # rs3 gets another checker (a new check id: starts afresh), rs1/rs2 unchanged, rs4 added
    text = config_text(servers=4).replace(
        "real_server 198.51.100.3 80 {\n   weight 1\n\n   TCP_CHECK { }",
        "real_server 198.51.100.3 80 {\n   weight 1\n\n   TCP_CHECK { connect_port 81 }",
    )
    service.file.write_text(text)
    applied = len(service.fake_plane.applied)
    outcome = await service.reload()
    assert outcome.ok, outcome.errors
    await settle()
    assert rs_status(service, "198.51.100.2").state == "DOWN"  # kept, not re-checked from scratch
    assert rs_status(service, "198.51.100.1").checks[0].runs == runs
    assert rs_status(service, "198.51.100.3").checks[0].runs == 0
    assert len(service.fake_plane.applied) == applied + 1
    assert set(service.fake_plane.weights()) == {"198.51.100.1", "198.51.100.3", "198.51.100.4"}
    await service.clock.advance(0)  # the new checks run within warmup (0 here)
    assert rs_status(service, "198.51.100.4").checks[0].runs == 1


@scenario
async def test_ha_suspend_pauses_checks_while_the_vip_is_not_local(lb, tmp_path):
    service = await lb(config_text("  ha_suspend"))
    await service.clock.advance(4)
    assert service.runners.started == []  # not reported local yet: paused
    service.vip_local(ip_address("203.0.113.100"), True)
    await service.clock.advance(0)
    assert len(service.runners.started) == 3
    service.vip_local(ip_address("203.0.113.100"), False)
    await service.clock.advance(10)
    assert len(service.runners.started) == 3
    assert service.status().virtual_servers[0].suspended


@scenario
async def test_a_refused_change_is_retried(lb, tmp_path):
    service = await lb(config_text())
    service.fake_plane.refuse = True
    service.runners.results["198.51.100.1"] = FAIL
    await service.clock.advance(0)
    assert service.stats().plane_errors == 1
    service.fake_plane.refuse = False
    await asyncio.sleep(1.2)  # PLANE_RETRY, on the event loop's own clock
    assert "198.51.100.1" not in service.fake_plane.weights()


@scenario
async def test_status_and_stats_are_json(lb, tmp_path):
    service = await lb(config_text())
    await service.clock.advance(0)
    status = json.loads(encode(service.status()))
    assert status["plane"] == "fake"
    (vs,) = status["virtual_servers"]
    assert vs["name"] == "[203.0.113.100]:80" and vs["services"] == ["TCP [203.0.113.100]:80"]
    assert [rs["state"] for rs in vs["real_servers"]] == ["UP"] * 3
    assert vs["real_servers"][0]["checks"][0]["kind"] == "TCP_CHECK"
    stats = json.loads(encode(service.stats()))
    assert stats["checks_run"] == 3 and stats["plane_changes"] == 1
    assert stats["real_servers"][0]["connections"] == 2 and stats["real_servers"][0]["bytes"] == 1000


@scenario
async def test_stop_closes_the_plane_and_runs_omega(lb, tmp_path):
    marker = tmp_path / "omega"
    service = await lb(config_text(f'  omega\n  quorum_down "/usr/bin/touch {marker}"'))
    await service.clock.advance(0)
    await service.stop()
    assert service.fake_plane.closed
    assert marker.exists()  # stop waits for the queued scripts (bounded)


@scenario
async def test_fifo_lines_for_real_servers_and_quorum(lb, tmp_path):
    fifo = tmp_path / "lvs.fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        service = await lb(f'global_defs {{\n lvs_notify_fifo "{fifo}"\n}}\n' + config_text(servers=1))
        service.runners.results["198.51.100.1"] = FAIL
        await service.clock.advance(0)
        assert os.read(reader, 4096).decode().splitlines() == [
            "RS [198.51.100.1]:80 [203.0.113.100]:80 DOWN",
            "VS [203.0.113.100]:80 DOWN",
        ]
    finally:
        os.close(reader)


def test_a_lagging_loop_that_idles_keeps_its_bound():
    """Lag while the loop idles part of the time (the machine ran something else): no halving."""
    from tandem.lb.service import BUSY_LIMIT, LAG_LIMIT, cpu_wanted, next_bound

    assert next_bound(2000, LAG_LIMIT * 4, 64, 2000, busy=BUSY_LIMIT - 0.2) == 2000
    assert next_bound(1000, LAG_LIMIT * 4, 64, 2000, busy=0.5) > 1000
    assert next_bound(2000, LAG_LIMIT * 2, 64, 2000, busy=BUSY_LIMIT) == 1000
    import time

    first = cpu_wanted()
    assert first is not None and first > 0  # Linux: the thread's schedstat
    for _ in range(50):  # the kernel brings the figure up to date when the thread is switched out
        sum(range(100_000))
        time.sleep(0.01)
        if cpu_wanted() > first:
            break
    assert cpu_wanted() > first


def test_the_bound_halves_under_lag_and_grows_back():
    from tandem.lb.service import LAG_LIMIT, next_bound

    assert next_bound(2000, LAG_LIMIT * 2, 64, 2000) == 1000
    assert next_bound(100, 1.0, 64, 2000) == 64  # never below the floor
    assert next_bound(64, 0.0, 64, 2000) == 64 + (2000 - 64) // 16
    assert next_bound(1990, 0.0, 64, 2000) == 2000  # never above max_running
    bound = 2000
    for _ in range(5):
        bound = next_bound(bound, 1.0, 64, 2000)
    assert bound == 64
    for _ in range(16):
        bound = next_bound(bound, 0.0, 64, 2000)
    assert bound == 2000  # back within 16 samples (1.6 s) once the lag is gone


@scenario
async def test_a_black_hole_does_not_shrink_the_bound(lb, tmp_path):
    service = await lb(config_text(servers=3))
    for i in (1, 2, 3):
        service.runners.results[f"198.51.100.{i}"] = HANG
    await service.clock.advance(0)
    await asyncio.sleep(0.35)  # a few samples of the (idle) event loop
    assert service.stats().checks_bound == service.max_running


@scenario
async def test_after_a_costly_transaction_the_next_waits(lb, tmp_path):
    import time

    from tandem.lb.service import APPLY_SHARE

    service = await lb(config_text())
    loop = asyncio.get_running_loop()
    plane, spans = service.fake_plane, []
    record = plane.apply

    def slow_apply(services):
        began = loop.time()
        time.sleep(0.1)  # a big table's commit blocks the loop
        record(services)
        spans.append((began, loop.time()))

    plane.apply = slow_apply
    await service.clock.advance(0)
    service.runners.results["198.51.100.1"] = FAIL
    await service.clock.advance(2)  # fails, retry …
    await service.clock.advance(1)  # … fails: out (one slow transaction)
    service.runners.results["198.51.100.2"] = FAIL
    await service.clock.advance(1)
    await service.clock.advance(1)  # the next change comes at once, its transaction waits
    await asyncio.sleep(0.5)
    assert len(spans) == 2 and set(plane.weights()) == {"198.51.100.3"}
    (_, first_end), (second_began, _) = spans
    assert APPLY_SHARE == 2.0
    assert second_began - first_end >= 0.19  # 2 × the first transaction's ≥ 0.1 s


@scenario
async def test_a_reloaded_plane_choice_moves_the_services_to_the_new_plane(lb, tmp_path):
    import logging

    from tandem.lb.plane import Timeouts

    asked, refuse = [], []

    def switch(current, name):
        asked.append((current.name, name))
        if refuse:
            raise PlaneError("no IP_VS in this kernel")
        if name == "auto":
            return None  # auto keeps what runs (IPVS, or nftables where IPVS cannot run)
        new = Plane()
        new.name = name
        return new

    service = await lb(config_text(), plane_switch=switch)
    old = service.fake_plane
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logging.getLogger("tandem.lb").addHandler(handler)
    try:
        service.file.write_text(
            "global_defs {\n tandem_lb_plane nftables\n lvs_timeouts tcp 900\n}\n" + config_text()
        )
        assert (await service.reload()).ok
        await service.clock.advance(0)
        new = service.plane
        assert old.closed and new is not old and new.name == "nftables"
        assert new.applied[-1] == old.applied[-1]  # every service, on the new plane
        assert new.timeouts == [Timeouts(tcp=900)]
        assert service.status().plane == "nftables"

        refuse.append(True)  # a plane that cannot run here: refused, the running one carries on
        service.file.write_text("global_defs {\n tandem_lb_plane ipvs\n}\n" + config_text())
        assert (await service.reload()).ok
        assert service.plane is new and not new.closed
        refuse.clear()
        service.file.write_text("global_defs {\n tandem_lb_plane auto\n}\n" + config_text())
        assert (await service.reload()).ok
        assert service.plane is new and not new.closed
    finally:
        logging.getLogger("tandem.lb").removeHandler(handler)
    assert asked == [("fake", "nftables"), ("nftables", "ipvs"), ("nftables", "auto")]
    messages = [r.getMessage() for r in records]
    assert (
        "tandem_lb_plane auto → nftables: load balancing moves from the fake plane to the nftables plane"
        in messages
    )
    assert "tandem_lb_plane nftables → ipvs: no IP_VS in this kernel; the nftables plane runs on" in messages


@scenario
async def test_lvs_timeouts_reach_the_plane_at_start_and_at_each_reload(lb, tmp_path):
    from tandem.lb.plane import Timeouts

    timeouts = "global_defs {\n lvs_timeouts tcp 900 udp 60\n}\n"
    service = await lb(timeouts + config_text())
    service.file.write_text(timeouts.replace("udp 60", "tcpfin 30") + config_text())
    assert (await service.reload()).ok
    service.file.write_text(config_text())
    assert (await service.reload()).ok
    assert service.fake_plane.timeouts == [
        Timeouts(tcp=900, udp=60),
        Timeouts(tcp=900, tcpfin=30),
        Timeouts(),
    ]


def test_a_costly_transaction_gives_the_freed_heap_back(monkeypatch, tmp_path):
    """After a plane transaction of TRIM_AFTER or more, malloc_trim (glibc) runs; after a cheap one not."""
    import time

    from tandem.lb import service as lb_service

    trims = []
    monkeypatch.setattr(lb_service, "release_freed_memory", lambda: trims.append(True))

    async def test(lb, tmp_path):
        service = await lb(config_text())
        assert trims == []  # the first (cheap) transaction at start
        original = service.fake_plane.apply

        def apply(services):
            time.sleep(lb_service.TRIM_AFTER * 1.5)
            original(services)

        service.fake_plane.apply = apply
        service.runners.results["198.51.100.1"] = FAIL
        await service.clock.advance(3)
        assert trims == [True]

    scenario(test)(tmp_path)
    monkeypatch.undo()
    assert lb_service._malloc_trim() is not None  # glibc
    lb_service.release_freed_memory()


@scenario
async def test_plane_transactions_run_outside_realtime(lb, tmp_path):
    """With checker_rt_priority a transaction at thousands of real servers runs longer than the
    realtime CPU limit: each runs inside the child's outside_realtime() (Scheduler.not_realtime)."""
    outside = []

    @contextlib.contextmanager
    def outside_realtime():
        outside.append(True)
        try:
            yield
        finally:
            outside.pop()

    service = await lb(config_text(), outside_realtime=outside_realtime)
    plane = service.fake_plane
    seen = []
    apply = plane.apply
    plane.apply = lambda services: (seen.append(bool(outside)), apply(services))
    service.runners.results["198.51.100.2"] = FAIL
    await service.clock.advance(3)
    assert "198.51.100.2" not in plane.weights()
    assert seen and all(seen)
