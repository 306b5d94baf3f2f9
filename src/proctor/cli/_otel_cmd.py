"""``proctor otel export``: past runs from the store to an OTLP/HTTP receiver."""

from __future__ import annotations

import typer

from proctor.cli._context import command_group
from proctor.cli._options import stored_name

app = command_group(
    help="OpenTelemetry: export runs as traces (GenAI semantic conventions).",
    no_args_is_help=True,
)


@app.command("export")
def export(
    since: str | None = typer.Option(
        None,
        "--since",
        help="Runs that finished in this window: 7d, 12h, 30m, or an ISO date (default: all).",
    ),
    run_id: str | None = typer.Option(None, "--run", help="Only this run."),
    workflow: str | None = typer.Option(None, "--workflow", help="Only runs of this workflow."),
    endpoint: str | None = typer.Option(
        None,
        "--endpoint",
        help="OTLP/HTTP traces URL (default: $OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, "
        "or $OTEL_EXPORTER_OTLP_ENDPOINT/v1/traces).",
    ),
    capture_content: bool | None = typer.Option(
        None,
        "--capture-content/--no-capture-content",
        help="Also send stored (redacted) content: input, model text, tool arguments and "
        "results (default: $PROCTOR_OTEL_CAPTURE_CONTENT, else no).",
    ),
) -> None:
    """Send finished runs to an OTLP receiver: the same spans live export sends."""
    # Imported here: `proctor --help` and other commands do not pay for the SDK.
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from proctor.cli._context import console, rich_console, with_store
    from proctor.errors import ConfigError, needs_extra
    from proctor.store import RunRecord, Store
    from proctor.telemetry import (
        NO_ENDPOINT,
        ExportReport,
        export_runs,
        parse_since,
        select_runs,
        telemetry_settings,
    )

    settings = telemetry_settings()
    url = endpoint or settings.endpoint
    if url is None:
        if settings.off_reason is not None:
            raise ConfigError(
                f"OpenTelemetry export is off ({settings.off_reason}). Fix: unset it, "
                "or name the receiver with --endpoint URL"
            )
        raise ConfigError(NO_ENDPOINT + ", or pass --endpoint URL")
    capture = settings.capture_content if capture_content is None else capture_content
    window = None if since is None else parse_since(since)
    name = stored_name(workflow)

    with needs_extra("proctor otel export"):
        from proctor.telemetry._otel import check_reachable, otlp_exporter, resource, send

    async def work(store: Store) -> ExportReport:
        selection = await select_runs(store, since=window, run_id=run_id, workflow=name)
        if not selection.runs:
            return ExportReport(runs=0, spans=0, unfinished=selection.unfinished)
        check_reachable(url)
        exporter, owner = otlp_exporter(url), resource()
        try:
            with Progress(
                TextColumn("exporting runs"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[spans]} spans"),
                console=rich_console(),
                transient=True,
                disable=not console.is_terminal,
            ) as progress:
                task = progress.add_task("runs", total=len(selection.runs), spans=0)
                sent = 0

                def advance(_: RunRecord, spans: int) -> None:
                    nonlocal sent
                    sent += spans
                    progress.update(task, advance=1, spans=sent)

                return await export_runs(
                    store,
                    lambda spans: send(exporter, spans, url, owner),
                    selection,
                    capture_content=capture,
                    progress=advance,
                )
        finally:
            exporter.shutdown()

    report = with_store(work, create=False)
    waiting = (
        f"; {report.unfinished} unfinished run(s) skipped: export them once they finish"
        if report.unfinished
        else ""
    )
    if report.runs == 0:
        console.print(f"no finished runs to export{waiting}", highlight=False, markup=False)
        return
    content = " with content" if capture else ""
    console.print(
        f"✓ sent {report.spans:,} spans of {report.runs:,} run(s){content} to {url}{waiting}",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
