"""``proctor notify``: announce pending approvals (``run``) and read the delivery log (``log``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from proctor.cli._context import command_group, console, options, with_store
from proctor.cli._options import MAX_COUNT, finite
from proctor.errors import UsageError

if TYPE_CHECKING:
    from proctor.notifications import DispatchReport
    from proctor.store import DeliveryRecord, Store

app = command_group(
    help="Announce pending approvals on the channels of proctor.yaml's notifications:.",
    no_args_is_help=True,
)


@app.command("run")
def notify_run(
    once: bool = typer.Option(False, "--once", help="One pass, then exit (for cron)."),
    every: float | None = typer.Option(
        None,
        "--every",
        min=0.1,
        max=3600,
        callback=finite,
        help="Seconds between passes (default: notifications.poll_s, 5).",
    ),
    health_port: int | None = typer.Option(
        None,
        "--health-port",
        min=0,
        max=65535,
        metavar="PORT",
        help="Answer probes at http://HOST:PORT/healthz (the loop turns) and /readyz (a "
        "pass ended within three intervals, at least 30 s).",
    ),
    health_host: str = typer.Option(
        "127.0.0.1",
        "--health-host",
        help="Address --health-port binds (0.0.0.0 for probes from outside a container).",
    ),
) -> None:
    """Announce each pending approval and escalated run on its channels, and each decision
    where its request was, trying failed ones again, until stopped (Ctrl-C). `proctor
    serve` does the same when notifications: names channels; of several processes, one
    sends each message."""
    import asyncio

    from proctor.notifications import Notifier

    if once and health_port is not None:
        raise UsageError(
            "--health-port answers probes while notify run loops; --once makes one pass "
            "and exits. Fix: leave out one of them"
        )

    async def work(store: Store) -> DispatchReport | None:
        notifier = Notifier.for_project(store, options.config)
        if notifier is None:
            raise UsageError(
                "proctor.yaml's notifications: names no channel. Fix: add one "
                "(docs/notifications.md), or name the file with proctor --config FILE COMMAND"
            )
        try:
            if once:
                return await notifier.dispatch()
            console.print("announcing pending approvals (Ctrl-C stops)")
            if health_port is None:
                await notifier.run(asyncio.Event(), every_s=every or notifier.config.poll_s)
                return None
            from proctor.cli._health import HealthServer

            health = HealthServer(notifier.not_ready)
            bound = health.serve(health_port, health_host)
            console.print(f"health: http://{health_host}:{bound}/readyz", highlight=False)
            console.file.flush()
            ticking = asyncio.create_task(health.ticking())
            try:
                await notifier.run(asyncio.Event(), every_s=every or notifier.config.poll_s)
            finally:
                ticking.cancel()
                health.close()
            return None
        finally:
            await notifier.close()

    try:
        report = with_store(work, create=False)
    except KeyboardInterrupt:
        raise typer.Exit(0) from None
    if report is not None:
        elsewhere = f", {report.elsewhere} sent by another process" if report.elsewhere else ""
        console.print(
            f"{report.pending} pending approval(s), {report.decided} decision(s), "
            f"{report.escalated} escalated run(s): {report.sent} delivered{elsewhere}, "
            f"{report.failed} failed (retried on the next pass, see `proctor notify log`)"
        )
        if report.failed:
            raise typer.Exit(1)


@app.command("log")
def notify_log(
    subject: str | None = typer.Argument(
        None, help="Only the deliveries about this approval (ap_...) or run (run_...)."
    ),
    limit: int = typer.Option(100, "--limit", min=1, max=MAX_COUNT, help="At most this many."),
    as_json: bool = typer.Option(False, "--json", help="Print the attempts as JSON."),
) -> None:
    """Every attempt to announce an approval, its decision or an escalated run: channel,
    try, result, next try ("sending": being made, or its process died)."""
    from proctor.cli._render import new_table, to_json, when
    from proctor.notifications import decision_subject
    from proctor.store import iso_or_none, iso_time

    # An approval's log holds the announcement of its decision too.
    subjects = None if subject is None else [subject, decision_subject(subject)]
    found: list[DeliveryRecord] = with_store(
        lambda store: store.deliveries(subjects, limit=limit), create=False
    )
    if as_json:
        items = [
            {
                "delivery_id": d.delivery_id,
                "subject_id": d.subject_id,
                "channel": d.channel,
                "attempt": d.attempt,
                "at": iso_time(d.at),
                "ok": d.ok,
                "detail": d.detail,
                "next_at": iso_or_none(d.next_at),
            }
            for d in found
        ]
        print(to_json({"deliveries": items}))
        return
    table = new_table(f"{len(found)} delivery attempt(s), oldest first")
    for column in ("about", "channel", "try", "at", "result", "next try"):
        table.add_column(column)
    for d in found:
        result = (
            f"[green]ok[/] {d.detail}"
            if d.ok
            else d.detail
            if d.detail == "sending"
            else f"[red]failed[/] {d.detail}"
        )
        again = "-" if d.next_at is None else when(d.next_at)
        table.add_row(d.subject_id, d.channel, str(d.attempt), when(d.at), result, again)
    console.print(table)
