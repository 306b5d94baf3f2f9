"""Drift reports: one contract version's production runs against another's, in a window.

Each side is the finished runs of one workflow started under one contract version (by
content hash) in ``[since, until)``; runs still running or waiting for approval are
counted apart and left out of every figure. Per side: resolved, failure and escalation
rate, mean tool calls per run and each tool's calls-per-run distribution (proposed
calls, as ``max_tool_calls`` counts them), cost per run and cost per resolved run (all
spend over the resolved runs: the cost of a successful task). A change *alerts* when
it crosses its threshold (``DriftThresholds``); docs/rollout.md defines each figure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from proctor.reports._metrics import Figure, relative
from proctor.reports._production import (
    NoRunsError,
    Version,
    VersionRuns,
    iso,
    side_json,
    version_runs,
)
from proctor.store import Store

Gate = Literal["failure", "escalation", "tool_calls", "cost"]
"""What a metric watches; ``proctor rollout promote`` refuses while any of them alerts."""

_EPSILON = 1e-12  # a change exactly at its threshold does not alert


@dataclass(frozen=True, kw_only=True)
class DriftThresholds:
    """When a change alerts. Rates are fractions (0.05 is 5 points); changes in tool calls
    and cost are relative (0.2 is 20 percent)."""

    resolved_rate_drop: float = 0.05
    failure_rate_rise: float = 0.05
    escalation_rate_change: float = 0.05
    """Either way: fewer escalations may mean the candidate stopped escalating."""
    tool_calls_change: float = 0.2
    """Either way, for the mean and for each tool: fewer calls may be skipped steps."""
    cost_rise: float = 0.2


@dataclass(frozen=True, kw_only=True)
class DriftMetric(Figure):
    """One figure on both sides; ``change`` is candidate minus baseline."""

    key: str
    name: str
    gate: Gate
    baseline: float | None
    candidate: float | None
    threshold: str
    """When it alerts, in words (e.g. ``rise > 20%``)."""
    alert: bool = False


@dataclass(frozen=True, kw_only=True)
class ToolDrift:
    """How often one tool is called per run on both sides."""

    tool: str
    baseline_mean: float
    candidate_mean: float
    baseline_counts: dict[int, int]
    candidate_counts: dict[int, int]
    alert: bool = False


@dataclass(frozen=True, kw_only=True)
class DriftReport:
    """A baseline version against a candidate, over runs started in ``[since, until)``."""

    workflow: str
    since: float
    until: float
    baseline: VersionRuns
    candidate: VersionRuns
    thresholds: DriftThresholds
    metrics: list[DriftMetric]
    tools: list[ToolDrift]

    @property
    def alerts(self) -> list[str]:
        """One sentence per alerting change, saying what moved and past which threshold."""
        return [text for _, text in self.gated_alerts()]

    def gated_alerts(self) -> list[tuple[Gate, str]]:
        """``alerts``, each with what it watches."""
        found: list[tuple[Gate, str]] = [
            (
                m.gate,
                f"{m.name}: {show(m.baseline, m.key)} -> {show(m.candidate, m.key)} "
                f"({m.threshold})",
            )
            for m in self.metrics
            if m.alert
        ]
        limit = f"change > {self.thresholds.tool_calls_change:.0%}"
        found.extend(
            (
                "tool_calls",
                f"{t.tool} calls per run: {t.baseline_mean:.2f} -> {t.candidate_mean:.2f} "
                f"({'not called under the baseline' if t.baseline_mean == 0 else limit})",
            )
            for t in self.tools
            if t.alert
        )
        return found

    @property
    def alerting(self) -> bool:
        return any(m.alert for m in self.metrics) or any(t.alert for t in self.tools)

    def metric(self, key: str) -> DriftMetric:
        return next(m for m in self.metrics if m.key == key)

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready values (``proctor report drift --json``)."""

        def finite(value: float | None) -> float | None:
            return None if value is None or value == float("inf") else value

        return {
            "workflow": self.workflow,
            "since": iso(self.since),
            "until": iso(self.until),
            "baseline": side_json(self.baseline),
            "candidate": side_json(self.candidate),
            "alert": self.alerting,
            "alerts": self.alerts,
            "metrics": [
                {
                    "metric": m.key,
                    "name": m.name,
                    "baseline": m.baseline,
                    "candidate": m.candidate,
                    "change": m.change,
                    "relative": finite(m.relative),
                    "threshold": m.threshold,
                    "alert": m.alert,
                }
                for m in self.metrics
            ],
            "tools": [
                {
                    "tool": t.tool,
                    "baseline_mean": t.baseline_mean,
                    "candidate_mean": t.candidate_mean,
                    "baseline_counts": {str(k): v for k, v in t.baseline_counts.items()},
                    "candidate_counts": {str(k): v for k, v in t.candidate_counts.items()},
                    "alert": t.alert,
                }
                for t in self.tools
            ],
            "thresholds": vars(self.thresholds),
        }


def show(value: float | None, key: str) -> str:
    """A figure as people read it: rates in percent, costs in dollars."""
    if value is None:
        return "-"
    if key.endswith("_rate"):
        return f"{value:.1%}"
    if key.startswith("cost"):
        return f"-${-value:.6f}" if value < 0 else f"${value:.6f}"
    return f"{value:.2f}"


def compare(
    workflow: str,
    baseline: VersionRuns,
    candidate: VersionRuns,
    *,
    since: float,
    until: float,
    thresholds: DriftThresholds | None = None,
) -> DriftReport:
    """Compare two versions' figures. Both need finished runs (``NoRunsError``)."""
    for side, figures in (("baseline", baseline), ("candidate", candidate)):
        if not figures.runs:
            waiting = f" ({figures.in_progress} still in progress)" if figures.in_progress else ""
            raise NoRunsError(
                f"no finished runs of {workflow!r} under the {side} {figures.version.name} "
                f"started since {iso(since)}{waiting}. Fix: widen the window with --since, "
                "or check the version with `proctor contract versions`"
            )
    limits = thresholds or DriftThresholds()
    metrics = [_metric(*spec, baseline, candidate, limits) for spec in _METRICS]
    tools = []
    for tool in sorted({*baseline.tools, *candidate.tools}):
        before, after = baseline.tool_mean(tool), candidate.tool_mean(tool)
        shift = relative(before, after)
        tools.append(
            ToolDrift(
                tool=tool,
                baseline_mean=before,
                candidate_mean=after,
                baseline_counts=baseline.tools.get(tool, {0: baseline.runs}),
                candidate_counts=candidate.tools.get(tool, {0: candidate.runs}),
                # A tool new under the candidate is an infinite change: it always alerts.
                alert=shift is not None and abs(shift) > limits.tool_calls_change + _EPSILON,
            )
        )
    return DriftReport(
        workflow=workflow,
        since=since,
        until=until,
        baseline=baseline,
        candidate=candidate,
        thresholds=limits,
        metrics=metrics,
        tools=tools,
    )


_METRICS: tuple[tuple[str, str, Gate], ...] = (
    ("resolved_rate", "resolved rate", "failure"),
    ("failure_rate", "failure rate", "failure"),
    ("escalation_rate", "escalation rate", "escalation"),
    ("tool_calls_per_run", "mean tool calls per run", "tool_calls"),
    ("cost_per_run", "cost per run (USD)", "cost"),
    ("cost_per_resolved_run", "cost per resolved run (USD)", "cost"),
)


def _metric(
    key: str,
    name: str,
    gate: Gate,
    baseline: VersionRuns,
    candidate: VersionRuns,
    limits: DriftThresholds,
) -> DriftMetric:
    before: float | None = getattr(baseline, key)
    after: float | None = getattr(candidate, key)
    change = None if before is None or after is None else after - before
    shift = relative(before, after)
    if key == "resolved_rate":
        threshold = f"drop > {limits.resolved_rate_drop * 100:g} points"
        alert = change is not None and -change > limits.resolved_rate_drop + _EPSILON
    elif key == "failure_rate":
        threshold = f"rise > {limits.failure_rate_rise * 100:g} points"
        alert = change is not None and change > limits.failure_rate_rise + _EPSILON
    elif key == "escalation_rate":
        threshold = f"change > {limits.escalation_rate_change * 100:g} points"
        alert = change is not None and abs(change) > limits.escalation_rate_change + _EPSILON
    elif key == "tool_calls_per_run":
        threshold = f"change > {limits.tool_calls_change:.0%}"
        alert = shift is not None and abs(shift) > limits.tool_calls_change + _EPSILON
    else:
        threshold = f"rise > {limits.cost_rise:.0%}"
        alert = shift is not None and shift > limits.cost_rise + _EPSILON
    return DriftMetric(
        key=key,
        name=name,
        gate=gate,
        baseline=before,
        candidate=after,
        threshold=threshold,
        alert=alert,
    )


async def drift_report(
    store: Store,
    workflow: str,
    baseline: Version,
    candidate: Version,
    *,
    since: float,
    until: float,
    thresholds: DriftThresholds | None = None,
) -> DriftReport:
    """Read both versions' runs of ``workflow`` in the window and compare them."""
    before = await version_runs(store, workflow, baseline, since=since, until=until)
    after = await version_runs(store, workflow, candidate, since=since, until=until)
    return compare(workflow, before, after, since=since, until=until, thresholds=thresholds)
