"""How eval results look: a suite's cases, stored results, and a comparison of two."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.table import Table
from rich.text import Text

from proctor.cli._context import console
from proctor.cli._render import new_table, when

if TYPE_CHECKING:
    from proctor.evals import SuiteDiff, SuiteResult
    from proctor.store import EvalResultRecord


def suite_table(result: SuiteResult, *, only_failures: bool = False) -> Table:
    """One row per case of a replayed suite (per failed case, with ``only_failures``):
    passed or not, and where it first failed."""
    shown = [case for case in result.cases if not (only_failures and case.passed)]
    title = f"suite {result.suite}: {len(result.cases)} case(s)"
    if only_failures:
        title += f", {len(shown)} failed"
    table = new_table(title)
    table.add_column("case", no_wrap=True)
    table.add_column("result", no_wrap=True)
    table.add_column("outcome", no_wrap=True)
    table.add_column("first failed expectation", overflow="fold")
    table.add_column("diverged from the recording at", overflow="fold")
    for case in shown:
        mark = (
            Text("pass", style="green")
            if case.passed
            else Text("error" if case.error else "FAIL", style="bold red")
        )
        table.add_row(
            case.id,
            mark,
            case.outcome or "-",
            Text(case.first_failure or ""),
            Text(case.divergence or ""),
        )
    return table


def results_table(found: list[EvalResultRecord]) -> Table:
    """Stored results, newest first."""
    table = new_table(f"{len(found)} eval result(s), newest first")
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
            when(record.created_at),
            passed,
            record.model or "-",
            ", ".join(h[:12] for h in hashes if h) or "-",
        )
    return table


def _figure(value: float | None, name: str) -> str:
    if value is None:
        return "-"
    if "rate" in name:
        return f"{value:.1%}"
    if "cost" in name:
        return f"-${-value:.6f}" if value < 0 else f"${value:.6f}"
    return f"{value:.2f}"


def print_diff(diff: SuiteDiff, baseline: str, candidate: str) -> None:
    """The metrics, the tool calls per run, and the cases whose verdict changed."""
    table = new_table(f"{baseline} -> {candidate}")
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
    tools = new_table("tool calls per run")
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


def diff_json(diff: SuiteDiff, old: SuiteResult, new: SuiteResult) -> dict[str, Any]:
    """The comparison, as ``eval diff --json`` prints it."""
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
