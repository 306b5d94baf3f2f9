"""Figures shared by ``proctor eval diff`` and ``proctor report drift``.

A figure is measured on a baseline and a candidate; its change is candidate minus
baseline, and its relative change that change as a fraction of the baseline.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping


def relative(before: float | None, after: float | None) -> float | None:
    """``after - before`` as a fraction of ``before`` (``inf`` from a ``before`` of 0)."""
    if before is None or after is None:
        return None
    if before == 0:
        return 0.0 if after == 0 else float("inf")
    return (after - before) / before


class Figure:
    """``change`` and ``relative`` for a dataclass with ``baseline`` and ``candidate``."""

    baseline: float | None
    candidate: float | None

    @property
    def change(self) -> float | None:
        if self.baseline is None or self.candidate is None:
            return None
        return self.candidate - self.baseline

    @property
    def relative(self) -> float | None:
        """The change as a fraction of the baseline (``inf`` from a baseline of 0)."""
        return relative(self.baseline, self.candidate)


def call_counts(per_run: Iterable[Mapping[str, int]], tool: str) -> dict[int, int]:
    """Calls of ``tool`` per run -> number of runs, from each run's calls per tool."""
    return dict(sorted(Counter(counts.get(tool, 0) for counts in per_run).items()))


def mean_calls(counts: Mapping[int, int]) -> float:
    """The mean calls per run of a ``call_counts`` distribution (0 for no runs)."""
    runs = sum(counts.values())
    return sum(calls * n for calls, n in counts.items()) / runs if runs else 0.0
