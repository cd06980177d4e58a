"""Weighted random choice from a fixed table, cheaper than `random.choices` per call."""

from __future__ import annotations

import random
from bisect import bisect
from collections.abc import Iterable, Sequence
from itertools import accumulate
from typing import Generic, TypeVar

T = TypeVar("T")


class Weighted(Generic[T]):
    """Items with relative weights; `pick(rng)` returns one (weight 0 is never picked)."""

    __slots__ = ("items", "_cumulative", "_total")

    def __init__(self, pairs: Iterable[tuple[T, float]]) -> None:
        rows = [(item, weight) for item, weight in pairs if weight > 0]
        if not rows:
            raise ValueError("a weighted table needs at least one positive weight")
        self.items = tuple(item for item, _ in rows)
        self._cumulative = tuple(accumulate(weight for _, weight in rows))
        self._total = self._cumulative[-1]

    def pick(self, rng: random.Random) -> T:
        return self.items[bisect(self._cumulative, rng.random() * self._total)]


def choose(rng: random.Random, items: Sequence[T]) -> T:
    """One of `items`, equally likely: `rng.choice` without its Python-level rejection loop."""
    return items[int(rng.random() * len(items))]
