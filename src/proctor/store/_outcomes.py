"""Runs summed per group by outcome (``Store.run_outcomes``) and escalations counted by
trigger (``Store.escalation_triggers``): what the outcome report reads, aggregated by the
store instead of read run by run. The in-memory store counts with the helpers here."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from proctor.store._records import EventRow, RunRecord

OutcomeGroup = Literal["workflow", "model", "contract", "day"]
"""What ``run_outcomes`` groups runs by (``contract``: the contract's content hash;
``day``: the UTC day the run started, as days since the epoch)."""
OUTCOME_GROUPS: tuple[OutcomeGroup, ...] = ("workflow", "model", "contract", "day")
QUANTILES = (0.50, 0.90, 0.99)
"""The latency percentiles ``RunOutcomes`` holds (nearest rank)."""
DAY_S = 86_400


@dataclass(frozen=True, kw_only=True, slots=True)
class RunOutcomes:
    """One group of runs, summed by the store (``Store.run_outcomes``)."""

    key: str
    """The workflow, the model, the contract hash, or the UTC day number (days since the
    epoch, in decimal) the group's runs share; ``''`` when not grouped."""
    runs: int
    """Runs started, finished or not."""
    newest: float
    """When the group's newest run started (orders groups of as many runs)."""
    finished: int
    resolved: int
    escalated: int
    draft_only: int
    failed: int
    cost_usd: float
    """Total cost of the finished runs whose cost is known."""
    priced: int
    """Finished runs whose cost is known."""
    priced_resolved: int
    """Resolved runs among those."""
    tool_calls: int
    """Tool calls of the finished runs, summed."""
    tool_call_counts: tuple[tuple[int, int], ...]
    """Finished runs per number of tool calls: (calls, runs), ascending."""
    latency_s: tuple[float | None, ...]
    """The nearest-rank ``QUANTILES`` of the finished runs' durations (``None``: none)."""


def nearest_rank(count: int, q: float) -> int:
    """The 1-based rank of the nearest-rank ``q`` percentile among ``count`` values
    (computed in floating point, as the SQL stores compute it)."""
    return max(1, math.ceil(q * count))


def group_key(group_by: OutcomeGroup | None) -> Callable[[RunRecord], str]:
    """How the in-memory store keys a run for ``group_by``."""
    if group_by is None:
        return lambda run: ""
    if group_by == "day":
        return lambda run: str(int(run.started_at // DAY_S))
    column = "contract_hash" if group_by == "contract" else group_by
    return lambda run: str(getattr(run, column))


def outcomes_of(key: str, runs: Sequence[RunRecord]) -> RunOutcomes:
    """``runs`` summed as the SQL stores sum them (for the in-memory store)."""
    finished = [run for run in runs if run.status == "finished"]
    priced = [run for run in finished if run.cost_usd is not None]
    outcomes = Counter(run.outcome for run in finished)
    durations = sorted(run.duration_s for run in finished)
    return RunOutcomes(
        key=key,
        runs=len(runs),
        newest=max(run.started_at for run in runs),
        finished=len(finished),
        resolved=outcomes["resolved"],
        escalated=outcomes["escalated"],
        draft_only=outcomes["draft_only"],
        failed=outcomes["failed"],
        cost_usd=sum(run.cost_usd or 0.0 for run in priced),
        priced=len(priced),
        priced_resolved=sum(run.outcome == "resolved" for run in priced),
        tool_calls=sum(run.tool_calls for run in finished),
        tool_call_counts=tuple(sorted(Counter(run.tool_calls for run in finished).items())),
        latency_s=tuple(
            durations[nearest_rank(len(durations), q) - 1] if durations else None for q in QUANTILES
        ),
    )


def triggers_of(escalations: Iterable[EventRow]) -> list[tuple[str, int]]:
    """Escalations (oldest first) counted by trigger, most first; ties in the order they
    first happened (for the in-memory store)."""
    return Counter(str(row.meta.get("trigger", "unknown")) for row in escalations).most_common()
