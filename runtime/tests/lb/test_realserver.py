"""The sans-IO real-server state machine on a fake clock: retries, alpha, quorum, sorry server, reload."""

from __future__ import annotations

import itertools
from ipaddress import ip_address

from hypothesis import given, settings
from hypothesis import strategies as st
from tandem.check.result import CheckResult
from tandem.config import load_config_text
from tandem.lb.params import lb_params
from tandem.lb.realserver import (
    Balancer,
    QuorumChanged,
    RealServerChanged,
    RunCheck,
    RunScript,
    SmtpAlert,
    WeightChanged,
)

OK = CheckResult(True, "ok", 0.001)
FAIL = CheckResult(False, "connection refused", 0.001)


def vs_params(body: str, head: str = "virtual_server 203.0.113.10 80"):
    result = load_config_text(f"{head} {{\n{body}\n}}\n", "lb.conf")
    assert result.config is not None, [str(f) for f in result.errors]
    return lb_params(result.config)


def servers(n: int, extra: str = "", weight: int = 1) -> str:
    return "\n".join(
        f"real_server 198.51.100.{i} 80 {{\n weight {weight}\n{extra}\n TCP_CHECK {{ }}\n}}"
        for i in range(1, n + 1)
    )


class Run:
    """A balancer driven the way the service drives it: checks run when due, results fed back."""

    def __init__(self, params, now: float = 0.0) -> None:
        self.balancer = Balancer(params, rand=lambda: 0.5)
        self.now = now
        self.actions = self.balancer.start(now)

    def check_of(self, address: str) -> str:
        return next(c for c in self.balancer.check_ids() if f"[198.51.100.{address}]" in c)

    def due(self) -> list[str]:
        return [
            c
            for c in self.balancer.check_ids()
            if (d := self.balancer.deadline(c)) is not None and d <= self.now
        ]

    def step(self, results: dict[str, CheckResult], until: float) -> list:
        """Run every due check with its result (OK unless listed) until time ``until``."""
        actions = []
        while True:
            deadlines = [d for c in self.balancer.check_ids() if (d := self.balancer.deadline(c)) is not None]
            if not deadlines or min(deadlines) > until:
                break
            self.now = max(self.now, min(deadlines))
            for check_id in self.due():
                assert self.balancer.begin(check_id, self.now) is not None
                key = next((k for k in results if f"[198.51.100.{k}]" in check_id), None)
                actions += self.balancer.result(check_id, results.get(key, OK), self.now)
        self.now = until
        self.actions += actions
        return actions

    def destinations(self) -> list[tuple[str, int]]:
        (service,) = self.balancer.services()
        return [(str(d.address), d.weight) for d in service.destinations]


def changes(actions, kind=RealServerChanged):
    return [a for a in actions if isinstance(a, kind)]


def test_first_check_within_warmup_then_delay_loop():
    run = Run(vs_params("delay_loop 10\n" + servers(1)))
    (first,) = changes(run.actions, RunCheck)
    assert first.at == 5.0  # rand 0.5 × warmup (= delay_loop)
    run.step({}, 5.0)
    (again,) = changes(run.actions, RunCheck)[1:]
    assert again.at == 15.0


def test_one_failure_before_the_first_success_then_retries():
    run = Run(vs_params("delay_loop 10\nretry 2\ndelay_before_retry 1\n" + servers(2)))
    actions = run.step({"1": FAIL}, 5.0)  # never succeeded yet: one failure is enough
    assert changes(actions) == [
        RealServerChanged("[203.0.113.10]:80", "[198.51.100.1]:80", False, FAIL.reason)
    ]
    assert run.destinations() == [("198.51.100.2", 1)]
    run.step({}, 15.0)  # back
    assert run.destinations() == [("198.51.100.1", 1), ("198.51.100.2", 1)]
    # now it has succeeded: down only after retry (2) retries, delay_before_retry apart
    actions = run.step({"1": FAIL}, 26.5)  # failed at 25 and 26: retrying
    assert changes(actions) == [] and run.balancer.deadline(run.check_of("1")) == 27.0
    assert run.destinations() == [("198.51.100.1", 1), ("198.51.100.2", 1)]
    actions = run.step({"1": FAIL}, 27.0)
    assert [a.up for a in changes(actions)] == [False] and run.now == 27.0
    assert run.destinations() == [("198.51.100.2", 1)]


def test_removal_within_delay_loop_times_retry_plus_one():
    """The acceptance bound: out of rotation within delay_loop × (retry + 1) + connect_timeout."""
    run = Run(vs_params("delay_loop 2\nretry 1\ndelay_before_retry 2\n" + servers(3)))
    run.step({}, 10.0)
    killed_at = run.now
    run.step({"2": FAIL}, killed_at + 2 * (1 + 1))
    assert ("198.51.100.2", 1) not in run.destinations()


def test_alpha_starts_down_and_reports_a_first_failure():
    run = Run(vs_params("alpha\n" + servers(1, " notify_down /bin/down\n notify_up /bin/up")))
    assert run.destinations() == []
    actions = run.step({"1": FAIL}, 60.0)
    assert [a.script.command for a in changes(actions, RunScript)] == ["/bin/down"]  # initial state reported
    assert changes(actions) == []
    actions = run.step({}, 120.0)
    assert [a.up for a in changes(actions)] == [True]
    assert [a.script.command for a in changes(actions, RunScript)] == ["/bin/up"]
    assert run.destinations() == [("198.51.100.1", 1)]


def test_inhibit_on_failure_keeps_the_server_at_weight_0():
    run = Run(vs_params("inhibit_on_failure\n" + servers(2, weight=3)))
    run.step({"1": FAIL}, 30.0)
    assert run.destinations() == [("198.51.100.1", 0), ("198.51.100.2", 3)]


def test_quorum_hysteresis_and_the_sorry_server():
    body = "quorum 3\nhysteresis 1\nquorum_up /bin/qup\nquorum_down /bin/qdown\n"
    body += "sorry_server 198.51.100.200 8080\n"
    run = Run(vs_params(body + servers(4)))
    assert run.balancer.virtual_servers["[203.0.113.10]:80"].quorum_up  # 4 ≥ 3 + 1
    run.step({"1": FAIL}, 30.0)  # 3: not < 3 − 1
    assert changes(run.actions, QuorumChanged) == []
    actions = run.step({"1": FAIL, "2": FAIL, "3": FAIL}, 100.0)  # 1 < 2: lost
    assert changes(actions, QuorumChanged) == [QuorumChanged("[203.0.113.10]:80", False, 1)]
    assert [a.script.command for a in changes(actions, RunScript)] == ["/bin/qdown"]
    assert run.destinations() == [("198.51.100.200", 1)]  # the sorry server alone, live 4 is out
    actions = run.step({"1": FAIL, "2": FAIL}, 200.0)  # 2 < 3 + 1: still down
    assert changes(actions, QuorumChanged) == []
    actions = run.step({}, 300.0)
    assert changes(actions, QuorumChanged) == [QuorumChanged("[203.0.113.10]:80", True, 4)]
    assert [d for d, _ in run.destinations()] == [f"198.51.100.{i}" for i in range(1, 5)]


def test_starting_with_quorum_down_uses_the_sorry_server():
    run = Run(vs_params("alpha\nsorry_server 198.51.100.200 80\nsorry_server_inhibit\n" + servers(2)))
    assert changes(run.actions, QuorumChanged) == [QuorumChanged("[203.0.113.10]:80", False, 0)]
    assert run.destinations() == [("198.51.100.200", 1)]
    run.step({}, 60.0)
    assert run.destinations() == [("198.51.100.1", 1), ("198.51.100.2", 1), ("198.51.100.200", 0)]


def test_several_checkers_all_must_be_up_and_dynamic_weights():
    run = Run(
        vs_params(
            "real_server 198.51.100.1 80 {\n TCP_CHECK { }\n"
            " MISC_CHECK {\n misc_path /bin/true\n misc_dynamic\n }\n}"
        )
    )
    tcp, misc = run.balancer.check_ids()
    run.now = 60.0
    for check_id in (tcp, misc):
        run.balancer.begin(check_id, run.now)
    actions = run.balancer.result(misc, CheckResult(True, "exit 7", 0.01, weight=5), run.now)
    assert changes(actions, WeightChanged) == [WeightChanged("[203.0.113.10]:80", "[198.51.100.1]:80", 5)]
    assert run.destinations() == [("198.51.100.1", 5)]
    actions = run.balancer.result(tcp, FAIL, run.now)
    assert [a.up for a in changes(actions)] == [False] and run.destinations() == []


def test_unchanged_real_servers_keep_their_destination_objects():
    """desired() remakes only what changed: at 5,000 real servers a change must not cost 5,000."""
    run = Run(
        vs_params(
            servers(3)
            + "\nreal_server 198.51.100.9 80 {\n TCP_CHECK { }\n MISC_CHECK {\n misc_path /bin/true\n"
            " misc_dynamic\n }\n}"
        )
    )
    (before,) = run.balancer.services()
    run.step({"2": FAIL}, 60.0)
    (after,) = run.balancer.services()
    old = {str(d.address): d for d in before.destinations}
    new = {str(d.address): d for d in after.destinations}
    assert "198.51.100.2" not in new and new["198.51.100.1"] is old["198.51.100.1"]
    misc = next(c for c in run.balancer.check_ids() if "MISC_CHECK" in c)
    run.balancer.begin(misc, 1e9)
    run.balancer.result(misc, CheckResult(True, "exit 3", 0.0, weight=3), 1e9)
    (weighted,) = run.balancer.services()
    changed = {str(d.address): d for d in weighted.destinations}
    assert changed["198.51.100.9"].weight == 3 and changed["198.51.100.9"] is not old["198.51.100.9"]
    assert changed["198.51.100.3"] is old["198.51.100.3"]


def test_smtp_alert_for_real_servers_by_default():
    run = Run(vs_params(servers(1)))
    actions = run.step({"1": FAIL}, 60.0)
    assert changes(actions, SmtpAlert) == [
        SmtpAlert("REALSERVER", "[198.51.100.1]:80 of [203.0.113.10]:80", "DOWN")
    ]


def test_ha_suspend_pauses_checks_until_the_vip_is_local():
    run = Run(vs_params("ha_suspend\n" + servers(1)))
    (check_id,) = run.balancer.check_ids()
    assert run.balancer.deadline(check_id) is None and changes(run.actions, RunCheck) == []
    actions = run.balancer.vip_local(ip_address("203.0.113.10"), True, 7.0)
    assert actions == [RunCheck(check_id, 7.0)]
    run.balancer.vip_local(ip_address("203.0.113.10"), False, 8.0)
    assert run.balancer.deadline(check_id) is None


def test_drain_then_remove_then_restore():
    run = Run(vs_params(servers(2, weight=4)))
    run.balancer.drain("[203.0.113.10]:80", "[198.51.100.1]:80", "drain")
    assert run.destinations() == [("198.51.100.1", 0), ("198.51.100.2", 4)]
    run.balancer.drain("[203.0.113.10]:80", "[198.51.100.1]:80", "remove")
    assert run.destinations() == [("198.51.100.2", 4)]
    run.balancer.drain("[203.0.113.10]:80", "[198.51.100.1]:80", "restore")
    assert run.destinations() == [("198.51.100.1", 4), ("198.51.100.2", 4)]


def test_reload_keeps_unchanged_checks_and_restarts_changed_ones():
    first = vs_params(servers(2))
    run = Run(first)
    run.step({"1": FAIL}, 100.0)
    kept = run.check_of("2")
    deadline = run.balancer.deadline(kept)
    # server 1 gets a new check (connect_timeout changed); server 2 is untouched
    second = vs_params(
        "real_server 198.51.100.1 80 {\n TCP_CHECK {\n connect_timeout 2\n }\n}\n"
        "real_server 198.51.100.2 80 {\n TCP_CHECK { }\n}"
    )
    actions = run.balancer.update(second, 100.0)
    assert run.balancer.deadline(kept) == deadline  # not re-checked from scratch
    changed = run.check_of("1")
    assert run.balancer.deadline(changed) == 130.0  # a new check: warmup again
    assert [a.up for a in changes(actions)] == [True]  # its new check starts up (no alpha)
    assert run.destinations() == [("198.51.100.1", 1), ("198.51.100.2", 1)]


def test_omega_on_stop():
    run = Run(vs_params("omega\nquorum_down /bin/qdown\n" + servers(1, " notify_down /bin/down")))
    assert [a.script.command for a in changes(run.balancer.stop(), RunScript)] == ["/bin/down", "/bin/qdown"]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 4), st.booleans(), st.none() | st.integers(0, 5)), min_size=1, max_size=60
    ),
    st.booleans(),
    st.booleans(),
    st.integers(1, 5),
    st.integers(0, 3),
)
def test_properties(events, inhibit, sorry, quorum, hysteresis):
    """Whatever the results: a dead server is listed only at weight 0 with inhibit_on_failure, the
    sorry server only when quorum is down (or at weight 0 with sorry_server_inhibit), quorum actions
    alternate, and the quorum state matches the live weight's last crossing."""
    body = f"quorum {quorum}\nhysteresis {hysteresis}\n" + ("inhibit_on_failure\n" if inhibit else "")
    body += "sorry_server 198.51.100.200 80\n" if sorry else ""
    (params,) = vs_params(body + servers(5, extra=" MISC_CHECK {\n misc_path /bin/true\n misc_dynamic\n }"))
    balancer = Balancer([params], rand=lambda: 0.0)
    quorum_events = [a.up for a in balancer.start(0.0) if isinstance(a, QuorumChanged)]
    vs = balancer.virtual_servers[params.name]
    ids = balancer.check_ids()
    now = 0.0
    for index, ok, weight in events:
        now += 1.0
        check_id = ids[index * 2 + (weight is not None)]
        balancer.begin(check_id, 1e9)  # the check runs whenever the driver says
        result = CheckResult(ok, "x", 0.0, weight if ok else None)
        quorum_events += [
            a.up for a in balancer.result(check_id, result, now) if isinstance(a, QuorumChanged)
        ]
        (service,) = balancer.services()
        by_address = {str(rs.params.address): rs for rs in vs.servers.values()}
        for destination in service.destinations:
            rs = by_address.get(str(destination.address))
            if rs is None:
                assert str(destination.address) == "198.51.100.200" and sorry
                assert destination.weight == (0 if vs.quorum_up else 1)
            elif not rs.alive or vs.sorry_active:
                assert inhibit and destination.weight == 0
            else:
                assert destination.weight == rs.weight
        live = vs.live_weight
        assert live == sum(rs.weight for rs in vs.servers.values() if rs.alive)  # kept, not recounted
        if vs.quorum_up:
            assert live >= params.quorum - params.hysteresis and live > 0
        else:
            assert live < params.quorum + params.hysteresis
    assert all(a != b for a, b in itertools.pairwise(quorum_events))
