"""``proctor retention apply``: old runs' payloads purged as their contracts say."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.table import Table

from proctor.cli._context import command_group, console, with_store
from proctor.cli._options import stored_name

if TYPE_CHECKING:
    from proctor.audit import RetentionReport

app = command_group(
    help="Purge old run payloads as contracts' retention_days say.", no_args_is_help=True
)


@app.command("apply")
def retention_apply(
    dry_run: bool = typer.Option(False, "--dry-run", help="Report what would go; change nothing."),
    workflow: str | None = typer.Option(None, "--workflow", "-w", help="Only this workflow."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Purge payloads of finished runs older than their contract's retention_days.

    Inputs, arguments, results and model text go; metadata, decisions and hashes stay,
    so reports are unchanged and `proctor audit verify` still passes.
    """
    from proctor.audit import apply_retention
    from proctor.store import SQLiteStore, Store

    name = stored_name(workflow)

    async def apply(store: Store) -> RetentionReport:
        report = await apply_retention(store, dry_run=dry_run, workflow=name)
        if report.runs and not dry_run and isinstance(store, SQLiteStore):
            # The purged words leave the search index now, not whenever a later process's
            # thread next finds the store quiet (store._text_index).
            await store.catch_up_search_index()
        return report

    report = with_store(apply, create=False)
    if as_json:
        from proctor.cli._render import to_json

        print(to_json(_retention_json(report)))
        return
    console.print(_retention_table(report))


def _retention_json(report: RetentionReport) -> dict[str, object]:
    """The report as ``retention apply --json`` prints it: one item per run."""
    from proctor.store import iso_or_none, iso_time

    return {
        "dry_run": report.dry_run,
        "at": iso_time(report.at),
        "runs": report.runs,
        "events": report.events,
        "bytes": report.bytes,
        "items": [
            {
                "run_id": item.run.run_id,
                "workflow": item.run.workflow,
                "contract_hash": item.run.contract_hash,
                "retention_days": item.retention_days,
                "finished_at": iso_or_none(item.run.finished_at),
                "events": item.purge.events,
                "bytes": item.purge.bytes,
            }
            for item in report.items
        ],
    }


def _retention_table(report: RetentionReport) -> Table:
    verb = "would purge" if report.dry_run else "purged"
    title = (
        f"{'dry run: ' if report.dry_run else ''}{verb} payloads of {report.runs} run(s), "
        f"{report.events:,} events, {report.bytes:,} bytes"
    )
    from proctor.cli._render import count, new_table

    table = new_table(title)
    table.add_column("workflow")
    table.add_column("contract", no_wrap=True)
    table.add_column("retention", no_wrap=True)
    for column in ("runs", "events purged", "bytes freed"):
        table.add_column(column, justify="right", no_wrap=True)
    groups: dict[tuple[str, str, int], list[int]] = {}
    for item in report.items:
        key = (item.run.workflow, item.run.contract_hash[:12], item.retention_days)
        runs, events, size = groups.setdefault(key, [0, 0, 0])
        groups[key] = [runs + 1, events + item.purge.events, size + item.purge.bytes]
    for (flow, contract, days), (runs, events, size) in groups.items():
        table.add_row(flow, contract, count(days, "day"), str(runs), f"{events:,}", f"{size:,}")
    if len(groups) > 1:
        table.add_row("total", "", "", str(report.runs), f"{report.events:,}", f"{report.bytes:,}")
    return table
