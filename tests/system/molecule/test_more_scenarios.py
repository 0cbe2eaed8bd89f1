"""The active_active and keepalived_mixed molecule scenarios, run for real (see test_molecule.py).

- ``active_active``: two hosts x two VIPs deployed by playbooks/site.yml, the DNS name published to a
  real BIND9 in the lab; one host is killed and the survivor must answer for both VIPs.
- ``keepalived_mixed``: Debian's keepalived and tandemd in one group, failover both ways, then
  playbooks/migrate_from_keepalived.yml converts the keepalived host while a client pings the VIP; the
  longest unanswered stretch must stay below one master down interval (printed by the scenario).
"""

from __future__ import annotations

import re

import pytest
from test_molecule import Lab, _log, lab  # noqa: F401  (lab: the fixture, shared)

pytestmark = [pytest.mark.slow, pytest.mark.molecule, pytest.mark.lab]

# Each scenario with the steps its log must show as successful, and text its output must contain.
SCENARIOS = {
    "active_active": (
        ("converge", "verify", "side_effect"),
        ("www.lab.test. A 198.51.100.41 198.51.100.42",),
    ),
    "keepalived_mixed": (("converge", "verify", "side_effect"), ("longest VIP gap during the migration",)),
}


@pytest.mark.timeout(1200)
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_scenario(lab: Lab, scenario: str) -> None:  # noqa: F811
    proc = lab.molecule("test", "-s", scenario, timeout=1200)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"molecule test -s {scenario} failed:\n{_log(proc)}"
    steps, texts = SCENARIOS[scenario]
    for step in steps:
        assert f"{step}: Executed: Successful" in out, f"{step} did not run"
    for text in texts:
        assert text in out, f"{text!r} missing from the output"
    gap = re.search(r"longest VIP gap during the migration: [^\n]*", out)
    if gap:
        print(gap.group(0))
    assert not lab.cleanup(), "molecule destroy left containers or namespaces behind"
