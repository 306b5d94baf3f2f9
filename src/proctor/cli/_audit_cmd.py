"""``proctor audit verify | export``: the hash chains of run logs, and a run's receipt."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.markup import escape

from proctor.cli._context import command_group, console, with_store
from proctor.errors import NotFoundError, UsageError

if TYPE_CHECKING:
    from proctor.store import Store

app = command_group(
    help="Verify the hash chains of run logs; export a run's receipt.", no_args_is_help=True
)

_FORMATS = ("html", "json")


@app.command("verify")
def audit_verify(
    run_id: str | None = typer.Argument(None, help="One run; default every run."),
) -> None:
    """Recompute hash chains; exit 1 naming the first bad event of any broken chain."""
    from proctor.store import verify_run

    async def work(store: Store) -> list[Any]:
        ids = [run_id] if run_id else await store.run_ids()
        if run_id and not await store.events(run_id):
            raise NotFoundError(f"no run {run_id!r} in this store")
        return [await verify_run(store, rid) for rid in ids]

    reports = with_store(work)
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


@app.command("export")
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
    from proctor.audit import build_receipt, receipt_html, receipt_json
    from proctor.cli._render import money

    receipt = with_store(lambda store: build_receipt(store, run_id))
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
            f"{money(receipt.totals.cost_usd)}, {check.events} events",
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
