"""Comparing two suite results: what changed between a baseline and a candidate.

Figures are over the cases that ran (a case that could not be replayed counts only in
the pass rate). A change is *flagged* when it crosses its threshold:

* pass rate: a drop of more than ``pass_rate_drop`` (a fraction: 0.05 is 5 points);
* mean tool calls per run, and each tool's mean calls per run: a relative change of more
  than ``tool_calls_change`` either way (fewer calls may be skipped steps), or a tool
  that appears or disappears;
* cost per run: a relative increase of more than ``cost_change``;
* escalation rate: a change of more than ``escalation_change`` either way (a fraction).

Every case that passed in the baseline and fails in the candidate is flagged too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from proctor.evals._results import CaseResult, SuiteResult
from proctor.reports import Figure, call_counts, mean_calls, relative


@dataclass(frozen=True, kw_only=True)
class DiffThresholds:
    pass_rate_drop: float = 0.0
    tool_calls_change: float = 0.2
    cost_change: float = 0.2
    escalation_change: float = 0.05


@dataclass(frozen=True, kw_only=True)
class MetricChange(Figure):
    """One figure in both results; ``change`` is candidate minus baseline."""

    name: str
    baseline: float | None
    candidate: float | None
    flagged: bool = False


@dataclass(frozen=True, kw_only=True)
class ToolChange:
    """How often one tool is called per run, in both results."""

    tool: str
    baseline_mean: float
    candidate_mean: float
    baseline_counts: dict[int, int] = field(default_factory=dict)
    """Calls per run -> number of runs (the distribution)."""
    candidate_counts: dict[int, int] = field(default_factory=dict)
    flagged: bool = False


@dataclass(frozen=True, kw_only=True)
class SuiteDiff:
    baseline: str
    candidate: str
    metrics: list[MetricChange]
    tools: list[ToolChange]
    newly_failing: list[str] = field(default_factory=list)
    newly_passing: list[str] = field(default_factory=list)
    only_in_baseline: list[str] = field(default_factory=list)
    only_in_candidate: list[str] = field(default_factory=list)

    @property
    def flagged(self) -> bool:
        return (
            bool(self.newly_failing)
            or any(m.flagged for m in self.metrics)
            or any(t.flagged for t in self.tools)
        )

    def metric(self, name: str) -> MetricChange:
        return next(m for m in self.metrics if m.name == name)


def _ran(result: SuiteResult) -> list[CaseResult]:
    return [case for case in result.cases if case.error is None]


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _cost(cases: list[CaseResult]) -> float | None:
    return _mean([c.cost_usd for c in cases if c.cost_usd is not None])


def diff_results(
    baseline: SuiteResult, candidate: SuiteResult, thresholds: DiffThresholds | None = None
) -> SuiteDiff:
    """Compare two results of (usually) the same suite, case by case and in aggregate."""
    limits = thresholds or DiffThresholds()
    before, after = _ran(baseline), _ran(candidate)
    tool_before = _mean([c.tool_calls for c in before])
    tool_after = _mean([c.tool_calls for c in after])
    tool_shift = relative(tool_before, tool_after)
    cost_before, cost_after = _cost(before), _cost(after)
    cost_shift = relative(cost_before, cost_after)
    rate_before = sum(c.outcome == "escalated" for c in before) / len(before) if before else None
    rate_after = sum(c.outcome == "escalated" for c in after) / len(after) if after else None
    metrics = [
        MetricChange(
            name="pass rate",
            baseline=baseline.pass_rate,
            candidate=candidate.pass_rate,
            flagged=baseline.pass_rate - candidate.pass_rate > limits.pass_rate_drop + 1e-12,
        ),
        MetricChange(
            name="mean tool calls per run",
            baseline=tool_before,
            candidate=tool_after,
            flagged=tool_shift is not None and abs(tool_shift) > limits.tool_calls_change,
        ),
        MetricChange(
            name="cost per run (USD)",
            baseline=cost_before,
            candidate=cost_after,
            flagged=cost_shift is not None and cost_shift > limits.cost_change,
        ),
        MetricChange(
            name="escalation rate",
            baseline=rate_before,
            candidate=rate_after,
            flagged=rate_before is not None
            and rate_after is not None
            and abs(rate_after - rate_before) > limits.escalation_change + 1e-12,
        ),
    ]
    old = {case.id: case for case in baseline.cases}
    new = {case.id: case for case in candidate.cases}
    return SuiteDiff(
        baseline=baseline.suite,
        candidate=candidate.suite,
        metrics=metrics,
        tools=_tools(before, after, limits),
        newly_failing=[i for i in new if i in old and old[i].passed and not new[i].passed],
        newly_passing=[i for i in new if i in old and not old[i].passed and new[i].passed],
        only_in_baseline=[i for i in old if i not in new],
        only_in_candidate=[i for i in new if i not in old],
    )


def _tools(
    before: list[CaseResult], after: list[CaseResult], limits: DiffThresholds
) -> list[ToolChange]:
    names = sorted({t for case in [*before, *after] for t in case.calls})
    changes = []
    for tool in names:
        counts_before = call_counts((case.tool_counts() for case in before), tool)
        counts_after = call_counts((case.tool_counts() for case in after), tool)
        mean_before = mean_calls(counts_before)
        mean_after = mean_calls(counts_after)
        shift = relative(mean_before, mean_after)
        changes.append(
            ToolChange(
                tool=tool,
                baseline_mean=mean_before,
                candidate_mean=mean_after,
                baseline_counts=counts_before,
                candidate_counts=counts_after,
                flagged=(mean_before == 0) != (mean_after == 0)
                or (shift is not None and abs(shift) > limits.tool_calls_change),
            )
        )
    return changes
