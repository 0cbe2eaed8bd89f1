"""The ranges inventory keyword fields take, read from their validators (``limits``: the runtime
reader's own bounds, narrowed where the inventory says so): values at and just outside their ends, and
hypothesis strategies that span them. Shared by test_keyword_fields and the property test of
test_render, so neither keeps a copy of a keepalived limit."""

from __future__ import annotations

from decimal import Decimal

import voluptuous
from hypothesis import strategies as st


def leaf(schema, name: str):
    """The validator of field ``name`` in a voluptuous mapping schema (through Schema and All)."""
    mapping = schema.schema if isinstance(schema, voluptuous.Schema) else schema
    if isinstance(mapping, voluptuous.All):
        mapping = mapping.validators[0]
    (validator,) = [v for k, v in mapping.items() if getattr(k, "schema", k) == name]
    return validator


def _step(limits) -> Decimal:
    return Decimal(1).scaleb(-limits.places)


def _value(number: Decimal, limits) -> int | float:
    return int(number) if limits.places == 0 and not limits.seconds else float(number)


def _ends(limits) -> tuple[Decimal, Decimal]:
    return Decimal(repr(limits.low)), Decimal(repr(limits.high))


def inside(limits) -> list:
    """Both ends, and the lowest value with every decimal place the reader takes."""
    low, high = _ends(limits)
    values = [low, high, *([low + _step(limits)] if limits.places else [])]
    return [_value(v, limits) for v in values]


def outside(limits) -> list:
    """One step past each end; a fraction of whole seconds, a decimal place more than a <TIMER> reads."""
    low, high = _ends(limits)
    values = [low - _step(limits), high + _step(limits)]
    if limits.seconds:
        values.append(low + _step(limits) / 2 if limits.places else low + Decimal("0.5"))
    return [_value(v, limits) for v in values]


def across(validator) -> st.SearchStrategy:
    """Values over the whole range ``validator`` takes: its ends, anything between (with every decimal
    place it takes), and one in ten just outside or with one decimal place too many."""
    limits = validator.limits
    low, high = _ends(limits)
    if limits.places == 0:
        between = st.integers(int(low), int(high)).map(lambda v: _value(Decimal(v), limits))
    else:
        between = st.decimals(low, high, places=limits.places).map(float)
    wrong = st.sampled_from(outside(limits))
    if limits.places:
        wrong = st.one_of(wrong, st.decimals(low, min(high, low + 10), places=limits.places + 1).map(float))
    good = st.one_of(st.sampled_from(inside(limits)), between)
    return st.integers(0, 9).flatmap(lambda pick: wrong if pick == 0 else good)  # 1 in 10 wrong
