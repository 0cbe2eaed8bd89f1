"""The fault-injection matrix in short form: each case once per pair of daemons of its short form, at
0.1 s adverts. The long form (more runs, every pair, the table) is ``python runtime/tests/faults/matrix.py
--long``."""

from __future__ import annotations

import pytest
from matrix import CASES, run_once, skip_reason

pytestmark = [pytest.mark.lab, pytest.mark.slow]

PARAMS = [
    pytest.param(
        name,
        kinds,
        id=f"{name}-{kinds[0][0].upper()}{kinds[1][0].upper()}",
        marks=[pytest.mark.interop] if {"keepalived", "frr"} & set(kinds) else [],
    )
    for name, (_, _, short_pairs) in CASES.items()
    for kinds in short_pairs
]


@pytest.mark.parametrize(("name", "kinds"), PARAMS)
def test_fault(make_lab, tmp_path, name, kinds):
    reason = skip_reason(name)
    if reason:
        pytest.skip(reason)
    result = run_once(name, kinds, tmp_path)
    figures = f"dual {result.dual * 1000:.0f} ms, unowned {result.unowned * 1000:.0f} ms"
    print(f"{name} {'/'.join(kinds)}: {figures}, spurious {result.spurious}; {'; '.join(result.notes)}")
    assert not result.failures, "\n".join(result.failures + result.notes)
