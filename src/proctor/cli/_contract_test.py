"""``proctor contract test``: a candidate contract's decisions over recorded runs.

Exit codes, for CI: 0 when no recorded decision would change, 1 when one would, 2 when
the test cannot be made at all (an invalid contract file, an unknown workflow or run, a
bad ``--since``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from proctor.cli._context import console, options, with_store
from proctor.errors import ConfigError, NotFoundError, UsageError

if TYPE_CHECKING:
    from rich.table import Table

    from proctor.contracts import Contract
    from proctor.evals import RunChanges
    from proctor.runtime import Workflow
    from proctor.store import Store


def contract_test(
    path: Path,
    run_ids: list[str],
    since: str | None,
    limit: int,
    workflow_ref: str | None,
    as_json: bool,
) -> None:
    """Re-decide recorded runs under the contract file at ``path``; see the command."""
    from proctor.cli._render import to_json
    from proctor.evals import ChangeTotals, changes_json, recorded_runs, redecide_runs
    from proctor.reports import parse_since
    from proctor.store import load_evidence_keys

    if run_ids and since is not None:
        raise UsageError("--run names the runs itself: give either --run or --since, not both")
    window = None if since is None else parse_since(since, now=time.time())
    contract, flow = _candidate(path, workflow_ref)

    async def work(store: Store) -> list[RunChanges]:
        try:
            picked = await recorded_runs(
                store, contract.workflow, run_ids=run_ids, since=window, limit=limit
            )
        except NotFoundError as exc:
            raise UsageError(str(exc)) from None
        ids = [record.run_id for record in picked]
        return await redecide_runs(store, contract, flow.registry, ids, keys=load_evidence_keys())

    results = with_store(work, create=False)
    totals = ChangeTotals.of(results)
    if as_json:
        print(to_json(changes_json(str(path), results, candidate_hash=contract.content_hash)))
    else:
        _print(path, contract, results, totals.summary())
    if totals.changed:
        raise typer.Exit(1)


def _candidate(path: Path, workflow_ref: str | None) -> tuple[Contract, Workflow]:
    """The candidate contract and the workflow whose tools its calls are judged with."""
    from proctor.cli._workflows import load_workflow
    from proctor.contracts import load_contract
    from proctor.runtime import UnknownWorkflow, WorkflowCatalog

    if not path.is_file():
        raise UsageError(f"contract file {path} does not exist")
    # What fails here means the test cannot be made at all: a usage error (exit 2), never
    # the exit 1 of a changed decision.
    flow = None
    if workflow_ref is not None:
        try:
            flow = load_workflow(workflow_ref)
        except (ConfigError, NotFoundError) as exc:
            raise UsageError(f"--workflow-ref: {exc}") from None
    try:
        contract = load_contract(path, workflow=None if flow is None else flow.name)
    except ConfigError as exc:
        raise UsageError(
            f"{exc} (see every problem with `proctor contract check {path}`)"
        ) from None
    if flow is not None:
        return contract, flow
    catalog = WorkflowCatalog.for_project((), options.config)
    try:
        return contract, catalog.load(contract.workflow)
    except UnknownWorkflow:
        raise UsageError(
            f"no workflow named {contract.workflow!r} is registered here (known: "
            f"{', '.join(catalog.names()) or 'none'}), so its tools are unknown. Fix: name "
            "it with --workflow-ref package.module:attribute, or add it to workflows: in "
            "proctor.yaml"
        ) from None
    except (ConfigError, NotFoundError) as exc:
        raise UsageError(str(exc)) from None


def _print(path: Path, contract: Contract, results: list[RunChanges], summary: str) -> None:
    from rich.markup import escape

    if not results:
        console.print(
            f"no recorded runs of workflow {contract.workflow!r} match: nothing to compare",
            markup=False,
            highlight=False,
        )
        return
    changed = [change for run in results for change in run.changes]
    if changed:
        console.print(_table(results))
    for run in results:
        for skipped in run.unchecked:
            what = (
                f"final answer (turn {skipped.step})"
                if skipped.tool is None
                else f"{skipped.tool} (step {skipped.step})"
            )
            console.print(
                f"  not compared: {run.run_id} {what}: {skipped.why}",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
        for note in run.notes:
            console.print(f"  note: {run.run_id}: {note}", markup=False, highlight=False)
    mark = "[red]✗[/]" if changed else "[green]✓[/]"
    console.print(f"{mark} {escape(str(path))}: {escape(summary)}", highlight=False, soft_wrap=True)


def _table(results: list[RunChanges]) -> Table:
    from rich.markup import escape

    from proctor.cli._render import new_table

    labels = {
        "newly_denied": "[red]newly denied[/]",
        "newly_allowed": "[yellow]newly allowed[/]",
        "newly_held": "[cyan]newly held[/]",
        "other_rule": "another rule",
    }
    table = new_table("Decisions the candidate would change")
    for column in ("run", "step", "call", "change", "recorded", "candidate", "reason"):
        table.add_column(column, overflow="fold", no_wrap=column != "reason")
    for run in results:
        for change in run.changes:
            answer = change.subject == "answer"
            table.add_row(
                run.run_id,
                "" if change.step is None else f"{'turn ' if answer else ''}{change.step}",
                escape(change.tool or "final answer"),
                labels[change.change] + (" (on redacted values)" if change.redacted else ""),
                escape(str(change.recorded)),
                escape(str(change.candidate)),
                escape(change.candidate.reason),
            )
    return table
