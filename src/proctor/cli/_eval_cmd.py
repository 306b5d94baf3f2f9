"""``proctor eval capture | run``: recorded runs replayed as behaviour tests.

Exit codes, for CI: ``eval run`` exits 0 when every case passes, 1 when any fails (or
could not be replayed), 2 when the suite cannot be used at all (a malformed case file,
an unknown workflow, a bad contract, wrong options). ``eval results`` and ``eval diff``
are in ``_eval_results_cmd``.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import typer
from rich import box
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from proctor.cli._app import _with_store, app, console, options
from proctor.cli._options import MAX_COUNT
from proctor.cli._workflows import load_workflow, stored_workflow
from proctor.errors import ConfigError, NotFoundError, UsageError
from proctor.evals import (
    CaseFileError,
    ReplayOptions,
    SuiteReplay,
    SuiteResult,
    capture_case,
    case_yaml,
    junit_xml,
    load_case,
    load_suite,
    save_result,
    store_result,
)
from proctor.gateway import build_gateway, load_config
from proctor.store import Store, open_store

eval_app = typer.Typer(
    help="Replay recorded runs as behaviour tests: capture cases, run suites, compare results.",
    no_args_is_help=True,
)
app.add_typer(eval_app, name="eval")


@eval_app.command("capture")
def eval_capture(
    run_id: str = typer.Argument(..., help="The recorded run to turn into a case."),
    suite: Path | None = typer.Option(
        None, "--suite", help="Write the case into this suite folder (default: print it)."
    ),
    name: str | None = typer.Option(None, "--name", help="Case file name (default: the run id)."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing case file."),
) -> None:
    """Turn a recorded run into a case: input, fixtures, model responses, expectations."""

    async def work(store: Store) -> dict[str, Any]:
        record = await store.get_run(run_id)
        flow = None
        if record is not None:
            try:  # its tools normalise the fixtures' arguments; its scripts name prices
                flow = stored_workflow(
                    record.workflow_ref or record.workflow, config=options.config
                )
            except (NotFoundError, ConfigError):
                flow = None
        return await capture_case(store, run_id, workflow=flow)

    text = case_yaml(_with_store(work), run_id=run_id)
    if suite is None:
        sys.stdout.write(text)
        return
    target = suite / f"{name or run_id}.yaml"
    if target.exists() and not force:
        raise UsageError(f"{target} exists already. Fix: pass --force, or --name for another file")
    try:
        suite.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {target}: {exc.strerror or exc}") from None
    case = load_case(target)  # what was written must load as written
    console.print(
        f"wrote {target}: {len(case.fixtures)} fixture(s), "
        f"{len(case.recorded.responses) if case.recorded else 0} model response(s), "
        f"expects {' or '.join(case.expect.outcome) or 'any outcome'}. "
        "Edit its expectations, then: proctor eval run "
        f"{suite}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


@eval_app.command("run")
def eval_run(
    suite: Path = typer.Argument(..., help="A suite folder (or one case file)."),
    model: str | None = typer.Option(
        None, "--model", help="Live model spec for every case (default: case, suite, workflow)."
    ),
    contract: Path | None = typer.Option(
        None, "--contract", help="Replay every case under this contract file."
    ),
    recorded: bool = typer.Option(
        False, "--recorded", help="Replay the recorded model responses (no model is called)."
    ),
    junit: Path | None = typer.Option(None, "--junit", help="Also write JUnit XML here."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Result file (default: <home>/eval-results/...)."
    ),
    concurrency: int = typer.Option(
        8, "--concurrency", min=1, max=MAX_COUNT, help="Cases replayed at once."
    ),
) -> None:
    """Replay every case of a suite and check its expectations. Exit 1 if any fails."""
    try:
        loaded = load_suite(suite)
    except CaseFileError as exc:
        raise UsageError(str(exc)) from None
    settings = ReplayOptions(
        recorded=recorded, model=model, contract=contract, concurrency=concurrency
    )

    config = load_config(options.config)

    async def main() -> SuiteResult:
        # No replayed run reaches the project's store: it serves a live gateway's cache
        # here, and keeps the suite's result afterwards.
        store = None if recorded or not config.models else open_store(options.db)
        try:
            gateway = None if store is None else build_gateway(config, store)
            replayer = SuiteReplay(loaded, loader=load_workflow, options=settings, gateway=gateway)
            try:
                replayer.prepare()
            except (NotFoundError, ConfigError) as exc:
                raise UsageError(f"the suite cannot be replayed: {exc}") from None
            with Progress(
                TextColumn("replaying {task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            ) as progress:
                task = progress.add_task(loaded.name, total=len(loaded.cases))
                return await replayer.run(lambda _: progress.advance(task))
        finally:
            if store is not None:
                await store.close()

    result = asyncio.run(main())
    try:
        path = save_result(result, output)
    except OSError as exc:
        raise UsageError(f"cannot write the result file: {exc.strerror or exc}") from None
    result = _with_store(lambda store: store_result(store, result))
    if junit is not None:
        try:
            junit.write_text(junit_xml(result), encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write {junit}: {exc.strerror or exc}") from None
    console.print(_summary(result))
    verdict = "[green]all passed[/]" if result.ok else f"[red]{result.failed} failed[/]"
    console.print(
        f"{result.passed}/{len(result.cases)} passed, {verdict} "
        f"({result.mode}, {result.duration_s:.2f} s); results: {escape(str(path))}, "
        f"stored as {result.result_id}",
        highlight=False,
        soft_wrap=True,
    )
    if not result.ok:
        raise typer.Exit(1)


def _summary(result: SuiteResult) -> Table:
    table = Table(
        title=f"suite {result.suite}: {len(result.cases)} case(s)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    table.add_column("case", no_wrap=True)
    table.add_column("result", no_wrap=True)
    table.add_column("outcome", no_wrap=True)
    table.add_column("first failed expectation", overflow="fold")
    table.add_column("diverged from the recording at", overflow="fold")
    for case in result.cases:
        mark = (
            Text("pass", style="green")
            if case.passed
            else Text("error" if case.error else "FAIL", style="bold red")
        )
        table.add_row(
            case.id,
            mark,
            case.outcome or "-",
            Text(case.first_failure or ""),
            Text(case.divergence or ""),
        )
    return table
