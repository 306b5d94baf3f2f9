"""Runs summed by outcome per day, group and number of tool calls
(``Store.run_outcomes``), their durations (``Store.run_durations``) and escalations
counted by trigger (``Store.escalation_triggers``): what the outcome report reads,
aggregated by the store instead of read run by run. The in-memory store counts with the
helpers here."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from proctor.store._records import EventRow, RunRecord

OutcomeGroup = Literal["workflow", "model", "contract"]
"""What ``run_outcomes`` groups runs by besides their day (``contract``: the contract's
content hash)."""
OUTCOME_GROUPS: tuple[OutcomeGroup, ...] = ("workflow", "model", "contract")
DAY_S = 86_400


@dataclass(frozen=True, kw_only=True, slots=True)
class RunOutcomes:
    """The runs of one UTC day and group that made as many tool calls, summed by the
    store (``Store.run_outcomes``): small enough to add up further in Python."""

    day: int
    """The UTC day the runs started, as days since the epoch."""
    key: str
    """The workflow, model or contract hash the runs share; ``''`` when not grouped."""
    tool_calls: int
    """How many tool calls each of these runs made (as of its last status)."""
    runs: int
    """Runs started, finished or not."""
    newest: float
    """When the newest of them started."""
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


def check_group(group_by: OutcomeGroup | None) -> None:
    """Refuse a grouping the stores do not know (the SQL names a column by it)."""
    if group_by is not None and group_by not in OUTCOME_GROUPS:
        raise ValueError(f"runs group by one of {', '.join(OUTCOME_GROUPS)}, not {group_by!r}")


def group_key(group_by: OutcomeGroup | None) -> Callable[[RunRecord], str]:
    """How the in-memory store keys a run for ``group_by``."""
    check_group(group_by)
    if group_by is None:
        return lambda run: ""
    column = "contract_hash" if group_by == "contract" else group_by
    return lambda run: str(getattr(run, column))


def day_number(started_at: float) -> int:
    return int(started_at // DAY_S)


def outcomes_of(day: int, key: str, tool_calls: int, runs: Sequence[RunRecord]) -> RunOutcomes:
    """``runs`` summed as the SQL stores sum them (for the in-memory store)."""
    finished = [run for run in runs if run.status == "finished"]
    priced = [run for run in finished if run.cost_usd is not None]
    outcomes = Counter(run.outcome for run in finished)
    return RunOutcomes(
        day=day,
        key=key,
        tool_calls=tool_calls,
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
    )


def triggers_of(escalations: Iterable[EventRow]) -> list[tuple[str, int]]:
    """Escalations (oldest first) counted by trigger, most first; ties in the order they
    first happened (for the in-memory store)."""
    return Counter(str(row.meta.get("trigger", "unknown")) for row in escalations).most_common()
