"""``proctor contract check | test | diff | versions``: contracts as files and as stored
versions, and a candidate's decisions over recorded runs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape
from rich.text import Text

from proctor.cli._context import command_group, console, with_store
from proctor.cli._options import MAX_COUNT, stored_name
from proctor.errors import UsageError

if TYPE_CHECKING:
    from proctor.contracts import Contract, ContractDiff
    from proctor.store import Store

app = command_group(
    help="Check workflow contracts, test them on recorded runs; list and compare stored versions.",
    no_args_is_help=True,
)


@app.command("check")
def contract_check(
    path: Path = typer.Argument(
        ...,
        metavar="CONTRACT",
        help="Contract YAML file, or a workflow (its name or package.module:attribute) "
        "whose contract file to check.",
    ),
    workflow: str | None = typer.Option(
        None,
        "--workflow",
        help="Check against this workflow's tools (a name or package.module:attribute).",
    ),
) -> None:
    """Validate a contract against the tools of its workflow. Exit 0 valid, 1 invalid."""
    from proctor.cli._workflows import known_workflows, load_workflow
    from proctor.contracts import check_contract_file, load_contract
    from proctor.runtime import separation_problem

    known = known_workflows()
    if workflow is None and not path.exists() and path.suffix not in (".yaml", ".yml"):
        named = _workflow_named(str(path))
        if named is None:
            raise UsageError(
                f"{path} is neither a contract file nor a workflow (known: "
                f"{', '.join(sorted(known)) or 'none'}). Fix: give the path of a contract "
                "YAML file, or a workflow's name or package.module:attribute"
            )
        workflow, path = str(path), _contract_file_of(named)
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


def _workflow_named(text: str) -> Any:
    """The workflow ``text`` names (a name or ``package.module:attribute``), if any."""
    from proctor.cli._workflows import load_workflow
    from proctor.errors import NotFoundError

    try:
        return load_workflow(text)
    except NotFoundError:
        return None


def _contract_file_of(flow: Any) -> Path:
    source: Path | None = flow.contract.file
    if source is None:
        raise UsageError(
            f"workflow {flow.name!r} builds its contract in Python, so there is no contract "
            "file to check. Fix: name the YAML file, as in `proctor contract check "
            f"contract.yaml --workflow {flow.name}`"
        )
    return source


@app.command("test")
def contract_test(
    path: Path = typer.Argument(..., help="The candidate contract's YAML file."),
    run_ids: list[str] = typer.Option(
        [], "--run", metavar="RUN_ID", help="Only this recorded run (repeat for several)."
    ),
    since: str | None = typer.Option(
        None, "--since", help="Runs started since: 7d, 24h, 90m or an ISO date."
    ),
    limit: int = typer.Option(
        50, "--limit", min=1, max=MAX_COUNT, help="At most this many runs, newest first."
    ),
    workflow_ref: str | None = typer.Option(
        None,
        "--workflow",
        "--workflow-ref",
        metavar="WORKFLOW",
        help="Judge calls with this workflow's tools (a name or package.module:attribute); "
        "default: the workflow the contract names.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Replay recorded runs' decisions under a candidate contract and list what would change.

    Each tool call's original decision and each final answer of the contract's workflow's
    recorded runs (the newest --limit, or those of --since, or each --run) is decided
    again by the candidate, on the history recorded before it. Exit 0 when nothing
    changes, 1 when a decision would (newly denied, allowed or held for approval, or by
    another rule), 2 when the test cannot be made.
    """
    from proctor.cli._contract_test import contract_test as run_test

    run_test(path, run_ids, since, limit, workflow_ref, as_json)


async def _resolve(store: Store | None, ref: str) -> tuple[str, Contract | dict[str, Any]]:
    """A contract file's path or a stored version's hash prefix, as (label, contract);
    ``store`` may be ``None`` when ``ref`` is a file."""
    from proctor.audit import find_contract_version
    from proctor.contracts import load_contract

    path = Path(ref)
    if path.is_file():
        return ref, load_contract(path)
    if path.suffix in (".yaml", ".yml") or "/" in ref or "\\" in ref:
        raise UsageError(f"contract file {ref} does not exist")
    assert store is not None, "a stored version is read from a store"
    version = await find_contract_version(store, ref)
    return f"{version.content_hash[:12]} ({version.workflow} v{version.version})", version.body


@app.command("diff")
def contract_diff(
    a: str = typer.Argument(..., help="Old version: a stored hash prefix or a YAML file."),
    b: str = typer.Argument(..., help="New version: a stored hash prefix or a YAML file."),
    as_json: bool = typer.Option(False, "--json", help="Print the changes as JSON."),
) -> None:
    """Show what changed between two contract versions: changed keys, then a unified diff."""
    import asyncio

    from proctor.cli._render import to_json
    from proctor.contracts import diff_contracts

    async def work(store: Store | None) -> Any:
        (a_label, old), (b_label, new) = await _resolve(store, a), await _resolve(store, b)
        return diff_contracts(old, new, a_label=a_label, b_label=b_label)

    # Two files need no store: none is opened (nor required to exist).
    files = Path(a).is_file() and Path(b).is_file()
    diff = asyncio.run(work(None)) if files else with_store(work, create=False)
    if as_json:
        print(to_json(diff_json(diff)))
        return
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


@app.command("versions")
def contract_versions(
    workflow: str | None = typer.Argument(None, help="Only this workflow's versions."),
    as_json: bool = typer.Option(False, "--json", help="Print the versions as JSON."),
) -> None:
    """List the contract versions runs have used: hash, version, first use, runs."""
    from proctor.cli._render import count, new_table, to_json, when
    from proctor.store import iso_time

    name = stored_name(workflow)
    found = with_store(lambda store: store.contracts(workflow=name), create=False)
    if as_json:
        versions = [
            {
                "content_hash": version.content_hash,
                "workflow": version.workflow,
                "version": version.version,
                "created_at": iso_time(version.created_at),
                "runs": version.runs,
                "retention_days": version.retention_days,
            }
            for version in found
        ]
        print(to_json({"versions": versions}))
        return
    table = new_table(f"{len(found)} contract version(s), newest first")
    for column in ("hash", "workflow", "version", "first used", "runs", "retention"):
        table.add_column(column, justify="right" if column == "runs" else "left", no_wrap=True)
    for version in found:
        days = version.retention_days
        table.add_row(
            version.content_hash[:12],
            version.workflow,
            version.version,
            when(version.created_at),
            str(version.runs),
            "forever" if days is None else count(days, "day"),
        )
    console.print(table)


def diff_json(diff: ContractDiff) -> dict[str, Any]:
    """Two contract versions compared, as ``contract diff --json`` prints it (and
    ``rollout promote --json`` the promoted candidate's changes)."""
    return {
        "a": diff.a,
        "b": diff.b,
        "same": diff.same,
        "changes": [
            {"path": c.path, "kind": c.kind, "before": c.before, "after": c.after}
            for c in diff.changes
        ],
        "unified": diff.unified,
    }
