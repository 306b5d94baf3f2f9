"""Results kept in the store: the result file's JSON, found by id, prefix, latest, previous."""

from __future__ import annotations

from pathlib import Path

import pytest

from proctor.errors import NotFoundError, UsageError
from proctor.evals import (
    CaseResult,
    MemoryStore,
    SuiteResult,
    find_result,
    load_result,
    save_result,
    store_result,
)
from proctor.store import SQLiteStore, Store


def result(
    result_id: str | None, *, suite: str = "invoice", started_at: float, passed: bool = True
) -> SuiteResult:
    return SuiteResult(
        result_id=result_id,
        suite=suite,
        path=f"evals/{suite}",
        mode="live",
        model="scripted:hasty",
        workflow="invoice_reconciliation",
        contract_hash="c" * 64,
        started_at=started_at,
        cases=[CaseResult(id="clean", file="clean.yaml", passed=passed, calls=["erp.pay"])],
    )


async def test_a_stored_result_is_the_result_file(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "store.db")
    try:
        saved = await store_result(store, result("evr_00aa11bb22cc33dd", started_at=1000.0))
        record = await store.get_eval_result("evr_00aa11bb22cc33dd")
        assert record is not None
        path = save_result(saved, tmp_path / "r.json")
        assert record.body == path.read_text(encoding="utf-8")
        assert (record.suite, record.workflow, record.created_at) == (
            "invoice",
            "invoice_reconciliation",
            1000.0,
        )
        assert (record.cases, record.passed, record.failed) == (1, 1, 0)
        assert (record.model, record.contract_hash) == ("scripted:hasty", "c" * 64)
        assert await find_result(store, "evr_00aa11bb22cc33dd") == saved == load_result(path)
    finally:
        await store.close()


async def test_a_result_without_an_id_gets_one_when_stored() -> None:
    store = MemoryStore()
    saved = await store_result(store, result(None, started_at=1000.0))
    assert saved.result_id is not None
    assert saved.result_id.startswith("evr_")
    assert len(saved.result_id) == 20
    assert await find_result(store, saved.result_id) == saved


async def _three(store: Store) -> None:
    for result_id, suite, at, passed in [
        ("evr_1111aaaa00000000", "invoice", 1000.0, True),
        ("evr_1111bbbb00000000", "invoice", 2000.0, False),
        ("evr_2222cccc00000000", "refunds", 3000.0, True),
    ]:
        await store_result(store, result(result_id, suite=suite, started_at=at, passed=passed))


async def test_results_are_found_by_id_prefix_latest_and_previous() -> None:
    store = MemoryStore()
    await _three(store)

    async def found(ref: str, suite: str | None = None) -> str | None:
        return (await find_result(store, ref, suite=suite)).result_id

    assert await found("evr_1111b") == "evr_1111bbbb00000000"
    assert await found("1111a") == "evr_1111aaaa00000000"  # evr_ may be left out
    assert await found(" 2222 ") == "evr_2222cccc00000000"
    assert await found("evr_", suite="refunds") == "evr_2222cccc00000000"  # narrowed
    assert await found("latest", suite="invoice") == "evr_1111bbbb00000000"
    assert await found("previous", suite="invoice") == "evr_1111aaaa00000000"
    assert await found("latest", suite="refunds") == "evr_2222cccc00000000"


async def test_unknown_and_ambiguous_results_are_one_line_errors() -> None:
    store = MemoryStore()
    await _three(store)

    with pytest.raises(UsageError, match=r"^'evr_1111' is ambiguous: it starts 2 stored") as err:
        await find_result(store, "evr_1111")
    assert "evr_1111bbbb00000000, evr_1111aaaa00000000); give more characters" in str(err.value)
    with pytest.raises(NotFoundError, match="no stored eval result has an id starting with 'ff'"):
        await find_result(store, "ff")
    with pytest.raises(NotFoundError, match="no stored eval result of suite 'refunds' has an id"):
        await find_result(store, "1111", suite="refunds")
    with pytest.raises(NotFoundError, match="is of suite 'invoice', not 'refunds'"):
        await find_result(store, "evr_1111aaaa00000000", suite="refunds")
    with pytest.raises(UsageError, match="'latest' needs a suite: pass --suite NAME"):
        await find_result(store, "latest")
    with pytest.raises(NotFoundError, match=r"suite 'refunds' has 1 stored eval result\(s\)"):
        await find_result(store, "previous", suite="refunds")
    with pytest.raises(NotFoundError, match="suite 'nope' has 0 stored"):
        await find_result(store, "latest", suite="nope")
    with pytest.raises(UsageError, match="an empty result id"):
        await find_result(store, "  ")
