"""``proctor eval import FILE``: evals from traces a team already has.

Each agent run in the file (a trace, a transcript line, a dataset row) is checked against
the workflow's contract (``--check`` prints what it would have refused and exits 1 if
anything), recorded as an observed run (kept with ``--store``), and written as a case
(``--suite DIR``; printed when neither ``--suite``, ``--store`` nor ``--check`` is given).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import typer

from proctor.cli._context import console
from proctor.errors import UsageError

if TYPE_CHECKING:
    from proctor.evals import ImportedTrace
    from proctor.runtime import Workflow
    from proctor.store import Store

_FORMATS = "otlp, openinference, langfuse, openai-jsonl or json"


def eval_import(
    file: Path = typer.Argument(..., help="The trace, transcript or dataset file."),
    format: str = typer.Option(..., "--format", help=f"The file's format: {_FORMATS}."),
    workflow: str = typer.Option(
        ..., "--workflow", help="The workflow whose contract judges the runs (name or module:attr)."
    ),
    suite: Path | None = typer.Option(
        None, "--suite", help="Write a case per run into this suite folder."
    ),
    store: bool = typer.Option(
        False, "--store", help="Keep each observed run in the store (--db), like any run."
    ),
    check: bool = typer.Option(
        False,
        "--check",
        help="Print what the contract would have refused in each run; exit 1 if anything.",
    ),
    contract: Path | None = typer.Option(
        None, "--contract", help="Judge under this contract file instead of the workflow's."
    ),
    tool: list[str] = typer.Option(
        [], "--tool", help="OBSERVED=REGISTERED: a tool name to map (repeatable)."
    ),
    input_key: str = typer.Option(
        "prompt", "--input-key", help="Input key for a first user message that is not JSON."
    ),
    input_field: str | None = typer.Option(
        None, "--input-field", help="json format: the field holding each row's input."
    ),
    calls_field: str | None = typer.Option(
        None, "--calls-field", help="json format: the field holding each row's tool calls."
    ),
    output_field: str | None = typer.Option(
        None, "--output-field", help="json format: the field holding each row's final output."
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite existing case files."),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
) -> None:
    """Import agent runs from traces: check them, record them, write them as cases."""
    from proctor.cli._workflows import load_workflow
    from proctor.evals import DatasetFields, read_traces

    tool_map = _tool_map(tool)
    if format != "json" and any(f is not None for f in (input_field, calls_field, output_field)):
        raise UsageError("--input-field, --calls-field and --output-field are for --format json")
    if not file.is_file():
        raise UsageError(f"no such file: {file}")
    fields = DatasetFields(input=input_field, calls=calls_field, output=output_field)
    trajectories = read_traces(file, format, fields=fields)
    flow = load_workflow(workflow, contract=contract)
    keep = _existing(suite, force)

    async def work(target: Store | None) -> list[ImportedTrace]:
        from proctor.evals import import_trajectory
        from proctor.store import load_evidence_keys

        keys = load_evidence_keys() if target is not None else None
        return [
            await import_trajectory(
                trajectory,
                flow,
                workflow_ref=workflow,
                store=target,
                tool_map=tool_map,
                input_key=input_key,
                keys=keys,
            )
            for trajectory in trajectories
        ]

    if store:
        from proctor.cli._context import with_store

        imported = with_store(work)
    else:
        imported = asyncio.run(work(None))
    if suite is not None:
        _write(suite, imported, keep)
    if as_json:
        print(orjson.dumps([_json(i) for i in imported], option=orjson.OPT_INDENT_2).decode())
    elif suite is None and not store and not check:
        sys.stdout.write("\n---\n".join(i.case_text() for i in imported))
    else:
        for item in imported:
            _show(item, flow, suite=suite, check=check)
    if check and any(item.check.findings for item in imported):
        raise typer.Exit(1)


def _tool_map(pairs: list[str]) -> dict[str, str]:
    mapped = {}
    for pair in pairs:
        observed, sep, registered = pair.partition("=")
        if not sep or not observed.strip() or not registered.strip():
            raise UsageError(
                f"--tool {pair!r}: write OBSERVED=REGISTERED, e.g. pay=erp.create_payment"
            )
        mapped[observed.strip()] = registered.strip()
    return mapped


def _existing(suite: Path | None, force: bool) -> bool:
    if suite is not None and suite.exists() and not suite.is_dir():
        raise UsageError(f"--suite {suite} is a file: name a folder")
    return force


def _write(suite: Path, imported: list[ImportedTrace], force: bool) -> None:
    from proctor.evals import load_case

    targets = [suite / f"{item.name}.yaml" for item in imported]
    clash = [t for t in targets if t.exists()]
    if clash and not force:
        raise UsageError(f"{clash[0]} exists already. Fix: pass --force, or another --suite")
    try:
        suite.mkdir(parents=True, exist_ok=True)
        for target, item in zip(targets, imported, strict=True):
            target.write_text(item.case_text(), encoding="utf-8")
            load_case(target)  # what was written must load as written
    except OSError as exc:
        raise UsageError(f"cannot write into {suite}: {exc.strerror or exc}") from None


def _show(item: ImportedTrace, flow: Workflow, *, suite: Path | None, check: bool) -> None:
    trajectory = item.trajectory
    who = ", ".join(filter(None, [trajectory.source, trajectory.agent]))
    lines = [
        f"trace {trajectory.id} ({who}): {len(trajectory.calls)} tool call(s), "
        f"{len(trajectory.turns)} model turn(s)"
    ]
    if item.renamed:
        shown = ", ".join(f"{a} → {b}" for a, b in item.renamed.items())
        lines.append(f"  tool names: {shown}")
    for note in item.check.notes:
        lines.append(f"  note: {note}")
    if check or item.check.findings:
        if item.check.findings:
            lines.append(f"  the {flow.contract.workflow} contract would have refused:")
        else:
            lines.append(f"  ✓ nothing the {flow.contract.workflow} contract would have refused")
        for finding in item.check.findings:
            what = {"denied": "deny", "approval": "require_approval"}.get(
                finding.kind, finding.kind
            )
            where = f"call {finding.call} {finding.tool}  " if finding.call else ""
            lines.append(f"    ✗ {where}{what}  [{finding.rule}] {finding.reason}")
    if item.run_id is not None:
        lines.append(f"  observed run {item.run_id}: {item.outcome}")
    else:
        lines.append(f"  under the contract the run would have ended: {item.outcome}")
    if suite is not None:
        lines.append(f"  wrote {suite / (item.name + '.yaml')}")
    console.print("\n".join(lines), markup=False, highlight=False, soft_wrap=True)


def _json(item: ImportedTrace) -> dict[str, Any]:
    return {
        **item.check.to_json(),
        "agent": item.trajectory.agent,
        "run_id": item.run_id,
        "outcome": item.outcome,
        "tool_names": item.renamed,
        "case": item.name,
    }
