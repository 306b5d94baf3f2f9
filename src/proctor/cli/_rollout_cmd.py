"""``proctor rollout status | promote``: a contract's canary, and making it the contract.

Exit codes, for CI: ``rollout promote`` exits 1 when it refuses. Errors (an unknown
workflow or version, no runs in the window) are one line on stderr, exit 1 (2 for usage
errors).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.text import Text

from proctor.cli._context import command_group, console, with_store
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
from proctor.cli._options import MAX_COUNT, MIN_RUNS
from proctor.errors import UsageError

if TYPE_CHECKING:
    from proctor.reports import Promotion, PromotionCheck

app = command_group(
    help="Canary rollouts: the split between a contract and its candidate; promotion.",
    no_args_is_help=True,
)


@app.command("status")
def rollout_status_cmd(
    workflow: str = typer.Argument(..., help="Workflow name or module:attr."),
    contract: Path | None = CONTRACT,
    since: str = SINCE,
    as_json: bool = JSON,
    max_resolved_drop: float = RESOLVED,
    max_failure_rise: float = FAILURE,
    max_escalation_change: float = ESCALATION,
    max_tool_calls_change: float = TOOLS,
    max_cost_rise: float = COST,
) -> None:
    """Show how runs split between the contract and its candidate, and the drift."""
    from proctor.cli import _drift as drift
    from proctor.cli._render import to_json
    from proctor.reports import rollout_status

    start, now, limits = drift.window(
        since,
        max_resolved_drop,
        max_failure_rise,
        max_escalation_change,
        max_tool_calls_change,
        max_cost_rise,
    )
    name, terms = drift.terms_of(workflow, contract)
    status = with_store(
        lambda store: rollout_status(store, name, terms, since=start, until=now, thresholds=limits),
        create=False,
    )
    if as_json:
        print(to_json(drift.status_json(status)))
        return
    drift.print_status(status)


@app.command("promote")
def rollout_promote(
    workflow: str = typer.Argument(..., help="Workflow name or module:attr."),
    contract: Path | None = CONTRACT,
    since: str = SINCE,
    min_runs: int = typer.Option(
        MIN_RUNS,
        "--min-runs",
        min=1,
        max=MAX_COUNT,
        help="Finished candidate runs needed in the window.",
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print the check and the promotion as JSON (exit 1 if refused)."
    ),
    max_resolved_drop: float = RESOLVED,
    max_failure_rise: float = FAILURE,
    max_escalation_change: float = ESCALATION,
    max_tool_calls_change: float = TOOLS,
    max_cost_rise: float = COST,
) -> None:
    """Make the candidate the contract, unless drift alerts fire. Exit 1 when refused."""
    from proctor.cli import _drift as drift
    from proctor.cli._render import to_json
    from proctor.reports import check_promotion, promote_candidate, rollout_of

    start, now, limits = drift.window(
        since,
        max_resolved_drop,
        max_failure_rise,
        max_escalation_change,
        max_tool_calls_change,
        max_cost_rise,
    )
    name, terms = drift.terms_of(workflow, contract)
    rollout = rollout_of(terms, where=drift.where(workflow, contract))
    target = contract or rollout.source
    if target is None:
        raise UsageError(
            f"the {name} workflow's contract was not loaded from a file, so there is no file "
            "to promote the candidate into. Fix: name it with --contract FILE"
        )
    check = with_store(
        lambda store: check_promotion(
            store, name, terms, since=start, until=now, thresholds=limits, min_runs=min_runs
        ),
        create=False,
    )
    if not as_json:
        drift.print_status(check.status)
    if not check.allowed:
        if as_json:
            print(to_json(_promotion_json(check, None)))
            raise typer.Exit(1)
        console.print(
            Text(f"refused: not promoting {rollout.candidate} into {target}", style="bold red")
        )
        for reason in check.reasons:
            console.print(f"  - {reason}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    done = promote_candidate(target, terms)
    if as_json:
        print(to_json(_promotion_json(check, done)))
        return
    console.print(
        f"promoted {done.candidate_file} into {done.contract_file} (the old contract is in "
        f"{done.backup}); {len(done.diff.changes)} change(s):",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    for change in done.diff.changes:
        console.print(f"  {change}", markup=False, highlight=False)


def _promotion_json(check: PromotionCheck, done: Promotion | None) -> dict[str, Any]:
    """What ``rollout promote --json`` prints: the check (the status as ``rollout status
    --json`` prints it), and the promotion made, or null when it was refused."""
    from proctor.cli._contract_cmd import diff_json
    from proctor.cli._drift import status_json

    return {
        "allowed": check.allowed,
        "min_runs": check.min_runs,
        "reasons": check.reasons,
        "status": status_json(check.status),
        "promoted": None
        if done is None
        else {
            "candidate_file": str(done.candidate_file),
            "contract_file": str(done.contract_file),
            "backup": str(done.backup),
            "diff": diff_json(done.diff),
        },
    }
