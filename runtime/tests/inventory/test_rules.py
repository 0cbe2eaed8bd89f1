"""One inventory per rule (cases/*.yml): each produces the finding it names, and no error of another rule."""

from __future__ import annotations

import pytest
from inventory_cases import CASES, load_case
from tandem.inventory import Severity, plan_inventory


@pytest.mark.parametrize("path", sorted(CASES.glob("*.yml")), ids=lambda p: p.stem)
def test_case_reports_its_rule(path):
    case = load_case(path)
    plan = plan_inventory(
        case["vrrp_groups"],
        case["active_active"],
        case["inventory"],
        case["virtual_servers"],
        case["global_settings"],
    )
    expect = case["expect"]
    if expect == []:
        assert plan.findings == []
        assert plan.instances, "a valid design is planned"
        return
    wanted = Severity(expect["severity"])
    matching = [
        f
        for f in plan.findings
        if f.severity is wanted
        and (f.group, f.host, f.field) == (expect["group"], expect["host"], expect["field"])
        and expect["message"] in f.message
    ]
    assert matching, f"expected {expect}, got {[str(f) for f in plan.findings]}"
    # The same rule may also speak for the other hosts or sets involved, in the same field.
    others = [f for f in plan.errors if f.field != expect["field"]]
    assert others == [], f"errors beyond the rule under test: {[str(f) for f in others]}"
    if wanted is Severity.ERROR:
        assert plan.as_dict() == {"hosts": {}, "instances": [], "dns_records": [], "real_server_sysctls": {}}
    else:
        assert plan.instances, "warnings do not stop the plan"
