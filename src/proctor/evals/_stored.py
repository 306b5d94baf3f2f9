"""Suite results in the store: kept beside the result file, found again to compare.

``store_result`` saves a result's JSON (the result file's text) with the columns results
are listed and picked by. ``find_result`` reads one back by its id, a unique prefix of
it (with or without ``evr_``), or ``latest`` / ``previous`` (a suite's newest stored
result, and the one before it).
"""

from __future__ import annotations

from proctor.errors import NotFoundError, UsageError
from proctor.evals._results import (
    RESULT_ID_PREFIX,
    SuiteResult,
    new_result_id,
    parse_result,
    result_json,
)
from proctor.store import EvalResultRecord, EvalResults

RELATIVE_REFS = ("latest", "previous")
"""Names for a suite's newest stored result and the one before it."""

_SHOWN = 5


async def store_result(store: EvalResults, result: SuiteResult) -> SuiteResult:
    """Keep ``result`` in ``store``; returns it with its ``result_id`` (given one if it
    has none, e.g. a result file written before results were stored)."""
    result_id = result.result_id or new_result_id()
    if result.result_id != result_id:
        result = result.model_copy(update={"result_id": result_id})
    record = EvalResultRecord(
        result_id=result_id,
        suite=result.suite,
        workflow=result.workflow or "",
        created_at=result.started_at,
        cases=len(result.cases),
        passed=result.passed,
        failed=result.failed,
        model=result.model,
        contract_hash=result.contract_hash,
        body=result_json(result),
    )
    await store.save_eval_result(record)
    return result


async def find_result(store: EvalResults, ref: str, *, suite: str | None = None) -> SuiteResult:
    """The stored result ``ref`` names: an id, a unique id prefix, ``latest`` or
    ``previous`` (these need ``suite``). With ``suite``, only that suite's results count.

    Raises ``NotFoundError`` when nothing matches and ``UsageError`` when a prefix
    matches several results.
    """
    record = await _find_record(store, ref, suite=suite)
    return parse_result(
        record.body or "",
        f"stored eval result {record.result_id}",
        fix="run the suite again (`proctor eval run`) to store a new result",
    )


async def _find_record(
    store: EvalResults, ref: str, *, suite: str | None = None
) -> EvalResultRecord:
    wanted = ref.strip()
    of_suite = "" if suite is None else f" of suite {suite!r}"
    if wanted in RELATIVE_REFS:
        found = await _relative(store, wanted, suite)
    else:
        if not wanted:
            raise UsageError("an empty result id: give an id from `proctor eval results`")
        exact = await store.get_eval_result(wanted)
        if exact is not None:
            if suite is not None and exact.suite != suite:
                raise NotFoundError(
                    f"eval result {wanted} is of suite {exact.suite!r}, not {suite!r}: "
                    "drop --suite, or give a result of that suite"
                )
            return exact
        prefix = wanted if wanted.startswith(RESULT_ID_PREFIX) else RESULT_ID_PREFIX + wanted
        matches = await store.eval_results(suite, id_prefix=prefix, limit=_SHOWN + 1)
        if not matches:
            raise NotFoundError(
                f"no stored eval result{of_suite} has an id starting with {wanted!r}; "
                "list them with `proctor eval results`, or pass a result file's path"
            )
        if len(matches) > 1:
            shown = ", ".join(m.result_id for m in matches[:_SHOWN])
            more = "+" if len(matches) > _SHOWN else ""
            raise UsageError(
                f"{wanted!r} is ambiguous: it starts {len(matches[:_SHOWN])}{more} stored "
                f"eval results{of_suite} ({shown}); give more characters"
            )
        found = matches[0]
    record = await store.get_eval_result(found.result_id)
    if record is None:  # deleted between the two reads
        raise NotFoundError(f"eval result {found.result_id} is no longer in the store")
    return record


async def _relative(store: EvalResults, ref: str, suite: str | None) -> EvalResultRecord:
    if suite is None:
        raise UsageError(
            f"{ref!r} needs a suite: pass --suite NAME (the suite names that "
            "`proctor eval results` lists), or give result ids or files"
        )
    index = RELATIVE_REFS.index(ref)
    found = await store.eval_results(suite, limit=index + 1)
    if len(found) <= index:
        raise NotFoundError(
            f"suite {suite!r} has {len(found)} stored eval result(s), so no {ref!r} one: "
            "each `proctor eval run` of it stores one (`proctor eval results` lists them)"
        )
    return found[index]
