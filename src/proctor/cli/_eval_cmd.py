"""``proctor eval capture | run | results | diff``: recorded runs replayed as behaviour tests.

Exit codes, for CI: ``eval run`` exits 0 when every case passes, 1 when any fails (or
could not be replayed), 2 when the suite cannot be used at all (a malformed case file,
an unknown workflow, a bad contract, wrong options). ``eval diff`` takes a result as a
file or from the store: an id, a unique id prefix, or ``latest`` / ``previous`` of a
``--suite``. It exits 1 when a change crosses its threshold; an unknown result exits 1
too, an ambiguous prefix 2 (a usage error).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape

from proctor.cli._context import command_group, console, options, rich_console, with_store
from proctor.cli._eval_import_cmd import eval_import
from proctor.cli._options import MAX_COUNT, finite
from proctor.errors import ConfigError, NotFoundError, UsageError

if TYPE_CHECKING:
    from proctor.evals import SuiteResult
    from proctor.store import Store

app = command_group(
    help="Replay recorded runs as behaviour tests: capture cases, run suites, compare results.",
    no_args_is_help=True,
)

app.command("import")(eval_import)

_RESULT_HELP = "a result id (or unique prefix), latest, previous (with --suite), or a file"


@app.command("capture")
def eval_capture(
    run_id: str = typer.Argument(..., help="The recorded run to turn into a case."),
    suite: Path | None = typer.Option(
        None, "--suite", help="Write the case into this suite folder (default: print it)."
    ),
    name: str | None = typer.Option(None, "--name", help="Case file name (default: the run id)."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing case file."),
    raw: bool = typer.Option(
        False,
        "--raw",
        help="Write the run's raw values (its sealed payloads) instead of redacted ones: "
        "the file then holds the personal data and secrets the run saw.",
    ),
    free_text: list[str] = typer.Option(
        [],
        "--free-text",
        help="An argument (NAME, or TOOL.NAME) left out of the expected writes: free text "
        "the model words differently each run. Repeatable.",
    ),
) -> None:
    """Turn a recorded run into a case: input, fixtures, model responses, expectations."""
    from proctor.cli._workflows import stored_workflow
    from proctor.evals import capture_case, case_yaml, load_case
    from proctor.policy import pseudonym_key
    from proctor.store import load_evidence_keys, load_signing_key

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
        secret = load_signing_key()
        return await capture_case(
            store,
            run_id,
            workflow=flow,
            keys=load_evidence_keys(),
            pseudonyms=pseudonym_key(secret),
            raw=raw,
            free_text=free_text,
        )

    text = case_yaml(with_store(work, create=False), run_id=run_id, raw=raw)
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


@app.command("run")
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
    only_failures: bool = typer.Option(
        False, "--only-failures", help="List only the cases that failed (the files keep all)."
    ),
) -> None:
    """Replay every case of a suite and check its expectations. Exit 1 if any fails."""
    import asyncio

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from proctor.cli._eval_render import suite_table
    from proctor.cli._workflows import load_workflow
    from proctor.evals import (
        CaseFileError,
        ReplayOptions,
        SuiteReplay,
        junit_xml,
        load_suite,
        save_result,
        store_result,
    )
    from proctor.gateway import build_gateway, load_config
    from proctor.policy import load_signing_key
    from proctor.store import open_store

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
            gateway = None
            if store is not None:
                gateway = build_gateway(config, store, cache_secret=load_signing_key())
            replayer = SuiteReplay(
                loaded,
                loader=load_workflow,
                options=settings,
                gateway=gateway,
                prices=config.price_table(),
            )
            try:
                replayer.prepare()
            except (NotFoundError, ConfigError) as exc:
                raise UsageError(f"the suite cannot be replayed: {exc}") from None
            with Progress(
                TextColumn("replaying {task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=rich_console(),
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
    result = with_store(lambda store: store_result(store, result))
    if junit is not None:
        try:
            junit.write_text(junit_xml(result), encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write {junit}: {exc.strerror or exc}") from None
    console.print(suite_table(result, only_failures=only_failures))
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


@app.command("results")
def eval_results(
    suite: str | None = typer.Argument(None, help="Only this suite's results (its name)."),
    limit: int = typer.Option(
        20, "--limit", min=1, max=MAX_COUNT, help="How many results, newest first."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
) -> None:
    """List the stored results of `proctor eval run`, newest first."""
    from proctor.cli._eval_render import results_table
    from proctor.cli._render import to_json
    from proctor.store import eval_result_document

    found = with_store(lambda store: store.eval_results(suite, limit=limit), create=False)
    if as_json:
        print(to_json({"results": [eval_result_document(record) for record in found]}))
        return
    if not found:
        of_suite = "" if suite is None else f" of suite {suite!r}"
        console.print(
            f"no stored eval results{of_suite}: each `proctor eval run` stores its result",
            markup=False,
            highlight=False,
        )
        return
    console.print(results_table(found))


@app.command("diff")
def eval_diff(
    baseline: str = typer.Argument(..., help=f"The earlier result: {_RESULT_HELP}."),
    candidate: str = typer.Argument(..., help=f"The later result: {_RESULT_HELP}."),
    suite: str | None = typer.Option(
        None, "--suite", help="Stored results of this suite only (needed by latest, previous)."
    ),
    max_pass_rate_drop: float = typer.Option(
        0.0,
        "--max-pass-rate-drop",
        min=0.0,
        callback=finite,
        help="Flag a drop in pass rate beyond this (0-1).",
    ),
    max_tool_calls_change: float = typer.Option(
        0.2,
        "--max-tool-calls-change",
        min=0.0,
        callback=finite,
        help="Flag a relative change in calls per run.",
    ),
    max_cost_change: float = typer.Option(
        0.2,
        "--max-cost-change",
        min=0.0,
        callback=finite,
        help="Flag a relative rise in cost per run.",
    ),
    max_escalation_change: float = typer.Option(
        0.05,
        "--max-escalation-change",
        min=0.0,
        callback=finite,
        help="Flag a change in escalation rate (0-1).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the comparison as JSON."),
) -> None:
    """Compare two results (stored, or files); exit 1 if a change crosses its threshold."""
    from proctor.cli._eval_render import diff_json, print_diff
    from proctor.cli._render import to_json
    from proctor.evals import DiffThresholds, diff_results

    (old, old_label), (new, new_label) = _load_results([baseline, candidate], suite)
    thresholds = DiffThresholds(
        pass_rate_drop=max_pass_rate_drop,
        tool_calls_change=max_tool_calls_change,
        cost_change=max_cost_change,
        escalation_change=max_escalation_change,
    )
    diff = diff_results(old, new, thresholds)
    if as_json:
        print(to_json(diff_json(diff, old, new)))
    else:
        print_diff(diff, old_label, new_label)
    if diff.flagged:
        raise typer.Exit(1)


def _is_file_ref(ref: str) -> bool:
    """A result named by its file: an existing file, or anything shaped like a path."""
    from proctor.evals._stored import RELATIVE_REFS

    if ref in RELATIVE_REFS:
        return False
    return Path(ref).is_file() or ref.endswith(".json") or "/" in ref or os.sep in ref


def _load_results(refs: list[str], suite: str | None) -> list[tuple[SuiteResult, str]]:
    """Each result with its label (a file's name, or a stored result's id)."""
    from proctor.evals import find_result, load_result

    stored = [ref for ref in refs if not _is_file_ref(ref)]

    async def work(store: Store) -> dict[str, SuiteResult]:
        return {ref: await find_result(store, ref, suite=suite) for ref in dict.fromkeys(stored)}

    found = with_store(work, create=False) if stored else {}
    loaded: list[tuple[SuiteResult, str]] = []
    for ref in refs:
        if ref in found:
            result = found[ref]
            loaded.append((result, result.result_id or ref))
            continue
        try:
            loaded.append((load_result(ref), Path(ref).name))
        except ConfigError as exc:
            raise UsageError(str(exc)) from None
    return loaded
