"""Canonical dump: parses back to the same dump, and equivalent spellings dump the same."""

from __future__ import annotations

import pytest
from config_helpers import SAMPLES, messages
from tandem.config import load_config, load_config_text
from tandem.config.dump import dump_config
from test_blocks import FULL_VRRP, LVS

VALID_SAMPLES = [
    p for p in sorted(SAMPLES.glob("keepalived.conf.*")) if load_config(p, config_id="high").config
]


def round_trip(text: str, show_defaults: bool) -> tuple[str, str]:
    first = load_config_text(text, config_id="high")
    assert first.config is not None, messages(first)
    dumped = dump_config(first.config, show_defaults)
    again = load_config_text(dumped, "<dump>")
    assert again.config is not None, (dumped, messages(again))
    return dumped, dump_config(again.config, show_defaults)


@pytest.mark.parametrize("show_defaults", [False, True])
@pytest.mark.parametrize("sample", VALID_SAMPLES, ids=lambda p: p.name)
def test_samples_round_trip(sample, show_defaults):
    dumped, again = round_trip(sample.read_text(), show_defaults)
    assert dumped == again


@pytest.mark.parametrize("show_defaults", [False, True])
@pytest.mark.parametrize("text", [FULL_VRRP, LVS], ids=["vrrp", "lvs"])
def test_every_construct_round_trips(text, show_defaults):
    dumped, again = round_trip(text, show_defaults)
    assert dumped == again


def test_equivalent_configs_dump_identically(files):
    files.write("part.conf", "    lb_kind DR\n")
    one = files.load(
        """
    virtual_server 203.0.113.1 80 {
        lb_algo rr   # old spellings, include, odd layout
        include part.conf
        real_server 198.51.100.1 80
        {
          weight 2
        }
    }
    """,
        name="one.conf",
    ).config
    two = files.load(
        """
    $M=DR
    virtual_server 203.0.113.1 80 { lvs_method $M
        real_server 198.51.100.1 80 { weight 2 }
        lvs_sched rr
    }
    """,
        name="two.conf",
    ).config
    assert dump_config(one) == dump_config(two)


def test_quoting_survives_the_round_trip():
    dumped, again = round_trip('vrrp_script s {\n    script "/bin/sh -c \'echo a#b\' \\"q\\""\n}\n', False)
    assert dumped == again
    assert 'script "/bin/sh -c \'echo a#b\' \\"q\\""' in dumped


def test_tunnels_scheduler_flags_and_every_port_round_trip():
    """The flags follow the scheduler (keepalived reads them by the lb_algo above), TUN keeps its type."""
    text = """virtual_server 198.51.100.50 {
    lb_algo mh
    mh-port
    flag-2
    lb_kind TUN type gue port 6080 csum
    protocol TCP
    real_server 198.51.100.60 {
        lvs_method TUN type gre
    }
}
"""
    dumped, again = round_trip(text, False)
    assert dumped == again
    lines = dumped.splitlines()
    assert lines[0] == "virtual_server 198.51.100.50 {"
    assert lines.index("    lvs_sched mh") < lines.index("    mh-port") < lines.index("    flag-2")
    assert "    lvs_method TUN type gue port 6080 csum" in lines
    assert "        lvs_method TUN type gre nocsum" in lines
