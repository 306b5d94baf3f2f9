"""``proctor report drift`` and ``proctor rollout status|promote``.

Exit codes, for CI: ``report drift`` exits 0 when no change crosses its threshold and 1
when one does; ``rollout promote`` exits 1 when it refuses. Errors (an unknown workflow
or version, no runs in the window) are one line on stderr, exit 1 (2 for usage errors).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from proctor.cli import _render as render
from proctor.cli._app import _with_store, console, report_app, rollout_app
from proctor.cli._options import MAX_COUNT, finite
from proctor.cli._workflows import load_workflow
from proctor.contracts import Contract, load_contract
from proctor.errors import UsageError
from proctor.reports import (
    MIN_RUNS,
    DriftReport,
    DriftThresholds,
    RolloutStatus,
    Version,
    VersionRuns,
    check_promotion,
    drift_report,
    find_version,
    iso,
    parse_since,
    promote_candidate,
    rollout_of,
    rollout_status,
    show,
    side_json,
)
from proctor.store import Store

_SINCE = typer.Option("7d", "--since", help="Runs started since: 7d, 24h, 90m or an ISO date.")
_CONTRACT = typer.Option(
    None, "--contract", help="The workflow's contract file (the one declaring the rollout)."
)
_JSON = typer.Option(False, "--json", help="Print the report as JSON.")
_RESOLVED = typer.Option(
    0.05,
    "--max-resolved-drop",
    min=0.0,
    callback=finite,
    help="Alert on a drop in resolved rate (0-1).",
)
_FAILURE = typer.Option(
    0.05,
    "--max-failure-rise",
    min=0.0,
    callback=finite,
    help="Alert on a rise in failure rate (0-1).",
)
_ESCALATION = typer.Option(
    0.05,
    "--max-escalation-change",
    min=0.0,
    callback=finite,
    help="Alert on a change in escalation rate (0-1).",
)
_TOOLS = typer.Option(
    0.2,
    "--max-tool-calls-change",
    min=0.0,
    callback=finite,
    help="Alert on a relative change in tool calls.",
)
_COST = typer.Option(
    0.2, "--max-cost-rise", min=0.0, callback=finite, help="Alert on a relative rise in cost."
)


def _window(
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


def _store_name(workflow: str) -> str:
    """The name runs of ``workflow`` are stored under (importing it if it is a module ref)."""
    return load_workflow(workflow).name if ":" in workflow else workflow


def _terms(workflow: str, contract: Path | None) -> tuple[str, Contract]:
    """The workflow's stored name and its contract (from ``contract`` if given)."""
    if contract is not None:
        name = _store_name(workflow)
        return name, load_contract(contract, workflow=name)
    flow = load_workflow(workflow)
    return flow.name, flow.contract


def _where(workflow: str, contract: Path | None) -> str:
    return f"in {contract}" if contract is not None else f"of workflow {workflow!r}"


@report_app.command("drift")
def report_drift(
    workflow: str = typer.Option(..., "--workflow", "-w", help="Workflow name or module:attr."),
    baseline: str | None = typer.Option(
        None, "--baseline", help="Version label or hash prefix (default: the current contract)."
    ),
    candidate: str | None = typer.Option(
        None, "--candidate", help="Version label or hash prefix (default: the rollout's)."
    ),
    contract: Path | None = _CONTRACT,
    since: str = _SINCE,
    as_json: bool = _JSON,
    max_resolved_drop: float = _RESOLVED,
    max_failure_rise: float = _FAILURE,
    max_escalation_change: float = _ESCALATION,
    max_tool_calls_change: float = _TOOLS,
    max_cost_rise: float = _COST,
) -> None:
    """Compare two contract versions over production runs. Exit 1 if a change alerts."""
    start, now, limits = _window(
        since,
        max_resolved_drop,
        max_failure_rise,
        max_escalation_change,
        max_tool_calls_change,
        max_cost_rise,
    )

    async def work(store: Store) -> DriftReport:
        if baseline is not None and candidate is not None:
            name = _store_name(workflow)
            old, new = (
                await find_version(store, name, baseline),
                await find_version(store, name, candidate),
            )
        else:
            name, terms = _terms(workflow, contract)
            rollout = rollout_of(terms, where=_where(workflow, contract))
            old = await find_version(store, name, baseline) if baseline else Version.of(terms)
            new = (
                await find_version(store, name, candidate)
                if candidate
                else Version.of(rollout.contract)
            )
        return await drift_report(store, name, old, new, since=start, until=now, thresholds=limits)

    report = _with_store(work)
    if as_json:
        print(render.to_json(report.as_dict()))
    else:
        _print_drift(report)
    if report.alerting:
        raise typer.Exit(1)


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


def _print_drift(report: DriftReport) -> None:
    console.print(
        f"{report.workflow}: runs started {iso(report.since)} to {iso(report.until)}\n"
        f"  baseline  {_side(report.baseline)}\n  candidate {_side(report.candidate)}",
        markup=False,
        highlight=False,
    )
    table = Table(box=box.SIMPLE_HEAD)
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
    tools = Table(title="tool calls per run", title_justify="left", box=box.SIMPLE_HEAD)
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


@rollout_app.command("status")
def rollout_status_cmd(
    workflow: str = typer.Argument(..., help="Workflow name or module:attr."),
    contract: Path | None = _CONTRACT,
    since: str = _SINCE,
    as_json: bool = _JSON,
    max_resolved_drop: float = _RESOLVED,
    max_failure_rise: float = _FAILURE,
    max_escalation_change: float = _ESCALATION,
    max_tool_calls_change: float = _TOOLS,
    max_cost_rise: float = _COST,
) -> None:
    """Show how runs split between the contract and its candidate, and the drift."""
    start, now, limits = _window(
        since,
        max_resolved_drop,
        max_failure_rise,
        max_escalation_change,
        max_tool_calls_change,
        max_cost_rise,
    )
    name, terms = _terms(workflow, contract)
    status = _with_store(
        lambda store: rollout_status(store, name, terms, since=start, until=now, thresholds=limits)
    )
    if as_json:
        print(render.to_json(_status_json(status)))
        return
    _print_status(status)


def _status_json(status: RolloutStatus) -> dict[str, Any]:
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


def _print_status(status: RolloutStatus) -> None:
    console.print(
        f"{status.workflow}: rollout at {status.percent:g}% to the candidate, runs started "
        f"{iso(status.since)} to {iso(status.until)}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    table = Table(box=box.SIMPLE_HEAD)
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
        _print_drift(status.drift)
    else:
        console.print(f"no drift report: {status.no_drift}", markup=False, highlight=False)


@rollout_app.command("promote")
def rollout_promote(
    workflow: str = typer.Argument(..., help="Workflow name or module:attr."),
    contract: Path | None = _CONTRACT,
    since: str = _SINCE,
    min_runs: int = typer.Option(
        MIN_RUNS,
        "--min-runs",
        min=1,
        max=MAX_COUNT,
        help="Finished candidate runs needed in the window.",
    ),
    max_resolved_drop: float = _RESOLVED,
    max_failure_rise: float = _FAILURE,
    max_escalation_change: float = _ESCALATION,
    max_tool_calls_change: float = _TOOLS,
    max_cost_rise: float = _COST,
) -> None:
    """Make the candidate the contract, unless drift alerts fire. Exit 1 when refused."""
    start, now, limits = _window(
        since,
        max_resolved_drop,
        max_failure_rise,
        max_escalation_change,
        max_tool_calls_change,
        max_cost_rise,
    )
    name, terms = _terms(workflow, contract)
    rollout = rollout_of(terms, where=_where(workflow, contract))
    target = contract or rollout.source
    if target is None:
        raise UsageError(
            f"the {name} workflow's contract was not loaded from a file, so there is no file "
            "to promote the candidate into. Fix: name it with --contract FILE"
        )
    check = _with_store(
        lambda store: check_promotion(
            store, name, terms, since=start, until=now, thresholds=limits, min_runs=min_runs
        )
    )
    _print_status(check.status)
    if not check.allowed:
        console.print(
            Text(f"refused: not promoting {rollout.candidate} into {target}", style="bold red")
        )
        for reason in check.reasons:
            console.print(f"  - {reason}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    done = promote_candidate(target, terms)
    console.print(
        f"promoted {done.candidate_file} into {done.contract_file} (the old contract is in "
        f"{done.backup}); {len(done.diff.changes)} change(s):",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    for change in done.diff.changes:
        console.print(f"  {change}", markup=False, highlight=False)
