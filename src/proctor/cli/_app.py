"""The ``proctor`` command: thin wrappers over the runtime, store and contracts."""

from __future__ import annotations

import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from proctor.cli import _render as render
from proctor.cli._db_cmd import db_app
from proctor.cli._gateway_cmd import gateway_app
from proctor.cli._input import read_input
from proctor.cli._options import MAX_COUNT
from proctor.cli._otel_cmd import otel_app
from proctor.cli._workflows import known_workflows, load_workflow, stored_workflow
from proctor.contracts import check_contract_file, load_contract
from proctor.errors import ConfigError, NotFoundError, ProctorError, UsageError
from proctor.runtime import (
    Runner,
    RunResult,
    Workflow,
    decide_and_continue,
    interrupted_runs,
    project_runner,
    recovery_claim,
    separation_problem,
)
from proctor.store import (
    ApprovalRecord,
    RunFilter,
    Store,
    json_value_problem,
    open_store,
    row_to_event,
    verify_run,
)

T = TypeVar("T")

app = typer.Typer(
    name="proctor",
    help="Run LLM tool-using agents under explicit control.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
contract_app = typer.Typer(
    help="Check workflow contracts; list and compare stored versions.", no_args_is_help=True
)
audit_app = typer.Typer(
    help="Verify the hash chains of run logs; export a run's receipt.", no_args_is_help=True
)
report_app = typer.Typer(help="Reports over production runs: drift.", no_args_is_help=True)
rollout_app = typer.Typer(
    help="Canary rollouts: the split between a contract and its candidate; promotion.",
    no_args_is_help=True,
)
app.add_typer(contract_app, name="contract")
app.add_typer(audit_app, name="audit")
app.add_typer(report_app, name="report")
app.add_typer(rollout_app, name="rollout")
app.add_typer(gateway_app, name="gateway")
app.add_typer(otel_app, name="otel")
app.add_typer(db_app, name="db")

console = Console()
if not console.is_terminal:
    # Piped or captured output is read by people and tools alike: don't wrap at 80.
    console = Console(width=160)


@dataclass
class Options:
    db: str | None = None
    config: str | None = None
    debug: bool = False


options = Options()


@app.callback()
def _global(
    db: str | None = typer.Option(
        None,
        "--db",
        help="Store: a file, or a postgresql:// URL (default: $PROCTOR_DB, "
        "else $PROCTOR_HOME/proctor.db).",
    ),
    config: str | None = typer.Option(
        None, "--config", help="Project config (default: ./proctor.yaml or $PROCTOR_CONFIG)."
    ),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors."),
) -> None:
    options.db = db
    options.config = config
    options.debug = debug


def runner_for(store: Store, flow: Workflow) -> Runner:
    """A runner for ``flow``, on the project's gateway when ``proctor.yaml`` defines models."""
    return project_runner(store, flow, options.config)


def _with_store(work: Callable[[Store], Awaitable[T]]) -> T:
    async def main() -> T:
        store = open_store(options.db)
        try:
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(main())


def _os_user() -> str:
    """Who runs this command, as the run's log records it (``started_by``)."""
    try:
        return getpass.getuser()
    except Exception:  # no login name in the environment nor the password database
        return "unknown"


async def _resume_interrupted(store: Store, out: Console) -> None:
    """Resume this host's interrupted runs, each claimed first: one another process has
    (resuming it too) is left to it with a note, never a failure."""
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
            _print_result(result, out)


async def _note_interrupted(store: Store) -> None:
    """Say which runs ``proctor run --resume-interrupted`` would have resumed first."""
    found = await interrupted_runs(store)
    if found:
        shown = ", ".join(f"{run.run_id} ({run.workflow})" for run in found[:5])
        more = f" and {len(found) - 5} more" if len(found) > 5 else ""
        Console(stderr=True, soft_wrap=True, markup=False, highlight=False).print(
            f"note: {len(found)} interrupted run(s) on this host: {shown}{more}. Resume them "
            "with `proctor resume --all` (or `proctor run --resume-interrupted`)"
        )


def _print_result(result: RunResult, out: Console = console) -> None:
    out.print(
        f"run [bold]{result.run_id}[/]: ", render.status_text(result.status, result.outcome), sep=""
    )
    # The model's words and reasons are never read as console markup.
    if result.outcome == "resolved" and result.final_text:
        out.print(f"  {result.final_text}", markup=False)
    elif result.state.finish_reason:
        out.print(f"  {result.state.finish_reason}", markup=False)
    if result.state.pending_approval:
        out.print(
            f"  waiting for approval {result.state.pending_approval}: "
            f"proctor approve {result.state.pending_approval} --as NAME"
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
    flow = load_workflow(workflow, contract=contract)
    payload = read_input(input)

    async def work(store: Store) -> RunResult:
        if resume_interrupted:  # with --json, on stderr: stdout holds the one result
            await _resume_interrupted(store, Console(stderr=True) if as_json else console)
        else:
            await _note_interrupted(store)
        return await runner_for(store, flow).start(
            payload, model=model, started_by=f"cli:{_os_user()}"
        )

    result = _with_store(work)
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
        _print_result(result)


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
        _print_result(result)

    _with_store(work)


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
    query = RunFilter(workflow=workflow, status=status, outcome=outcome, limit=limit)
    found = _with_store(lambda store: store.list_runs(query))
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

    async def work(store: Store) -> tuple[Any, list[Any]]:
        rows = await store.events(run_id)
        if not rows:
            raise NotFoundError(f"no run {run_id!r} in this store; list runs with `proctor runs`")
        return await store.get_run(run_id), [row_to_event(row) for row in rows]

    record, events = _with_store(work)
    if as_json:
        print(render.to_json(events))
    else:
        console.print(render.trace_tree(record, events))


@app.command()
def approvals(
    show_all: bool = typer.Option(False, "--all", help="Include decided approvals."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """List approvals waiting for a decision, with the exact call each one is for."""
    found = _with_store(lambda store: store.list_approvals(None if show_all else "pending"))
    if as_json:
        print(render.to_json(found))
    else:
        console.print(render.approvals_table(found))


def _decide(approval_id: str, *, approved: bool, by: str, reason: str, resume_run: bool) -> None:
    by = by or _os_user()

    async def work(store: Store) -> None:
        # The run's own workflow, when it can be imported here: its contract's redaction
        # applies to the approver's reason too (else the built-in detectors do).
        pending = await store.get_approval(approval_id)
        record = None if pending is None else await store.get_run(pending.run_id)
        ref = None if record is None else (record.workflow_ref or record.workflow)
        runner, missing = None, None
        if ref is not None:
            try:
                runner = runner_for(store, stored_workflow(ref, config=options.config))
            except (NotFoundError, ConfigError) as exc:
                missing = exc
        verdict = "approved" if approved else "denied"

        def decided(approval: ApprovalRecord) -> None:
            console.print(
                f"{approval.tool} in run {approval.run_id} {verdict} by {by}", markup=False
            )

        async def show(resumed: Awaitable[RunResult]) -> None:
            _print_result(await resumed)

        outcome = await decide_and_continue(
            store,
            approval_id,
            approved=approved,
            by=by,
            reason=reason,
            runner=runner,
            drive=show if resume_run else None,
            on_decided=decided,
        )
        if outcome.queued:
            console.print(
                f"  run {outcome.approval.run_id} is in the run queue: a worker continues it"
            )
        elif resume_run and not outcome.continued:
            raise NotFoundError(
                f"the decision is recorded, but the run could not continue here: {missing}. "
                f"If you know and trust the workflow the run names, resume it with: "
                f"proctor resume {outcome.approval.run_id} --workflow {ref} (a name you do not "
                "recognise may be a tampered row: check with proctor audit verify)"
            )

    _with_store(work)


@app.command()
def approve(
    approval_id: str = typer.Argument(...),
    by: str = typer.Option(
        "", "--as", help="Who approves, as the run's log records it (default: your login name)."
    ),
    reason: str = typer.Option("", "--reason"),
    no_resume: bool = typer.Option(False, "--no-resume", help="Record only; resume later."),
) -> None:
    """Approve a pending call; the run continues at once unless --no-resume."""
    _decide(approval_id, approved=True, by=by, reason=reason, resume_run=not no_resume)


@app.command()
def deny(
    approval_id: str = typer.Argument(...),
    by: str = typer.Option(
        "", "--as", help="Who denies, as the run's log records it (default: your login name)."
    ),
    reason: str = typer.Option(..., "--reason"),
    no_resume: bool = typer.Option(False, "--no-resume"),
) -> None:
    """Deny a pending call; the run then follows its contract's escalation rule."""
    _decide(approval_id, approved=False, by=by, reason=reason, resume_run=not no_resume)


@contract_app.command("check")
def contract_check(
    path: Path = typer.Argument(..., help="Contract YAML file."),
    workflow: str | None = typer.Option(
        None, "--workflow", help="Check against this workflow's tools (package.module:attribute)."
    ),
) -> None:
    """Validate a contract against the tools of its workflow. Exit 0 valid, 1 invalid."""
    known = known_workflows()
    if workflow is not None:
        own = load_workflow(workflow)
        known[own.name] = lambda: own

    def registry_for(name: str) -> Any:
        factory = known.get(name)
        return None if factory is None else factory().registry

    problems: list[Any] = list(
        check_contract_file(path, registry_for, known_workflows=sorted(known))
    )
    if not problems:  # separation of duties needs the workflow's prompt and model too
        terms = load_contract(path)
        factory = known.get(terms.workflow)
        if factory is not None:
            flow = factory()
            acting = terms.model.default or flow.default_model
            duty = separation_problem(terms, flow.instructions, acting)
            if duty is not None:
                problems.append(f"{path}: checker: {duty}")
    if not problems:
        console.print(f"[green]✓[/] {escape(str(path))} is a valid contract")
        return
    for problem in problems:
        console.print(f"[red]✗[/] {escape(str(problem))}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


@audit_app.command("verify")
def audit_verify(
    run_id: str | None = typer.Argument(None, help="One run; default every run."),
) -> None:
    """Recompute hash chains; exit 1 naming the first bad event of any broken chain."""

    async def work(store: Store) -> list[Any]:
        ids = [run_id] if run_id else await store.run_ids()
        if run_id and not await store.events(run_id):
            raise NotFoundError(f"no run {run_id!r} in this store")
        return [await verify_run(store, rid) for rid in ids]

    reports = _with_store(work)
    broken = [r for r in reports if not r.ok]
    for report in broken:
        problem = escape(report.problem or "")
        console.print(f"[red]✗ {report.run_id}[/]: {problem}", highlight=False, soft_wrap=True)
    if broken:
        console.print(f"{len(broken)} of {len(reports)} chain(s) broken")
        raise typer.Exit(1)
    # For one run, the head hash too: a receipt (audit export) is checked against it.
    head = f", head {reports[0].head_hash}" if run_id else ""
    console.print(
        f"[green]✓[/] {len(reports)} chain(s) verified, "
        f"{sum(r.events for r in reports)} events{head}",
        highlight=False,
    )


def main() -> None:
    """Entry point: one clear line per error; exit 2 on usage errors; tracebacks need --debug."""
    # Bytes that are not UTF-8 arrive as lone surrogates, which no store, file or terminal
    # takes: refuse them here rather than deep inside whichever command meets them first.
    for arg in sys.argv[1:]:
        if json_value_problem(arg) is not None:
            _report(UsageError(f"argument {arg!r} is not UTF-8 text; pass arguments as UTF-8"))
    try:
        # Without standalone mode, typer returns a command's exit code instead of exiting.
        code = app(standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except (typer.Exit, SystemExit) as exc:
        code = getattr(exc, "exit_code", None)
        code = exc.code if code is None and isinstance(exc, SystemExit) else code
        sys.exit(code if isinstance(code, int) else 0)
    except (typer.Abort, KeyboardInterrupt):
        sys.exit(130)
    except Exception as exc:
        if options.debug:
            raise
        _report(exc)


def _report(exc: BaseException) -> None:
    # One line per error, whatever the terminal width; the message is plain text, so a
    # bracket in it (a user's argument, a file's content) is never read as markup.
    err = Console(stderr=True, soft_wrap=True, markup=False)
    if isinstance(exc, typer.TyperException):  # bad options or arguments
        label = "usage error" if exc.exit_code == 2 else "error"
        err.print(f"{label}: {exc.format_message()} (see --help)", highlight=False)
        sys.exit(exc.exit_code)
    if isinstance(exc, UsageError):
        err.print(f"usage error: {exc}", highlight=False)
        sys.exit(2)
    if isinstance(exc, ProctorError):
        err.print(f"error: {exc}", highlight=False)
        sys.exit(1)
    if isinstance(exc, OSError):  # the system refused a path or a file the user named
        name = f": {exc.filename}" if exc.filename else ""
        err.print(f"error: {exc.strerror or exc}{name}", highlight=False)
        sys.exit(1)
    err.print(
        f"internal error: {type(exc).__name__}: {exc} (run again with --debug for the traceback)",
        highlight=False,
    )
    sys.exit(1)
