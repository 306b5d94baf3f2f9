"""``proctor run``, ``resume``, ``runs`` and ``trace``: start runs, continue them, read them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

from proctor.cli._context import command_group, console, options, os_user, with_store
from proctor.cli._options import MAX_COUNT
from proctor.errors import NotFoundError, UsageError

if TYPE_CHECKING:
    from proctor.runtime import RunResult
    from proctor.store import Store

app = command_group()


async def _resume_interrupted(store: Store, out: Console) -> None:
    """Resume this host's interrupted runs, each claimed first: one another process has
    (resuming it too) is left to it with a note, never a failure."""
    from proctor.cli._render import print_result
    from proctor.cli._workflows import runner_for, stored_workflow
    from proctor.runtime import interrupted_runs, recovery_claim

    found = await interrupted_runs(store)
    if not found:
        out.print("no interrupted runs on this host")
    for run in found:
        ref = run.workflow_ref or run.workflow
        try:
            workflow = stored_workflow(ref, config=options.config)
        except NotFoundError as exc:
            out.print(f"interrupted run {run.run_id} left as it is: {exc}", markup=False)
            continue
        async with recovery_claim(store, run) as ours:
            if not ours:
                out.print(f"run {run.run_id}: another process has it (resuming it, or done)")
                continue
            out.print(f"[blue]resuming interrupted run {run.run_id} ({run.workflow})[/]")
            result = await runner_for(store, workflow).resume(
                run.run_id, reason="owner process died"
            )
            print_result(result, out)


async def _note_interrupted(store: Store) -> None:
    """Say which runs ``proctor run --resume-interrupted`` would have resumed first."""
    from proctor.runtime import interrupted_runs

    found = await interrupted_runs(store)
    if found:
        shown = ", ".join(f"{run.run_id} ({run.workflow})" for run in found[:5])
        more = f" and {len(found) - 5} more" if len(found) > 5 else ""
        Console(stderr=True, soft_wrap=True, markup=False, highlight=False).print(
            f"note: {len(found)} interrupted run(s) on this host: {shown}{more}. Resume them "
            "with `proctor resume --all` (or `proctor run --resume-interrupted`)"
        )


@app.command()
def run(
    workflow: str = typer.Argument(..., help="Workflow name, or package.module:attribute."),
    input: Path = typer.Option(..., "--input", "-i", help="JSON file with the run's input."),
    model: str | None = typer.Option(
        None, "--model", help="Model spec, e.g. scripted:procedure or openai:gpt-4o-mini."
    ),
    contract: Path | None = typer.Option(
        None, "--contract", help="Run under this contract file instead."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    resume_interrupted: bool = typer.Option(
        False,
        "--resume-interrupted",
        help="First resume this host's interrupted runs (as `proctor resume --all` does); "
        "by default they are only listed.",
    ),
) -> None:
    """Start a run and drive it until it finishes or waits for approval."""
    from proctor.cli import _render as render
    from proctor.cli._input import read_input
    from proctor.cli._workflows import load_workflow, runner_for

    flow = load_workflow(workflow, contract=contract)
    payload = read_input(input)

    async def work(store: Store) -> RunResult:
        if resume_interrupted:  # with --json, on stderr: stdout holds the one result
            await _resume_interrupted(store, Console(stderr=True) if as_json else console)
        else:
            await _note_interrupted(store)
        return await runner_for(store, flow).start(
            payload, model=model, started_by=f"cli:{os_user()}"
        )

    result = with_store(work)
    if as_json:
        print(
            render.to_json(
                {
                    "run_id": result.run_id,
                    "status": result.status,
                    "outcome": result.outcome,
                    "final_text": result.final_text,
                    "pending_approval": result.state.pending_approval,
                }
            )
        )
    else:
        render.print_result(result, console)


@app.command()
def resume(
    run_id: str | None = typer.Argument(None, help="The run to continue."),
    all_interrupted: bool = typer.Option(
        False, "--all", help="Resume every run whose process died."
    ),
    contract: Path | None = typer.Option(
        None, "--contract", help="The contract file the run started under, if not the default."
    ),
    workflow: str | None = typer.Option(
        None,
        "--workflow",
        help="Load this workflow (package.module:attribute) when the run names it and it is "
        "neither registered nor configured (proctor.yaml workflows:, $PROCTOR_WORKFLOWS).",
    ),
) -> None:
    """Continue a run from its log; a tool call already recorded is never run again."""
    if run_id is None and not all_interrupted:
        raise UsageError("name a run to resume, or pass --all for every interrupted run")
    from proctor.cli._render import print_result
    from proctor.cli._workflows import runner_for, stored_workflow

    async def work(store: Store) -> None:
        if run_id is None:
            await _resume_interrupted(store, console)
            return
        record = await store.get_run(run_id)
        if record is None:
            raise NotFoundError(f"no run {run_id!r} in this store; list runs with `proctor runs`")
        flow = stored_workflow(
            record.workflow_ref or record.workflow,
            config=options.config,
            given=[workflow] if workflow else [],
            contract=contract,
        )
        result = await runner_for(store, flow).resume(run_id)
        print_result(result, console)

    with_store(work)


@app.command()
def runs(
    workflow: str | None = typer.Option(None, "--workflow", "-w"),
    status: str | None = typer.Option(
        None, "--status", help="running, awaiting_approval or finished."
    ),
    outcome: str | None = typer.Option(
        None, "--outcome", help="resolved, escalated, failed, draft_only, cancelled."
    ),
    limit: int = typer.Option(50, "--limit", min=1, max=MAX_COUNT),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """List runs, newest first."""
    if status is not None and status not in ("running", "awaiting_approval", "finished"):
        raise UsageError(f"unknown status {status!r}: use running, awaiting_approval or finished")
    from proctor.cli import _render as render
    from proctor.store import RunFilter

    query = RunFilter(workflow=workflow, status=status, outcome=outcome, limit=limit)
    found = with_store(lambda store: store.list_runs(query), create=False)
    if as_json:
        print(render.to_json(found))
    else:
        console.print(render.runs_table(found))


@app.command()
def trace(
    run_id: str = typer.Argument(...),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Show a run's timeline: model calls, tool calls, decisions, approvals, spend."""
    from proctor.cli._render import to_json
    from proctor.cli._timeline import trace_tree
    from proctor.store import row_to_event

    async def work(store: Store) -> tuple[Any, list[Any]]:
        rows = await store.events(run_id)
        if not rows:
            raise NotFoundError(f"no run {run_id!r} in this store; list runs with `proctor runs`")
        return await store.get_run(run_id), [row_to_event(row) for row in rows]

    record, events = with_store(work, create=False)
    if as_json:
        print(to_json(events))
    else:
        console.print(trace_tree(record, events))
