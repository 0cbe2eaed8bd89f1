"""The README's main job, run as the README says: the demo deploys with the collection's site.yml onto
two systemd hosts, drills a failover with failover_drill.yml while a client pings the VIP, and tears
everything down."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from tandemlab import cleanup

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slow, pytest.mark.molecule, pytest.mark.lab]


def test_demo_deploys_drills_a_failover_and_cleans_up():
    result = subprocess.run(
        ["bash", "scripts/demo.sh"], cwd=ROOT, capture_output=True, text=True, timeout=900, check=False
    )
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-8000:]
    assert "web       MASTER  150/150" in out  # tandemctl status on tandem-a, before and after the drill
    assert "failover: tandem-a -> tandem-b" in out
    summary = re.search(
        r"The client got (\d+) replies from \S+; the longest time without one was (\d+) ms", out
    )
    assert summary, out[-4000:]
    replies, silence_ms = map(int, summary.groups())
    assert replies > 100
    # tandemd is stopped on the master: its priority-0 advert hands over after Skew_Time (0.61 s here),
    # far below Master_Down_Interval (3.6 s), the bound for any failover of this group.
    assert silence_ms < 3600
    prefix = re.search(r"(tandemlab-\d+-\d+)-tandem-a", out).group(1)
    assert cleanup.lab_parts(prefix) == ([], [])
