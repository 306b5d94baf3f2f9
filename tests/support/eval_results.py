"""The eval results part of the store contract, for every ``Store`` (SQLite, MemoryStore)."""

from __future__ import annotations

import dataclasses

import pytest

from proctor.errors import UsageError
from proctor.store import EvalResultRecord, Store


def eval_result(
    result_id: str,
    *,
    suite: str = "invoice",
    created_at: float = 1000.0,
    passed: int = 3,
    failed: int = 0,
    model: str | None = "openai:gpt-4.1-mini",
) -> EvalResultRecord:
    return EvalResultRecord(
        result_id=result_id,
        suite=suite,
        workflow="invoice_reconciliation",
        created_at=created_at,
        cases=passed + failed,
        passed=passed,
        failed=failed,
        model=model,
        contract_hash=None if model is None else "c" * 64,
        body=f'{{"result_id": "{result_id}", "suite": "{suite}"}}\n',
    )


def _ids(records: list[EvalResultRecord]) -> list[str]:
    return [record.result_id for record in records]


async def check_eval_results_round_trip(store: Store) -> None:
    """Saved results read back whole by id, listed newest first without bodies, by
    suite and id prefix; a repeated id keeps the first; a record without body is refused."""
    first = eval_result("evr_aaaa0001", created_at=1000.0)
    second = eval_result("evr_aaaa0002", created_at=2000.0, passed=2, failed=1)
    other = eval_result("evr_bbbb0001", suite="refunds", created_at=1500.0, model=None)
    odd = eval_result("evrxaaaa0003", suite="refunds", created_at=500.0)
    assert await store.eval_results() == []
    for record in (first, second, other, odd):
        await store.save_eval_result(record)

    assert await store.get_eval_result("evr_aaaa0002") == second
    assert await store.get_eval_result("evr_bbbb0001") == other
    assert await store.get_eval_result("evr_nope") is None
    listed = await store.eval_results()
    assert _ids(listed) == ["evr_aaaa0002", "evr_bbbb0001", "evr_aaaa0001", "evrxaaaa0003"]
    assert listed[0] == dataclasses.replace(second, body=None)
    assert listed[1] == dataclasses.replace(other, body=None)
    assert _ids(await store.eval_results("invoice")) == ["evr_aaaa0002", "evr_aaaa0001"]
    assert _ids(await store.eval_results("invoice", limit=1)) == ["evr_aaaa0002"]
    assert await store.eval_results("nope") == []
    assert _ids(await store.eval_results(id_prefix="evr_aaaa")) == [
        "evr_aaaa0002",
        "evr_aaaa0001",
    ]
    assert _ids(await store.eval_results(id_prefix="evr_aaaa0001")) == ["evr_aaaa0001"]
    # The prefix is literal: `_` is no wildcard (as it would be in LIKE).
    assert _ids(await store.eval_results("refunds", id_prefix="evr_")) == ["evr_bbbb0001"]
    assert await store.eval_results("refunds", id_prefix="evr_a") == []

    await store.save_eval_result(dataclasses.replace(first, passed=0, body="{}"))
    assert await store.get_eval_result("evr_aaaa0001") == first
    with pytest.raises(UsageError, match="needs its body"):
        await store.save_eval_result(dataclasses.replace(first, result_id="evr_x", body=None))
    assert await store.get_eval_result("evr_x") is None
