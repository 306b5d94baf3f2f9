"""``proctor report drift``: two contract versions compared over production runs.

Exit codes, for CI: ``report drift`` exits 0 when no change crosses its threshold and 1
when one does. Errors (an unknown workflow or version, no runs in the window) are one
line on stderr, exit 1 (2 for usage errors).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from proctor.cli._context import command_group, with_store
from proctor.cli._drift_options import (
    CONTRACT,
    COST,
    ESCALATION,
    FAILURE,
    JSON,
    RESOLVED,
    SINCE,
    TOOLS,
)
from proctor.cli._options import stored_name

if TYPE_CHECKING:
    from proctor.reports import DriftReport
    from proctor.store import Store

app = command_group(help="Reports over production runs: drift.", no_args_is_help=True)


@app.command("drift")
def report_drift(
    workflow: str = typer.Option(..., "--workflow", "-w", help="Workflow name or module:attr."),
    baseline: str | None = typer.Option(
        None, "--baseline", help="Version label or hash prefix (default: the current contract)."
    ),
    candidate: str | None = typer.Option(
        None, "--candidate", help="Version label or hash prefix (default: the rollout's)."
    ),
    contract: Path | None = CONTRACT,
    since: str = SINCE,
    as_json: bool = JSON,
    max_resolved_drop: float = RESOLVED,
    max_failure_rise: float = FAILURE,
    max_escalation_change: float = ESCALATION,
    max_tool_calls_change: float = TOOLS,
    max_cost_rise: float = COST,
) -> None:
    """Compare two contract versions over production runs. Exit 1 if a change alerts."""
    from proctor.cli import _drift as drift
    from proctor.cli._render import to_json
    from proctor.reports import Version, drift_report, find_version, rollout_of

    start, now, limits = drift.window(
        since,
        max_resolved_drop,
        max_failure_rise,
        max_escalation_change,
        max_tool_calls_change,
        max_cost_rise,
    )

    async def work(store: Store) -> DriftReport:
        if baseline is not None and candidate is not None:
            name = stored_name(workflow) or workflow
            old, new = (
                await find_version(store, name, baseline),
                await find_version(store, name, candidate),
            )
        else:
            name, terms = drift.terms_of(workflow, contract)
            rollout = rollout_of(terms, where=drift.where(workflow, contract))
            old = await find_version(store, name, baseline) if baseline else Version.of(terms)
            new = (
                await find_version(store, name, candidate)
                if candidate
                else Version.of(rollout.contract)
            )
        return await drift_report(store, name, old, new, since=start, until=now, thresholds=limits)

    report = with_store(work, create=False)
    if as_json:
        print(to_json(report.as_dict()))
    else:
        drift.print_drift(report)
    if report.alerting:
        raise typer.Exit(1)
