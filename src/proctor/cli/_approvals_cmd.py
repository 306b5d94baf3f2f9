"""``proctor approvals``, ``approve`` and ``deny``: a person's decision on a waiting call."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from proctor.cli._context import command_group, console, options, os_user, with_store
from proctor.cli._options import MAX_COUNT
from proctor.errors import ConfigError, NotFoundError

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from proctor.store import ApprovalRecord, Store

app = command_group()


@app.command()
def approvals(
    show_all: bool = typer.Option(False, "--all", help="Include decided approvals."),
    limit: int = typer.Option(
        50, "--limit", min=1, max=MAX_COUNT, help="At most this many, oldest request first."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the approvals as JSON."),
) -> None:
    """List approvals waiting for a decision, with the exact call each one is for."""
    from proctor.audit import chained_approvals
    from proctor.cli import _render as render

    status = None if show_all else "pending"

    async def work(store: Store) -> tuple[list[ApprovalRecord], int]:
        # Shown as the runs' chains asked them, not as the approvals table says.
        listed = await store.list_approvals(status, limit=limit)
        total = len(listed)
        if total == limit:  # a full page: how many there are in all
            total = await store.count_approvals(status)
        return await chained_approvals(store, listed), total

    found, total = with_store(work, create=False)
    if as_json:
        from proctor.store import approval_document

        print(render.to_json({"approvals": [approval_document(a) for a in found]}))
    else:
        console.print(render.approvals_table(found, total=total))


def _decide(approval_id: str, *, approved: bool, by: str, reason: str, resume_run: bool) -> None:
    from proctor.cli._render import print_result
    from proctor.cli._workflows import runner_for, stored_workflow
    from proctor.runtime import RunResult, decide_and_continue, is_external_model

    by = by or os_user()

    async def work(store: Store) -> None:
        # The run's own workflow, when it can be imported here: its contract's redaction
        # applies to the approver's reason too (else the built-in detectors do).
        pending = await store.get_approval(approval_id)
        record = None if pending is None else await store.get_run(pending.run_id)
        ref = None if record is None else (record.workflow_ref or record.workflow)
        runner, missing = None, None
        # An outside agent's run goes on in its own session, when the agent repeats the call.
        agent = record is not None and is_external_model(record.model)
        if ref is not None and not agent:
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
            print_result(await resumed, console)

        outcome = await decide_and_continue(
            store,
            approval_id,
            approved=approved,
            by=by,
            reason=reason,
            runner=runner,
            drive=show if resume_run and not agent else None,
            on_decided=decided,
        )
        if agent:
            console.print(
                f"  run {outcome.approval.run_id} is an outside agent's session "
                f"({record.model if record else ''}): it continues when the agent repeats the call"
            )
        elif outcome.queued:
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

    with_store(work, create=False)


@app.command()
def approve(
    approval_id: str = typer.Argument(..., help="The approval's id (ap_...)."),
    by: str = typer.Option(
        "", "--as", help="Who approves, as the run's log records it (default: your login name)."
    ),
    reason: str = typer.Option("", "--reason", help="Why, recorded in the run's log."),
    resume_run: bool = typer.Option(
        True, "--resume/--no-resume", help="Continue the run now, or only record the decision."
    ),
) -> None:
    """Approve a pending call; the run continues at once unless --no-resume."""
    _decide(approval_id, approved=True, by=by, reason=reason, resume_run=resume_run)


@app.command()
def deny(
    approval_id: str = typer.Argument(..., help="The approval's id (ap_...)."),
    by: str = typer.Option(
        "", "--as", help="Who denies, as the run's log records it (default: your login name)."
    ),
    reason: str = typer.Option(..., "--reason", help="Why (required), recorded in the run's log."),
    resume_run: bool = typer.Option(
        True,
        "--resume/--no-resume",
        help="Continue the run now (it escalates as its contract says), or only record the "
        "decision.",
    ),
) -> None:
    """Deny a pending call; the run then follows its contract's escalation rule."""
    _decide(approval_id, approved=False, by=by, reason=reason, resume_run=resume_run)
