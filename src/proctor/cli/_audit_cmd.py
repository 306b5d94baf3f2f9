"""``proctor audit verify | checkpoint | export | public-key | rotate-key``: the evidence
of run logs (hash chains, MACs, signatures, checkpoints), and a run's receipt."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.markup import escape

from proctor.cli._context import DB, command_group, console, with_store
from proctor.errors import NotFoundError, UsageError

if TYPE_CHECKING:
    from proctor.audit import StoreReport
    from proctor.store import CheckpointRecord, EvidenceKeys, Store

app = command_group(
    help="Verify run logs (chains, MACs, signatures, checkpoints); sign checkpoints; "
    "export a run's receipt; show or rotate the evidence key.",
    no_args_is_help=True,
)

_FORMATS = ("html", "json")


@app.command("verify")
def audit_verify(
    run_id: str | None = typer.Argument(None, help="One run; default every run."),
    public_key: list[Path] = typer.Option(
        [],
        "--public-key",
        help="Verify with only this public key (PEM; repeatable): hashes, signatures and "
        "checkpoints, without the store's secret. Default: this home's keys.",
    ),
    checkpoint: list[Path] = typer.Option(
        [],
        "--checkpoint",
        help="A checkpoint exported earlier (repeatable): the store must still hold it "
        "and every run it signed.",
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print each chain's result as JSON (exit 1 all the same)."
    ),
    db: str | None = DB,
) -> None:
    """Recompute hash chains, check MACs, signatures and checkpoints; exit 1 naming the
    first bad event of any broken chain."""
    from proctor.audit import verify_store

    exported = [_read_checkpoint(path) for path in checkpoint]

    async def work(store: Store) -> tuple[EvidenceKeys, Any]:
        # Loaded once the store is found: the home's keys are made on first use, and a
        # mistyped --db must not leave new ones behind.
        keys = _verifying_keys(public_key)
        if run_id and not await store.events(run_id):
            raise NotFoundError(f"no run {run_id!r} in this store")
        return keys, await verify_store(store, keys, run_id=run_id, exported=exported)

    keys, found = with_store(work, create=False)
    if as_json:
        print(_verify_json(found, macs_checked=keys.can_check_macs, exported=len(exported)))
        if not found.ok:
            raise typer.Exit(1)
        return
    reports = found.runs
    broken = [r for r in reports if not r.ok]
    for report in broken:
        problem = escape(report.problem or "")
        console.print(f"[red]✗ {report.run_id}[/]: {problem}", highlight=False, soft_wrap=True)
    for problem in found.problems:
        console.print(f"[red]✗[/] {escape(problem)}", highlight=False, soft_wrap=True)
    if not found.ok:
        console.print(
            f"{len(broken)} of {len(reports)} chain(s) broken"
            + (f", {len(found.problems)} checkpoint problem(s)" if found.problems else "")
        )
        raise typer.Exit(1)
    # For one run, the head hash too: a receipt (audit export) is checked against it.
    head = f", head {reports[0].head_hash}" if run_id else ""
    console.print(
        f"[green]✓[/] {len(reports)} chain(s) verified, "
        f"{sum(r.events for r in reports)} events{head}",
        highlight=False,
    )
    open_tail = [r for r in reports if r.signed_through < r.events - 1]
    if not keys.can_check_macs:
        console.print(
            "  with public keys only: hashes and signatures checked, MACs not (they need "
            "the store's secret)",
            highlight=False,
        )
    if open_tail:
        console.print(
            f"  {len(open_tail)} run(s) have events after their last signature (runs still "
            "going are signed at their next decision)",
            highlight=False,
        )
    if found.checkpoints or exported:
        console.print(
            f"  checkpoints: {found.checkpoints} in the store, {len(exported)} exported, "
            "all consistent with the runs",
            highlight=False,
        )


def _verify_json(found: StoreReport, *, macs_checked: bool, exported: int) -> str:
    """What ``audit verify --json`` prints: the verdict, then each run's chain."""
    import time

    from proctor.cli._render import to_json
    from proctor.store import iso_time

    return to_json(
        {
            "ok": found.ok,
            "verified_at": iso_time(time.time()),
            "macs_checked": macs_checked,
            "runs": [
                {
                    "run_id": report.run_id,
                    "ok": report.ok,
                    "events": report.events,
                    "head_hash": report.head_hash,
                    "problem": report.problem,
                    "bad_seq": report.bad_seq,
                    "signed_through": report.signed_through,
                }
                for report in found.runs
            ],
            "checkpoints": found.checkpoints,
            "exported_checkpoints": exported,
            "problems": found.problems,
        }
    )


@app.command("checkpoint")
def audit_checkpoint(
    export: Path | None = typer.Option(
        None, "--export", help="Also write the checkpoint (JSON) here: keep it off this host."
    ),
    db: str | None = DB,
) -> None:
    """Sign every run's head into the store's checkpoint log (runs deleted or replaced
    later are then caught by `audit verify`)."""
    from proctor.audit import export_checkpoint, make_checkpoint
    from proctor.store import load_evidence_keys

    async def work(store: Store) -> tuple[EvidenceKeys, CheckpointRecord]:
        keys = load_evidence_keys()  # once the store is found, as in `audit verify`
        return keys, await make_checkpoint(store, keys)

    keys, record = with_store(work, create=False)
    console.print(
        f"checkpoint {record.seq}: {record.runs} run(s), root {record.root}",
        highlight=False,
        markup=False,
    )
    if export is not None:
        import orjson

        document = export_checkpoint(record, keys)
        try:
            export.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n")
        except OSError as exc:
            raise UsageError(
                f"cannot write the checkpoint to {export}: {exc.strerror or exc}. "
                "Fix: choose another file with --export"
            ) from None
        console.print(f"wrote {export}", highlight=False, markup=False)


@app.command("check-receipt")
def audit_check_receipt(
    receipt: Path = typer.Argument(..., help="A receipt exported with --format json."),
    public_key: list[Path] = typer.Option(
        ...,
        "--public-key",
        help="The evidence public key its operator published (PEM; repeatable).",
    ),
) -> None:
    """Check a receipt offline: its chain recomputes and its signatures verify."""
    import orjson

    from proctor.audit import check_receipt

    try:
        document = orjson.loads(receipt.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise UsageError(
            f"cannot read the receipt {receipt}: {exc}. Fix: export one with "
            "`proctor audit export RUN --format json`"
        ) from None
    found = check_receipt(document, _verifying_keys(public_key), where=str(receipt))
    if not found.ok:
        console.print(
            f"[red]✗ {found.run_id}[/]: {escape(found.problem or '')}",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(1)
    tail = found.events - 1 - found.signed_through
    console.print(
        f"[green]✓[/] {found.run_id}: {found.events} events recomputed, head "
        f"{found.head_hash}; signed through event {found.signed_through}"
        + (f" ({tail} later event(s) covered by hashes only)" if tail else ""),
        highlight=False,
        soft_wrap=True,
    )


@app.command("public-key")
def audit_public_key() -> None:
    """Print the evidence key's public half (PEM), for whoever verifies runs offline."""
    from proctor.store import load_evidence_keys, public_pem

    keys = load_evidence_keys()
    assert keys.signer is not None
    sys.stdout.write(public_pem(keys.signer.public_key()).decode())
    Console(stderr=True, emoji=False).print(
        f"key id {keys.signer.key_id}", highlight=False, markup=False
    )


@app.command("rotate-key")
def audit_rotate_key() -> None:
    """Replace the evidence key; the old public key stays trusted, so what it signed
    still verifies."""
    from proctor.store import rotate_evidence_key

    old, new = rotate_evidence_key()
    console.print(
        f"evidence key {old} retired (its public key kept in evidence-keys/), now signing "
        f"with {new}. Publish the new public key: proctor audit public-key",
        highlight=False,
        markup=False,
    )


def _verifying_keys(paths: list[Path]) -> EvidenceKeys:
    from proctor.store import EvidenceKeys, load_evidence_keys, load_public_key

    if not paths:
        return load_evidence_keys()
    keys = []
    for path in paths:
        try:
            pem = path.read_bytes()
        except OSError as exc:
            raise UsageError(
                f"cannot read the public key {path}: {exc.strerror or exc}. Fix: export it "
                "where the store is with `proctor audit public-key > FILE`"
            ) from None
        keys.append(load_public_key(pem, where=str(path)))
    return EvidenceKeys.public_only(keys)


def _read_checkpoint(path: Path) -> CheckpointRecord:
    import orjson

    from proctor.audit import load_checkpoint

    try:
        document = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise UsageError(
            f"cannot read the checkpoint {path}: {exc}. Fix: pass a file written by "
            "`proctor audit checkpoint --export FILE`"
        ) from None
    return load_checkpoint(document, where=str(path))


@app.command("export")
def audit_export(
    run_id: str = typer.Argument(..., help="The run to tell."),
    fmt: str = typer.Option("html", "--format", help="html (one offline page) or json."),
    output: Path | None = typer.Option(
        None,
        "--output",
        "-o",
        help="File to write (default ./RUN_ID.receipt.html|json, in the current folder; "
        "- for stdout).",
    ),
    db: str | None = DB,
) -> None:
    """Write a run's receipt: who, what, every call and decision, cost, and the chain head."""
    if fmt not in _FORMATS:
        raise UsageError(f"unknown format {fmt!r}: use --format html or --format json")
    from proctor.audit import build_receipt, receipt_html, receipt_json
    from proctor.cli._render import money

    receipt = with_store(lambda store: build_receipt(store, run_id), create=False)
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
            f"wrote {target.resolve()} ({len(text.encode()):,} bytes): {run_id} {outcome}, "
            f"{money(receipt.totals.cost_usd)}, {check.events} events",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    if not check.ok:
        Console(stderr=True, soft_wrap=True, markup=False, emoji=False).print(
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
