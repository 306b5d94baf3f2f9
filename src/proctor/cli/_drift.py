"""Production runs compared, for ``proctor report`` and ``proctor rollout``: the window,
the alert thresholds, the workflow's terms, and how a drift report looks.

Commands import this module in their bodies: it loads the evals layer.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from rich.text import Text

from proctor.cli._context import console
from proctor.cli._options import stored_name
from proctor.cli._render import new_table
from proctor.cli._workflows import load_workflow
from proctor.contracts import Contract, load_contract
from proctor.reports import (
    DriftReport,
    DriftThresholds,
    RolloutStatus,
    VersionRuns,
    iso,
    parse_since,
    show,
    side_json,
)


def window(
    since: str, resolved: float, failure: float, escalation: float, tools: float, cost: float
) -> tuple[float, float, DriftThresholds]:
    """The window ``[start, now)`` that ``--since`` names, and the alert thresholds."""
    now = time.time()
    limits = DriftThresholds(
        resolved_rate_drop=resolved,
        failure_rate_rise=failure,
        escalation_rate_change=escalation,
        tool_calls_change=tools,
        cost_rise=cost,
    )
    return parse_since(since, now=now), now, limits


def terms_of(workflow: str, contract: Path | None) -> tuple[str, Contract]:
    """The workflow's stored name and its contract (from ``contract`` if given)."""
    if contract is not None:
        name = stored_name(workflow) or workflow
        return name, load_contract(contract, workflow=name)
    flow = load_workflow(workflow)
    return flow.name, flow.contract


def where(workflow: str, contract: Path | None) -> str:
    """Where the rollout should be declared, as its error messages name it."""
    return f"in {contract}" if contract is not None else f"of workflow {workflow!r}"


def _side(figures: VersionRuns) -> str:
    waiting = f", {figures.in_progress} in progress" if figures.in_progress else ""
    return f"{figures.version.name}: {figures.runs} finished run(s){waiting}"


def _change(value: float | None, relative: float | None, key: str) -> str:
    if value is None:
        return "-"
    if key.endswith("_rate"):
        return f"{value * 100:+.1f} pts"
    text = show(value, key) if key.startswith("cost") else f"{value:+.2f}"
    if key.startswith("cost") and value >= 0:
        text = "+" + text
    if relative is not None and relative != float("inf"):
        text += f" ({relative:+.0%})"
    return text


def _flag(alert: bool) -> Text:
    return Text("⚑ alert", style="bold red") if alert else Text("")


def print_drift(report: DriftReport) -> None:
    """The two versions' runs, each metric with its change, the tools, and the alerts."""
    console.print(
        f"{report.workflow}: runs started {iso(report.since)} to {iso(report.until)}\n"
        f"  baseline  {_side(report.baseline)}\n  candidate {_side(report.candidate)}",
        markup=False,
        highlight=False,
    )
    table = new_table()
    for column in ("metric", "baseline", "candidate", "change", "flag"):
        table.add_column(column, justify="left" if column in ("metric", "flag") else "right")
    for m in report.metrics:
        table.add_row(
            m.name,
            show(m.baseline, m.key),
            show(m.candidate, m.key),
            _change(m.change, m.relative, m.key),
            _flag(m.alert),
        )
    console.print(table)
    tools = new_table("tool calls per run")
    for column in ("tool", "baseline", "candidate", "flag", "distribution (calls: runs)"):
        tools.add_column(column, justify="right" if column in ("baseline", "candidate") else "left")
    for t in report.tools:
        spread = f"{_counts(t.baseline_counts)} -> {_counts(t.candidate_counts)}"
        tools.add_row(
            t.tool, f"{t.baseline_mean:.2f}", f"{t.candidate_mean:.2f}", _flag(t.alert), spread
        )
    if report.tools:
        console.print(tools)
    alerts = report.alerts
    if alerts:
        console.print(Text(f"{len(alerts)} drift alert(s)", style="bold red"))
    else:
        console.print("no drift alert")


def _counts(counts: dict[int, int]) -> str:
    return ", ".join(f"{calls}: {runs}" for calls, runs in counts.items()) or "-"


def status_json(status: RolloutStatus) -> dict[str, Any]:
    """A rollout's status, as ``rollout status --json`` prints it."""
    return {
        "workflow": status.workflow,
        "percent": status.percent,
        "since": iso(status.since),
        "until": iso(status.until),
        "baseline": side_json(status.baseline),
        "candidate": side_json(status.candidate),
        "other_runs": status.other_runs,
        "candidate_share": status.candidate_share,
        "drift": None if status.drift is None else status.drift.as_dict(),
        "no_drift": status.no_drift,
    }


def print_status(status: RolloutStatus) -> None:
    """How runs split between the contract and its candidate, then the drift report."""
    console.print(
        f"{status.workflow}: rollout at {status.percent:g}% to the candidate, runs started "
        f"{iso(status.since)} to {iso(status.until)}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    table = new_table()
    for column in ("", "version", "finished", "in progress", "share"):
        table.add_column(
            column, justify="right" if column in ("finished", "in progress", "share") else "left"
        )
    total = sum(f.runs + f.in_progress for f in (status.baseline, status.candidate))
    for role, figures in (("baseline", status.baseline), ("candidate", status.candidate)):
        started = figures.runs + figures.in_progress
        share = f"{started / total:.1%}" if total else "-"
        table.add_row(
            role, figures.version.name, str(figures.runs), str(figures.in_progress), share
        )
    console.print(table)
    if status.other_runs:
        console.print(f"  and {status.other_runs} run(s) under other contract versions")
    if status.drift is not None:
        print_drift(status.drift)
    else:
        console.print(f"no drift report: {status.no_drift}", markup=False, highlight=False)
