"""``proctor submit``, ``proctor worker`` and ``proctor queue``: the run queue from the CLI."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from proctor.cli._context import command_group, console, options, os_user, with_store
from proctor.cli._options import GRACE_S, LEASE_S, MAX_COUNT, MAX_PRIORITY, finite
from proctor.errors import UsageError

if TYPE_CHECKING:
    from proctor.runtime import WorkerStats
    from proctor.store import QueueItem, QueueState, Store

app = command_group()

_STATES: tuple[QueueState, ...] = ("queued", "claimed", "waiting", "done")


@app.command("submit")
def submit_command(
    workflow: str = typer.Argument(..., help="Workflow name, or package.module:attribute."),
    input: Path = typer.Option(..., "--input", "-i", help="JSON file with the run's input."),
    priority: int = typer.Option(
        0, "--priority", min=-MAX_PRIORITY, max=MAX_PRIORITY, help="Higher runs first (default 0)."
    ),
    model: str | None = typer.Option(
        None, "--model", help="Model spec, e.g. scripted:procedure or openai:gpt-4o-mini."
    ),
    tenant: str = typer.Option("default", "--tenant", help="The tenant the run belongs to."),
    session: str | None = typer.Option(
        None,
        "--session",
        metavar="KEY",
        help="A session key the runs of one conversation share (letters, digits, . _ : + = -).",
    ),
) -> None:
    """Queue a run for `proctor worker` to drive; prints its run id."""
    from proctor.cli._input import read_input
    from proctor.runtime import configured_refs, submit

    payload = read_input(input)
    run_id = with_store(
        lambda store: submit(
            store,
            workflow,
            payload,
            priority=priority,
            model=model,
            tenant=tenant,
            submitted_by=f"cli:{os_user()}",
            session=session,
        )
    )
    print(run_id)
    if ":" in workflow and workflow not in configured_refs(options.config):
        Console(stderr=True, soft_wrap=True, markup=False, highlight=False, emoji=False).print(
            f"note: workers run {workflow} only where it is configured: proctor worker "
            f"--workflow {workflow}, workflows: in proctor.yaml, or $PROCTOR_WORKFLOWS"
        )


@app.command("worker")
def worker_command(
    concurrency: int = typer.Option(
        4, "--concurrency", "-c", max=MAX_COUNT, help="Runs driven at once."
    ),
    workflow: list[str] = typer.Option(
        [],
        "--workflow",
        "-w",
        metavar="REF",
        help="Run only this workflow: a registered name or package.module:attribute "
        "(repeatable; default: every registered workflow and those in proctor.yaml "
        "workflows: or $PROCTOR_WORKFLOWS).",
    ),
    workflows: str | None = typer.Option(
        None, "--workflows", help="The same as --workflow, comma-separated."
    ),
    lease: float = typer.Option(
        LEASE_S,
        "--lease",
        callback=finite,
        help="Seconds a claim holds without a heartbeat.",
    ),
    limit: list[str] = typer.Option(
        [],
        "--limit",
        metavar="NAME=N",
        help="At most N runs of workflow NAME at once over all workers (repeatable).",
    ),
    drain: bool = typer.Option(
        False, "--drain", "--once", help="Exit when nothing is left queued or claimed."
    ),
    grace: float = typer.Option(
        GRACE_S,
        "--grace",
        callback=finite,
        help="Seconds running runs get to finish on SIGTERM.",
    ),
    metrics_port: int | None = typer.Option(
        None,
        "--metrics-port",
        min=0,
        max=65535,
        metavar="PORT",
        help="Serve Prometheus metrics at http://HOST:PORT/metrics (runs claimed, ended by "
        "outcome, their duration).",
    ),
    metrics_host: str = typer.Option(
        "127.0.0.1", "--metrics-host", help="Address --metrics-port binds (default: this machine)."
    ),
    health_port: int | None = typer.Option(
        None,
        "--health-port",
        min=0,
        max=65535,
        metavar="PORT",
        help="Answer probes at http://HOST:PORT/healthz (the worker's loop turns) and "
        "/readyz (it reached the store within a lease).",
    ),
    health_host: str = typer.Option(
        "127.0.0.1",
        "--health-host",
        help="Address --health-port binds (0.0.0.0 for probes from outside a container).",
    ),
) -> None:
    """Claim queued runs and drive them until SIGTERM or Ctrl-C (or, with --drain, done)."""
    import logging

    from proctor.runtime import Worker, WorkerOptions
    from proctor.runtime._worker import parse_limits

    listed = [w.strip() for w in (workflows or "").split(",") if w.strip()]
    if workflows is not None and not listed:
        raise UsageError("--workflows is empty: name workflows, e.g. --workflows invoices,refunds")
    chosen = tuple(dict.fromkeys([*workflow, *listed])) or None
    settings = WorkerOptions(
        concurrency=concurrency,
        workflows=chosen,
        lease_s=lease,
        limits=parse_limits(limit),
        drain=drain,
        grace_s=grace,
        config=options.config,
    )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    observer = None
    if metrics_port is not None:
        from proctor.cli._worker_metrics import WorkerMetrics

        observer = WorkerMetrics()
        bound = observer.serve(metrics_port, metrics_host)
        console.print(f"metrics: http://{metrics_host}:{bound}/metrics", highlight=False)

    async def work(store: Store) -> tuple[str, WorkerStats]:
        worker = Worker(store, settings, observer=observer)
        console.print(
            f"worker {worker.name}: concurrency {concurrency}, lease {lease:g} s",
            markup=False,
            highlight=False,
        )
        if health_port is None:
            console.file.flush()  # piped output is buffered: show the worker's name now
            return worker.name, await worker.run(handle_signals=True)
        from proctor.cli._health import HealthServer

        health = HealthServer(worker.not_ready)
        bound = health.serve(health_port, health_host)
        console.print(f"health: http://{health_host}:{bound}/readyz", highlight=False)
        console.file.flush()
        ticking = asyncio.create_task(health.ticking())
        try:
            return worker.name, await worker.run(handle_signals=True)
        finally:
            ticking.cancel()
            health.close()

    name, stats = with_store(work)
    console.print(
        f"worker {name} stopped: {stats.claimed} claimed, {stats.finished} finished, "
        f"{stats.waiting} waiting for approval, {stats.retried} retried, {stats.failed} failed, "
        f"{stats.handed_back} handed back",
        markup=False,
        highlight=False,
    )


@app.command("queue")
def queue_command(
    state: str | None = typer.Option(None, "--state", help="queued, claimed, waiting or done."),
    limit: int = typer.Option(
        100, "--limit", min=1, max=MAX_COUNT, help="At most this many queued runs."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the queue as JSON."),
) -> None:
    """List the run queue, in claiming order: priority, then age."""
    if state is not None and state not in _STATES:
        raise UsageError(f"unknown state {state!r}: use {', '.join(_STATES)}")
    wanted = next((s for s in _STATES if s == state), None)
    items = with_store(lambda store: store.queue_items(state=wanted, limit=limit), create=False)
    if as_json:
        from proctor.cli._render import to_json

        print(to_json({"items": [_queue_json(item) for item in items]}))
        return
    console.print(_queue_table(items))


def _queue_json(item: QueueItem) -> dict[str, object]:
    """One queued run as ``queue --json`` prints it (without its input: ``proctor trace``
    shows a started run's)."""
    from proctor.store import iso_or_none, iso_time

    return {
        "run_id": item.run_id,
        "workflow": item.workflow,
        "state": item.state,
        "priority": item.priority,
        "attempts": item.attempts,
        "tenant": item.tenant,
        "model": item.model,
        "submitted_by": item.submitted_by,
        "session": item.session,
        "submitted_at": iso_time(item.submitted_at),
        "worker": item.worker,
        "lease_until": iso_or_none(item.lease_until),
        "finished_at": iso_or_none(item.finished_at),
    }


def _queue_table(items: list[QueueItem]) -> Table:
    from proctor.cli._render import new_table

    table = new_table()
    for column in ("run", "workflow", "state", "priority", "attempts", "worker", "lease"):
        table.add_column(column)
    now = time.time()
    for item in items:
        lease = "" if item.lease_until is None else f"{item.lease_until - now:+.0f} s"
        table.add_row(
            item.run_id,
            item.workflow,
            item.state,
            str(item.priority),
            str(item.attempts),
            item.worker or "",
            lease,
        )
    return table
