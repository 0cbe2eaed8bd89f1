"""keepalived's tracking rules as pure code: rise/fall, weights, FAULT, clamping, owner, sync groups."""

from __future__ import annotations

import textwrap

from hypothesis import given
from hypothesis import strategies as st
from tandem.config import load_config_text
from tandem.track.tracker import (
    FAULT,
    FILE,
    INTERFACE,
    SCRIPT,
    Fault,
    Maintenance,
    Recover,
    Ref,
    RiseFall,
    SetPriority,
    SyncGroups,
    Tracking,
    binary_effect,
    file_effect,
    instance_refs,
)


def config(text: str):
    result = load_config_text(textwrap.dedent(text), "test.conf")
    assert result.config is not None, result.findings
    return result.config


def instance(name: str, vrid: int, body: str = "", priority: int = 100) -> str:
    return f"""
    vrrp_instance {name} {{
        interface eth0
        virtual_router_id {vrid}
        priority {priority}
        virtual_ipaddress {{
            198.51.100.{vrid}/24
        }}
        {body}
    }}
    """


SCRIPTS = """
vrrp_script chk_weighted {
    script "/bin/true"
    weight -20
    rise 2
    fall 3
}
vrrp_script chk_fault {
    script "/bin/true"
    init_fail
}
track_file tf {
    file "/nonexistent"
    weight 5
}
"""


def test_rise_fall_counts_consecutive_results():
    status = RiseFall.initial(rise=2, fall=3, init_fail=False)
    assert status.ok is None
    assert status.record(True) and status.ok is True  # the first result decides
    assert [status.record(False) for _ in range(3)] == [False, False, True]
    assert status.ok is False
    assert status.record(True) is False
    assert status.record(False) is False  # a success between failures restarts the count
    assert status.record(True) is False and status.record(True) is True
    assert status.ok is True


def test_init_fail_starts_failed_and_needs_rise_successes():
    status = RiseFall.initial(rise=3, fall=1, init_fail=True)
    assert status.ok is False
    assert [status.record(True) for _ in range(3)] == [False, False, True]


def test_binary_weights_follow_keepalived_signs_and_reverse():
    assert binary_effect(Ref(SCRIPT, "s", 10), True) == 10
    assert binary_effect(Ref(SCRIPT, "s", 10), False) == 0
    assert binary_effect(Ref(SCRIPT, "s", -10), True) == 0
    assert binary_effect(Ref(SCRIPT, "s", -10), False) == -10
    assert binary_effect(Ref(SCRIPT, "s", 10, reverse=True), True) == -10
    assert binary_effect(Ref(SCRIPT, "s", -10, reverse=True), False) == 10
    assert binary_effect(Ref(SCRIPT, "s", 0), False) is FAULT
    assert binary_effect(Ref(SCRIPT, "s", 0), True) == 0
    assert binary_effect(Ref(SCRIPT, "s", 0, reverse=True), True) is FAULT
    assert binary_effect(Ref(SCRIPT, "s", 0), None) == 0  # not known yet


def test_file_weight_times_value_capped_and_faulting():
    assert file_effect(Ref(FILE, "f", 5), 3) == 15
    assert file_effect(Ref(FILE, "f", 5, reverse=True), 3) == -15
    assert file_effect(Ref(FILE, "f", 100), 3) == 253
    assert file_effect(Ref(FILE, "f", 1), -253) == -253
    assert file_effect(Ref(FILE, "f", 1), -254) is FAULT
    assert file_effect(Ref(FILE, "f", 0), 7) is FAULT
    assert file_effect(Ref(FILE, "f", 0), 0) == 0
    assert file_effect(Ref(FILE, "f", 0, reverse=True), 0) is FAULT


def test_track_script_weight_overrides_the_scripts_and_primary_interface_is_tracked():
    body = "track_script {\n chk_weighted weight 7 reverse\n chk_fault\n}"
    cfg = config(SCRIPTS + instance("VI_1", 1, body))
    assert instance_refs(cfg, cfg.instance("VI_1")) == (
        Ref(INTERFACE, "eth0", 0),
        Ref(SCRIPT, "chk_weighted", 7, True),
        Ref(SCRIPT, "chk_fault", 0),
    )


def test_owner_and_sync_group_members_get_weight_zero():
    cfg = config(
        SCRIPTS
        + instance("VI_1", 1, "track_script {\n chk_weighted\n}", priority=255)
        + instance("VI_2", 2, "track_script {\n chk_weighted\n}")
        + "vrrp_sync_group VG {\n group {\n VI_2\n }\n}\n"
    )
    for name in ("VI_1", "VI_2"):
        assert Ref(SCRIPT, "chk_weighted", 0) in instance_refs(cfg, cfg.instance(name))


def test_script_failures_lower_priority_after_fall_and_restore_after_rise():
    cfg = config(SCRIPTS + instance("VI_1", 1, "track_script {\n chk_weighted\n}"))
    tracking = Tracking(cfg)
    assert tracking.start() == [SetPriority("VI_1", 100)]
    assert tracking.script_result("chk_weighted", True) == []  # OK adds nothing for a negative weight
    assert tracking.script_result("chk_weighted", False) == []
    assert tracking.script_result("chk_weighted", False) == []
    assert tracking.script_result("chk_weighted", False) == [SetPriority("VI_1", 80)]
    assert tracking.script_result("chk_weighted", True) == []
    assert tracking.script_result("chk_weighted", True) == [SetPriority("VI_1", 100)]


def test_weight_zero_failure_faults_and_recovers():
    cfg = config(SCRIPTS + instance("VI_1", 1, "track_script {\n chk_fault\n}"))
    tracking = Tracking(cfg)
    assert tracking.start() == [SetPriority("VI_1", 100), Fault("VI_1", "script chk_fault")]
    assert tracking.script_result("chk_fault", True) == [Recover("VI_1")]
    assert tracking.script_result("chk_fault", False) == [Fault("VI_1", "script chk_fault")]


def test_a_disabled_script_is_ignored_by_its_instances_init_fail_included():
    # keepalived: "Disabling track script ... since not found/accessible"
    cfg = config(SCRIPTS + instance("VI_1", 1, "track_script {\n chk_fault\n chk_weighted\n}"))
    tracking = Tracking(cfg)
    assert tracking.start() == [SetPriority("VI_1", 100), Fault("VI_1", "script chk_fault")]
    assert tracking.script_disabled("chk_fault") == [Recover("VI_1")]
    assert tracking.script_disabled("chk_weighted") == []  # no verdict yet: nothing changes
    assert tracking.script_result("chk_weighted", False) == []  # and no result counts any more
    assert tracking.verdict("VI_1").priority == 100


def test_interface_down_weight_and_primary_fault():
    cfg = config(instance("VI_1", 1, "track_interface {\n eth1 weight -30\n}"))
    tracking = Tracking(cfg)
    tracking.start()
    assert tracking.link_state("eth0", True) == []
    assert tracking.link_state("eth1", True) == []
    assert tracking.link_state("eth1", False) == [SetPriority("VI_1", 70)]
    assert tracking.link_state("eth0", False) == [Fault("VI_1", "interface eth0")]
    assert tracking.link_state("eth0", True) == [Recover("VI_1")]


def test_track_file_value_moves_priority_and_faults_below_minus_253():
    cfg = config(SCRIPTS + instance("VI_1", 1, "track_file {\n tf\n}"))
    tracking = Tracking(cfg)
    tracking.start()
    assert tracking.file_value("tf", 4) == [SetPriority("VI_1", 120)]
    assert tracking.file_value("tf", 4) == []
    assert tracking.file_value("tf", 40) == [SetPriority("VI_1", 254)]  # clamped
    assert tracking.file_value("tf", -51) == [SetPriority("VI_1", 100), Fault("VI_1", "file tf")]


def test_sync_group_fault_in_one_member_faults_all():
    cfg = config(
        SCRIPTS
        + instance("VI_1", 1, "track_script {\n chk_weighted\n}")
        + instance("VI_2", 2)
        + instance("VI_3", 3)
        + "vrrp_sync_group VG {\n group {\n VI_1\n VI_2\n }\n}\n"
    )
    tracking = Tracking(cfg)
    tracking.start()
    tracking.script_result("chk_weighted", True)
    decisions = [tracking.script_result("chk_weighted", False) for _ in range(3)][-1]
    assert decisions == [
        Fault("VI_1", "script chk_weighted"),
        Fault("VI_2", "sync group VG (VI_1: script chk_weighted)"),
    ]
    tracking.script_result("chk_weighted", True)
    assert tracking.script_result("chk_weighted", True) == [Recover("VI_1"), Recover("VI_2")]


def test_sync_group_goes_master_when_every_member_is_ready_and_backup_together():
    groups = SyncGroups([("G", ("VI_1", "VI_2", "VI_3"))])
    waiting = {"VI_1": ("BACKUP", True), "VI_2": ("BACKUP", False), "VI_3": ("MASTER", False)}
    assert groups.moving_master("VI_1", waiting) == ()  # VI_2 still hears a master
    ready = {**waiting, "VI_2": ("BACKUP", True)}
    assert groups.moving_master("VI_2", ready) == ("VI_1", "VI_2")
    assert groups.moving_master("VI_2", {**ready, "VI_3": ("FAULT", False)}) == ()
    assert groups.following("VI_2") == ("VI_1", "VI_3")
    assert SyncGroups([]).moving_master("VI_9", {"VI_9": ("BACKUP", True)}) == ("VI_9",)


def test_group_state_for_group_notifies():
    assert SyncGroups.group_state(["MASTER", "MASTER"]) == "MASTER"
    assert SyncGroups.group_state(["BACKUP", "FAULT"]) == "FAULT"
    assert SyncGroups.group_state(["MASTER", "BACKUP"]) is None


def test_maintenance_lowers_or_pins_priority_and_clears():
    cfg = config(instance("VI_1", 1) + instance("VI_9", 9, priority=255))
    tracking = Tracking(cfg)
    tracking.start()
    assert tracking.set_maintenance("VI_1", Maintenance(lower_by=60)) == [SetPriority("VI_1", 40)]
    assert tracking.set_maintenance("VI_1", Maintenance(force_backup=True)) == [SetPriority("VI_1", 1)]
    assert tracking.set_maintenance("VI_1", Maintenance()) == [SetPriority("VI_1", 100)]
    assert tracking.set_maintenance("VI_9", Maintenance(lower_by=60)) == []  # the owner is never moved


def test_reload_carries_observations_and_maintenance_over():
    body = "track_script {\n chk_weighted\n}\ntrack_file {\n tf\n}"
    old = Tracking(config(SCRIPTS + instance("VI_1", 1, body) + instance("VI_2", 2)))
    old.start()
    for _ in range(3):
        old.script_result("chk_weighted", False)
    old.link_state("eth0", True)
    old.file_value("tf", 2)
    old.set_maintenance("VI_2", Maintenance(lower_by=10))
    assert old.fault_of("VI_1") is None and old.verdict("VI_1").priority == 100 - 20 + 10
    new = Tracking(config(SCRIPTS + instance("VI_1", 1, body, priority=150) + instance("VI_2", 2)))
    new.carry_over(old)
    assert new.start() == [SetPriority("VI_1", 140), SetPriority("VI_2", 90)]
    assert new.maintenance_of("VI_2") == Maintenance(lower_by=10)
    # the carried-over verdict keeps counting: one success is not yet rise 2
    assert new.script_result("chk_weighted", True) == []
    assert new.script_result("chk_weighted", True) == [SetPriority("VI_1", 160)]


@given(
    base=st.integers(1, 255),
    weights=st.lists(st.tuples(st.integers(-253, 253), st.booleans(), st.booleans()), max_size=6),
)
def test_effective_priority_stays_in_range_and_owner_stays_255(base, weights):
    body = "track_interface {\n" + "".join(
        f" if{n} weight {w}{' reverse' if r else ''}\n" for n, (w, r, _) in enumerate(weights)
    )
    cfg = config(instance("VI_1", 1, body + "}\n" if weights else "", priority=base))
    tracking = Tracking(cfg)
    tracking.start()
    for n, (_, _, up) in enumerate(weights):
        tracking.link_state(f"if{n}", up)
    priority = tracking.verdict("VI_1").priority
    assert priority == 255 if base == 255 else 1 <= priority <= 254
