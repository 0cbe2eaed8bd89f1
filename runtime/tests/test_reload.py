"""Reload planning on real config text: what stays, what changes in place, what restarts, goes or comes."""

from __future__ import annotations

import pytest
from tandem.config import load_config_text
from tandem.reload import InstanceChange, ReloadPlan, plan_reload

BASE = """
global_defs {
    router_id lb1
}
vrrp_script chk_web {
    script "/usr/bin/true"
    interval 2
    weight -20
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority 150
    advert_int 1
    virtual_ipaddress {
        198.51.100.10/24
    }
    track_script {
        chk_web
    }
}
vrrp_instance VI_2 {
    interface eth0
    virtual_router_id 52
    priority 100
    virtual_ipaddress {
        203.0.113.10/24
    }
}
"""


def load(text: str, name: str = "keepalived.conf"):
    result = load_config_text(text, name)
    assert result.config is not None, result.findings
    return result.config


def plan(new_text: str) -> ReloadPlan:
    return plan_reload(load(BASE), load(new_text, "new.conf"))


def test_identical_config_in_another_file_with_moved_lines_is_unchanged():
    moved = "# a comment moves every line\n\n" + BASE.replace("    advert_int 1\n", "") + "\n"
    assert plan(moved) == ReloadPlan(unchanged=("VI_1", "VI_2"))


@pytest.mark.parametrize(
    ("old", "new", "aspects"),
    [
        ("priority 150", "priority 120", ("priority",)),
        ("198.51.100.10/24\n", "198.51.100.10/24\n        198.51.100.11/24\n", ("vips",)),
        ("advert_int 1", "advert_int 2", ("timers",)),
        ("weight -20", "weight -30", ("tracking",)),
        ("    track_script {\n        chk_web\n    }\n", "", ("tracking",)),
        ("    priority 150\n", "    priority 150\n    notify_master /usr/bin/true\n", ("notify",)),
    ],
)
def test_in_place_changes_name_what_changed(old, new, aspects):
    assert old in BASE
    result = plan(BASE.replace(old, new, 1))
    assert result.changed == (InstanceChange("VI_1", aspects),)
    assert result.unchanged == ("VI_2",)
    assert result.restarted == result.removed == result.added == ()


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("virtual_router_id 51", "virtual_router_id 61"),
        ("interface eth0\n    virtual_router_id 51", "interface eth1\n    virtual_router_id 51"),
        ("priority 150", "priority 150\n    authentication {\n auth_type PASS\n auth_pass secret\n }"),
    ],
)
def test_identity_changes_restart_the_instance(old, new):
    result = plan(BASE.replace(old, new))
    assert result.restarted == ("VI_1",)
    assert result.unchanged == ("VI_2",)


def test_removed_added_and_sync_group():
    text = BASE.replace("vrrp_instance VI_2", "vrrp_instance VI_3").replace(
        "virtual_router_id 52", "virtual_router_id 53"
    )
    text += "vrrp_sync_group VG {\n    group {\n        VI_1\n    }\n}\n"
    result = plan(text)
    assert result.removed == ("VI_2",)
    assert result.added == ("VI_3",)
    # joining a sync group zeroes tracking weights (keepalived's rule) and is itself a change
    assert result.changed == (InstanceChange("VI_1", ("tracking", "sync_group")),)
