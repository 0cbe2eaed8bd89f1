"""Finding what is used twice where it must be unique (VIPs, instance names, DNS names)."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def repeats(items: Iterable[T], key: Callable[[T], Hashable]) -> Iterator[tuple[T, T]]:
    """Each item whose key an earlier item already had, paired with that earlier item."""
    first: dict[Hashable, T] = {}
    for item in items:
        owner = first.setdefault(key(item), item)
        if owner is not item:
            yield item, owner
