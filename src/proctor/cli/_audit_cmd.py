"""``proctor audit export``, ``contract diff``, ``contract versions`` and ``retention apply``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from proctor.audit import (
    RetentionReport,
    apply_retention,
    build_receipt,
    find_contract_version,
    receipt_html,
    receipt_json,
)
from proctor.cli import _render as render
from proctor.cli._app import _with_store, app, audit_app, console, contract_app
from proctor.contracts import Contract, diff_contracts, load_contract
from proctor.errors import UsageError
from proctor.store import ContractRecord, Store

retention_app = typer.Typer(
    help="Purge old run payloads as contracts' retention_days say.", no_args_is_help=True
)
app.add_typer(retention_app, name="retention")

_FORMATS = ("html", "json")


@audit_app.command("export")
def audit_export(
    run_id: str = typer.Argument(..., help="The run to tell."),
    fmt: str = typer.Option("html", "--format", help="html (one offline page) or json."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="File to write (default RUN_ID.receipt.html|json; - stdout)."
    ),
) -> None:
    """Write a run's receipt: who, what, every call and decision, cost, and the chain head."""
    if fmt not in _FORMATS:
        raise UsageError(f"unknown format {fmt!r}: use --format html or --format json")
    receipt = _with_store(lambda store: build_receipt(store, run_id))
    text = receipt_html(receipt) if fmt == "html" else receipt_json(receipt)
    check = receipt.verification
    if output is not None and str(output) == "-":
        sys.stdout.write(text)
    else:
        target = output or Path(f"{run_id}.receipt.{fmt}")
        try:
            target.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UsageError(
                f"cannot write the receipt to {target}: {exc.strerror or exc}. "
                "Fix: choose another file with --output"
            ) from None
        outcome = receipt.run.outcome or receipt.run.status
        console.print(
            f"wrote {target} ({len(text.encode()):,} bytes): {run_id} {outcome}, "
            f"{render.money(receipt.totals.cost_usd)}, {check.events} events",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    if not check.ok:
        Console(stderr=True, soft_wrap=True, markup=False).print(
            f"✗ {run_id}: chain verification failed: {check.problem}", highlight=False
        )
        raise typer.Exit(1)
    if output is None or str(output) != "-":
        console.print(
            f"✓ chain verified, head {check.head_hash}\n  check it against the store: "
            f"{check.command}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )


async def _resolve(store: Store, ref: str) -> tuple[str, Contract | dict[str, Any]]:
    """A contract file's path or a stored version's hash prefix, as (label, contract)."""
    path = Path(ref)
    if path.is_file():
        return ref, load_contract(path)
    if path.suffix in (".yaml", ".yml") or "/" in ref or "\\" in ref:
        raise UsageError(f"contract file {ref} does not exist")
    version: ContractRecord = await find_contract_version(store, ref)
    return f"{version.content_hash[:12]} ({version.workflow} v{version.version})", version.body


@contract_app.command("diff")
def contract_diff(
    a: str = typer.Argument(..., help="Old version: a stored hash prefix or a YAML file."),
    b: str = typer.Argument(..., help="New version: a stored hash prefix or a YAML file."),
) -> None:
    """Show what changed between two contract versions: changed keys, then a unified diff."""

    async def work(store: Store) -> Any:
        (a_label, old), (b_label, new) = await _resolve(store, a), await _resolve(store, b)
        return diff_contracts(old, new, a_label=a_label, b_label=b_label)

    diff = _with_store(work)
    if diff.same:
        console.print(
            f"{escape(diff.a)} and {escape(diff.b)} are the same contract", highlight=False
        )
        return
    console.print(f"{len(diff.changes)} change(s) from {diff.a} to {diff.b}:", markup=False)
    for change in diff.changes:
        console.print(f"  {change}", markup=False, highlight=False)
    console.print()
    for line in diff.unified.splitlines():
        style = "green" if line.startswith("+") else "red" if line.startswith("-") else ""
        console.print(Text(line, style=style), highlight=False, soft_wrap=True)


@contract_app.command("versions")
def contract_versions(
    workflow: str | None = typer.Argument(None, help="Only this workflow's versions."),
) -> None:
    """List the contract versions runs have used: hash, version, first use, runs."""
    found = _with_store(lambda store: store.contracts(workflow=workflow))
    table = Table(
        title=f"{len(found)} contract version(s), newest first",
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    for column in ("hash", "workflow", "version", "first used", "runs", "retention"):
        table.add_column(column, justify="right" if column == "runs" else "left", no_wrap=True)
    for version in found:
        days = version.retention_days
        table.add_row(
            version.content_hash[:12],
            version.workflow,
            version.version,
            render.when(version.created_at),
            str(version.runs),
            "forever" if days is None else f"{days} days",
        )
    console.print(table)


@retention_app.command("apply")
def retention_apply(
    dry_run: bool = typer.Option(False, "--dry-run", help="Report what would go; change nothing."),
    workflow: str | None = typer.Option(None, "--workflow", "-w", help="Only this workflow."),
) -> None:
    """Purge payloads of finished runs older than their contract's retention_days.

    Inputs, arguments, results and model text go; metadata, decisions and hashes stay,
    so reports are unchanged and `proctor audit verify` still passes.
    """
    report = _with_store(lambda store: apply_retention(store, dry_run=dry_run, workflow=workflow))
    console.print(_retention_table(report))


def _retention_table(report: RetentionReport) -> Table:
    verb = "would purge" if report.dry_run else "purged"
    title = (
        f"{'dry run: ' if report.dry_run else ''}{verb} payloads of {report.runs} run(s), "
        f"{report.events:,} events, {report.bytes:,} bytes"
    )
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
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
        table.add_row(flow, contract, f"{days} days", str(runs), f"{events:,}", f"{size:,}")
    if len(groups) > 1:
        table.add_row("total", "", "", str(report.runs), f"{report.events:,}", f"{report.bytes:,}")
    return table
