"""``proctor eval results | diff``: stored suite results, listed and compared.

``eval diff`` takes a result as a file or from the store: an id, a unique id prefix, or
``latest`` / ``previous`` of a ``--suite``. It exits 1 when a change crosses its
threshold; an unknown result exits 1 too, an ambiguous prefix 2 (a usage error).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from proctor.cli import _render as render
from proctor.cli._app import _with_store, console
from proctor.cli._eval_cmd import eval_app
from proctor.cli._options import MAX_COUNT, finite
from proctor.errors import ConfigError, UsageError
from proctor.evals import (
    DiffThresholds,
    SuiteDiff,
    SuiteResult,
    diff_results,
    find_result,
    load_result,
)
from proctor.evals._stored import RELATIVE_REFS
from proctor.store import EvalResultRecord, Store

_RESULT_HELP = "a result id (or unique prefix), latest, previous (with --suite), or a file"


@eval_app.command("results")
def eval_results(
    suite: str | None = typer.Argument(None, help="Only this suite's results (its name)."),
    limit: int = typer.Option(
        20, "--limit", min=1, max=MAX_COUNT, help="How many results, newest first."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
) -> None:
    """List the stored results of `proctor eval run`, newest first."""
    found = _with_store(lambda store: store.eval_results(suite, limit=limit))
    if as_json:
        print(render.to_json([_summary_json(record) for record in found]))
        return
    if not found:
        of_suite = "" if suite is None else f" of suite {suite!r}"
        console.print(
            f"no stored eval results{of_suite}: each `proctor eval run` stores its result",
            markup=False,
            highlight=False,
        )
        return
    console.print(_results_table(found))


def _summary_json(record: EvalResultRecord) -> dict[str, Any]:
    return {
        "result_id": record.result_id,
        "suite": record.suite,
        "workflow": record.workflow,
        "created_at": record.created_at,
        "cases": record.cases,
        "passed": record.passed,
        "failed": record.failed,
        "model": record.model,
        "contract_hash": record.contract_hash,
    }


def _results_table(found: list[EvalResultRecord]) -> Table:
    table = Table(
        title=f"{len(found)} eval result(s), newest first",
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    for column in ("result", "suite", "when", "passed", "model", "contract"):
        table.add_column(column, no_wrap=column != "model", overflow="fold")
    for record in found:
        passed = Text(f"{record.passed}/{record.cases}")
        if record.failed:
            passed.append(f", {record.failed} failed", style="bold red")
        else:
            passed.stylize("green")
        hashes = (record.contract_hash or "").split(", ")
        table.add_row(
            record.result_id,
            record.suite,
            render.when(record.created_at),
            passed,
            record.model or "-",
            ", ".join(h[:12] for h in hashes if h) or "-",
        )
    return table


@eval_app.command("diff")
def eval_diff(
    baseline: str = typer.Argument(..., help=f"The earlier result: {_RESULT_HELP}."),
    candidate: str = typer.Argument(..., help=f"The later result: {_RESULT_HELP}."),
    suite: str | None = typer.Option(
        None, "--suite", help="Stored results of this suite only (needed by latest, previous)."
    ),
    max_pass_rate_drop: float = typer.Option(
        0.0,
        "--max-pass-rate-drop",
        min=0.0,
        callback=finite,
        help="Flag a drop in pass rate beyond this (0-1).",
    ),
    max_tool_calls_change: float = typer.Option(
        0.2,
        "--max-tool-calls-change",
        min=0.0,
        callback=finite,
        help="Flag a relative change in calls per run.",
    ),
    max_cost_change: float = typer.Option(
        0.2,
        "--max-cost-change",
        min=0.0,
        callback=finite,
        help="Flag a relative rise in cost per run.",
    ),
    max_escalation_change: float = typer.Option(
        0.05,
        "--max-escalation-change",
        min=0.0,
        callback=finite,
        help="Flag a change in escalation rate (0-1).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the comparison as JSON."),
) -> None:
    """Compare two results (stored, or files); exit 1 if a change crosses its threshold."""
    (old, old_label), (new, new_label) = _load_results([baseline, candidate], suite)
    thresholds = DiffThresholds(
        pass_rate_drop=max_pass_rate_drop,
        tool_calls_change=max_tool_calls_change,
        cost_change=max_cost_change,
        escalation_change=max_escalation_change,
    )
    diff = diff_results(old, new, thresholds)
    if as_json:
        print(render.to_json(_diff_json(diff, old, new)))
    else:
        _print_diff(diff, old_label, new_label)
    if diff.flagged:
        raise typer.Exit(1)


def _is_file_ref(ref: str) -> bool:
    """A result named by its file: an existing file, or anything shaped like a path."""
    if ref in RELATIVE_REFS:
        return False
    return Path(ref).is_file() or ref.endswith(".json") or "/" in ref or os.sep in ref


def _load_results(refs: list[str], suite: str | None) -> list[tuple[SuiteResult, str]]:
    """Each result with its label (a file's name, or a stored result's id)."""
    stored = [ref for ref in refs if not _is_file_ref(ref)]

    async def work(store: Store) -> dict[str, SuiteResult]:
        return {ref: await find_result(store, ref, suite=suite) for ref in dict.fromkeys(stored)}

    found = _with_store(work) if stored else {}
    loaded: list[tuple[SuiteResult, str]] = []
    for ref in refs:
        if ref in found:
            result = found[ref]
            loaded.append((result, result.result_id or ref))
            continue
        try:
            loaded.append((load_result(ref), Path(ref).name))
        except ConfigError as exc:
            raise UsageError(str(exc)) from None
    return loaded


def _figure(value: float | None, name: str) -> str:
    if value is None:
        return "-"
    if "rate" in name:
        return f"{value:.1%}"
    if "cost" in name:
        return f"-${-value:.6f}" if value < 0 else f"${value:.6f}"
    return f"{value:.2f}"


def _print_diff(diff: SuiteDiff, baseline: str, candidate: str) -> None:
    table = Table(title=f"{baseline} -> {candidate}", title_justify="left", box=box.SIMPLE_HEAD)
    for column in ("", "baseline", "candidate", "change"):
        table.add_column(column, justify="left" if not column else "right", no_wrap=True)
    for metric in diff.metrics:
        relative = metric.relative
        change = "-" if metric.change is None else _figure(metric.change, metric.name)
        if relative is not None and "rate" not in metric.name and relative != float("inf"):
            change += f" ({relative:+.0%})"
        flag = Text(" ⚑", style="bold red") if metric.flagged else Text("")
        table.add_row(
            metric.name,
            _figure(metric.baseline, metric.name),
            _figure(metric.candidate, metric.name),
            Text(change) + flag,
        )
    console.print(table)
    tools = Table(title="tool calls per run", title_justify="left", box=box.SIMPLE_HEAD)
    for column in ("tool", "baseline", "candidate", "distribution (calls: runs)"):
        tools.add_column(column, no_wrap=column != "distribution (calls: runs)")
    for tool in diff.tools:
        spread = f"{_counts(tool.baseline_counts)} -> {_counts(tool.candidate_counts)}"
        flag = Text(" ⚑", style="bold red") if tool.flagged else Text("")
        tools.add_row(
            tool.tool,
            f"{tool.baseline_mean:.2f}",
            Text(f"{tool.candidate_mean:.2f}") + flag,
            spread,
        )
    console.print(tools)
    for label, ids, style in (
        ("newly failing", diff.newly_failing, "bold red"),
        ("newly passing", diff.newly_passing, "green"),
        ("only in the baseline", diff.only_in_baseline, ""),
        ("only in the candidate", diff.only_in_candidate, ""),
    ):
        if ids:
            console.print(Text(f"{label}: ", style=style) + Text(", ".join(ids)))
    console.print(
        "[bold red]changes crossed their thresholds[/]" if diff.flagged else "no flagged change"
    )


def _counts(counts: dict[int, int]) -> str:
    return ", ".join(f"{calls}: {runs}" for calls, runs in counts.items()) or "-"


def _diff_json(diff: SuiteDiff, old: SuiteResult, new: SuiteResult) -> dict[str, Any]:
    return {
        "baseline": diff.baseline,
        "candidate": diff.candidate,
        "baseline_result_id": old.result_id,
        "candidate_result_id": new.result_id,
        "flagged": diff.flagged,
        "metrics": [
            {
                "name": m.name,
                "baseline": m.baseline,
                "candidate": m.candidate,
                "change": m.change,
                "flagged": m.flagged,
            }
            for m in diff.metrics
        ],
        "tools": [
            {
                "tool": t.tool,
                "baseline_mean": t.baseline_mean,
                "candidate_mean": t.candidate_mean,
                "baseline_counts": {str(k): v for k, v in t.baseline_counts.items()},
                "candidate_counts": {str(k): v for k, v in t.candidate_counts.items()},
                "flagged": t.flagged,
            }
            for t in diff.tools
        ],
        "newly_failing": diff.newly_failing,
        "newly_passing": diff.newly_passing,
        "only_in_baseline": diff.only_in_baseline,
        "only_in_candidate": diff.only_in_candidate,
    }
