"""Runs summed by outcome per day, group and number of tool calls
(``Store.run_outcomes``), their durations (``Store.run_durations``) and escalations
counted by trigger (``Store.escalation_triggers``): what the outcome report reads,
aggregated by the store instead of read run by run. The in-memory store counts with the
helpers here."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from proctor.store._records import EventRow, RunRecord

OutcomeGroup = Literal["workflow", "model", "contract"]
"""What ``run_outcomes`` groups runs by besides their day (``contract``: the contract's
content hash)."""
OUTCOME_GROUPS: tuple[OutcomeGroup, ...] = ("workflow", "model", "contract")
DAY_S = 86_400
COST_DIGITS = 12
"""A cell's cost is summed to 12 decimals (a millionth of a micro-dollar): sums added up in
different orders, or kept by adding and taking off, then agree."""


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


DurationCount = tuple[int, str, float, int]
"""``(day, key, duration, runs)``: how many finished runs of a day and group took this
long, the duration rounded to two significant digits (``Store.run_durations``)."""


def round_duration(seconds: float) -> float:
    """``seconds`` to two significant digits, half up on its exact binary value: what
    SQLite's ``printf('%.1e', x)`` gives, so every store rounds a duration alike."""
    if not seconds > 0:
        return 0.0
    if f"{seconds:.3e}"[3:5] != "50":  # not a tie: correctly rounded either way
        return float(f"{seconds:.1e}")
    exact = Decimal(seconds)
    step = Decimal(1).scaleb(exact.adjusted() - 1)
    return float(exact.quantize(step, rounding=ROUND_HALF_UP))


def durations_of(found: Iterable[tuple[int, str, float]]) -> list[DurationCount]:
    """``(day, key, duration)`` of finished runs counted per rounded duration, ascending
    (how the in-memory and PostgreSQL stores answer ``run_durations``)."""
    counted = Counter((day, key, round_duration(duration)) for day, key, duration in found)
    return sorted(
        ((day, key, value, runs) for (day, key, value), runs in counted.items()),
        key=lambda row: (row[2], row[0], row[1]),
    )


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
        cost_usd=round(sum(run.cost_usd or 0.0 for run in priced), COST_DIGITS),
        priced=len(priced),
        priced_resolved=sum(run.outcome == "resolved" for run in priced),
    )


def triggers_of(escalations: Iterable[EventRow]) -> list[tuple[str, int]]:
    """Escalations (oldest first) counted by trigger, most first; ties in the order they
    first happened (for the in-memory store)."""
    return Counter(str(row.meta.get("trigger", "unknown")) for row in escalations).most_common()
