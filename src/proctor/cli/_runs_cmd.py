"""``proctor run``, ``resume``, ``runs`` and ``trace``: start runs, continue them, read them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from rich.console import Console
from typer.core import TyperCommand

from proctor.cli._context import command_group, console, options, os_user, with_store
from proctor.cli._options import MAX_COUNT, stored_name
from proctor.cli._outcomes import INTERRUPTED, exit_code
from proctor.errors import NotFoundError, ProctorError, UsageError

if TYPE_CHECKING:
    from proctor.runtime import RunResult
    from proctor.store import EventRow, Store

app = command_group()


async def _resume_interrupted(store: Store, out: Console) -> int:
    """Resume this host's interrupted runs, each claimed first: one another process has
    (resuming it too) is left to it with a note, never a failure. Returns the highest
    exit code of the runs resumed."""
    from proctor.cli._render import print_result
    from proctor.cli._workflows import runner_for, stored_workflow
    from proctor.runtime import interrupted_runs, recovery_claim

    found = await interrupted_runs(store)
    if not found:
        out.print("no interrupted runs on this host")
    code = 0
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
            code = max(code, exit_code(result))
    return code


async def _note_interrupted(store: Store) -> None:
    """Say which runs ``proctor run --resume-interrupted`` would have resumed first."""
    from proctor.runtime import interrupted_runs

    found = await interrupted_runs(store)
    if found:
        shown = ", ".join(f"{run.run_id} ({run.workflow})" for run in found[:5])
        more = f" and {len(found) - 5} more" if len(found) > 5 else ""
        Console(stderr=True, soft_wrap=True, markup=False, highlight=False, emoji=False).print(
            f"note: {len(found)} interrupted run(s) on this host: {shown}{more}. Resume them "
            "with `proctor resume --all` (or `proctor run --resume-interrupted`)"
        )


class _RunCommand(TyperCommand):
    """``proctor run``, whose help, given a workflow (``proctor run WORKFLOW --help``),
    ends with that workflow's default model and scripted models."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        ctx.meta["proctor_run_args"] = list(args)  # --help is answered before arguments
        return super().parse_args(ctx, args)

    def format_epilog(self, ctx: Any, formatter: Any) -> None:  # typer's own click
        super().format_epilog(ctx, formatter)
        name = self._workflow_given(ctx.meta.get("proctor_run_args", []))
        if name is None:
            return
        from proctor.cli._workflows import load_workflow

        try:
            flow = load_workflow(name)
        except ProctorError as exc:
            rows = [("Not loaded", str(exc))]
        else:
            scripted = ", ".join(f"scripted:{name}" for name in sorted(flow.scripts)) or "none"
            rows = [("Default model", flow.default_model), ("Scripted models", scripted)]
        with formatter.section(f"Workflow {name}"):
            formatter.write_dl(rows)

    def _workflow_given(self, args: list[str]) -> str | None:
        """The first argument that is not an option or an option's value."""
        taking = {
            name
            for param in self.params
            if param.param_type_name == "option" and getattr(param, "is_flag", True) is False
            for name in param.opts
        }
        skip = False
        for arg in args:
            if skip:
                skip = False
            elif arg.startswith("-"):
                skip = arg in taking  # its value is the next argument (not --opt=value)
            else:
                return arg
        return None


@app.command(cls=_RunCommand)
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
    session: str | None = typer.Option(
        None,
        "--session",
        metavar="KEY",
        help="A session key the runs of one conversation share (letters, digits, . _ : + = -).",
    ),
    resume_interrupted: bool = typer.Option(
        False,
        "--resume-interrupted",
        help="First resume this host's interrupted runs (as `proctor resume --all` does); "
        "by default they are only listed.",
    ),
) -> None:
    """Start a run and drive it until it finishes or waits for approval.

    Exit code by outcome: 0 resolved, 3 escalated, 4 failed, 5 draft_only, 6 cancelled,
    10 awaiting approval; 130 interrupted (resume it), 1 error, 2 usage error."""
    from proctor.cli import _render as render
    from proctor.cli._input import read_input
    from proctor.cli._workflows import load_workflow, runner_for
    from proctor.runtime import new_run_id
    from proctor.store import check_session_key

    if session is not None:
        check_session_key(session)
    flow = load_workflow(workflow, contract=contract)
    payload = read_input(input)
    run_id = new_run_id()

    async def work(store: Store) -> RunResult:
        if resume_interrupted:  # with --json, on stderr: stdout holds the one result
            await _resume_interrupted(
                store, Console(stderr=True, emoji=False) if as_json else console
            )
        else:
            await _note_interrupted(store)
        return await runner_for(store, flow).start(
            payload, model=model, started_by=f"cli:{os_user()}", run_id=run_id, session=session
        )

    try:
        result = with_store(work)
    except KeyboardInterrupt:
        _interrupted(run_id)
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
    raise typer.Exit(exit_code(result))


def _interrupted(run_id: str) -> NoReturn:
    """Say what became of a run the person interrupted, and how to continue it."""
    err = Console(stderr=True, soft_wrap=True, markup=False, highlight=False, emoji=False)
    record = with_store(lambda store: store.get_run(run_id))
    if record is None:
        err.print("interrupted before the run started: nothing was recorded")
    elif record.status == "running":
        err.print(
            f"interrupted: run {run_id} stopped after {record.tool_calls} tool call(s) and "
            f"{record.model_calls} model call(s); its log keeps every step recorded. "
            f"Continue it with `proctor resume {run_id}`"
        )
    else:
        err.print(f"interrupted: run {run_id} is {record.outcome or record.status}")
    raise typer.Exit(INTERRUPTED)


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
    """Continue a run from its log; a tool call already recorded is never run again.

    Exit codes as `proctor run` (with --all, the highest of the runs resumed)."""
    if run_id is None and not all_interrupted:
        raise UsageError("name a run to resume, or pass --all for every interrupted run")
    from proctor.cli._render import print_result
    from proctor.cli._workflows import runner_for, stored_workflow

    async def work(store: Store) -> int:
        if run_id is None:
            return await _resume_interrupted(store, console)
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
        return exit_code(result)

    try:
        code = with_store(work, create=False)
    except KeyboardInterrupt:
        if run_id is None:
            raise
        _interrupted(run_id)
    raise typer.Exit(code)


@app.command()
def runs(
    workflow: str | None = typer.Option(
        None, "--workflow", "-w", help="Only runs of this workflow (its name)."
    ),
    status: str | None = typer.Option(
        None, "--status", help="running, awaiting_approval or finished."
    ),
    outcome: str | None = typer.Option(
        None, "--outcome", help="resolved, escalated, failed, draft_only, cancelled."
    ),
    session: str | None = typer.Option(
        None, "--session", metavar="KEY", help="Only runs started with this session key."
    ),
    search: str = typer.Option(
        "",
        "--search",
        "-s",
        metavar="TEXT",
        help="Only runs matching every word: a run id prefix, or text in the input, the "
        "answer or a tool's name.",
    ),
    sort: str = typer.Option(
        "-started",
        "--sort",
        metavar="ORDER",
        help="started, cost, duration or status; a leading - sorts descending "
        "(default -started: newest first).",
    ),
    limit: int = typer.Option(50, "--limit", min=1, max=MAX_COUNT, help="At most this many runs."),
    as_json: bool = typer.Option(False, "--json", help="Print the runs as JSON."),
) -> None:
    """List runs, newest first (or as --sort says), with the totals of all that match."""
    if status is not None and status not in ("running", "awaiting_approval", "finished"):
        raise UsageError(f"unknown status {status!r}: use running, awaiting_approval or finished")
    from proctor.cli import _render as render
    from proctor.store import (
        TOTALS_CAP,
        RunFilter,
        RunRecord,
        RunTotals,
        check_session_key,
        check_sort,
    )
    from proctor.store import search_terms as check_search

    if session is not None:
        check_session_key(session)
    check_search(search)
    query = RunFilter(
        workflow=stored_name(workflow),
        status=status,
        outcome=outcome,
        limit=limit,
        session=session,
        search=search,
        sort=check_sort(sort),
    )

    async def work(store: Store) -> tuple[list[RunRecord], RunTotals | None]:
        found = await store.list_runs(query)
        # The totals cost a pass over every matching run: only when the page is not all.
        if len(found) < limit:
            return found, None
        return found, await store.run_totals(query, cap=TOTALS_CAP)

    async def documents(store: Store) -> list[dict[str, Any]]:
        return await render.run_documents(store, await store.list_runs(query))

    if as_json:
        print(render.to_json({"runs": with_store(documents, create=False)}))
        return
    found, totals = with_store(work, create=False)
    console.print(render.runs_table(found, totals=totals, sort=query.sort))


@app.command()
def trace(
    run_id: str = typer.Argument(..., help="The run (run_...), as `proctor runs` lists it."),
    as_json: bool = typer.Option(False, "--json", help="Print the run's events as JSON."),
) -> None:
    """Show a run's timeline: model calls, tool calls, decisions, approvals, spend."""
    from proctor.cli._render import run_documents, to_json
    from proctor.cli._timeline import trace_tree
    from proctor.store import event_document, row_to_event

    async def work(store: Store) -> tuple[Any, list[EventRow], dict[str, Any] | None]:
        rows = await store.events(run_id)
        if not rows:
            raise NotFoundError(f"no run {run_id!r} in this store; list runs with `proctor runs`")
        record = await store.get_run(run_id)
        shown = None
        if as_json and record is not None:
            [shown] = await run_documents(store, [record])
        return record, rows, shown

    record, rows, shown = with_store(work, create=False)
    if as_json:
        print(to_json({"run": shown, "events": [event_document(row) for row in rows]}))
    else:
        console.print(trace_tree(record, [row_to_event(row) for row in rows]))
