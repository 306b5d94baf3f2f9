"""``run_buckets``: runs counted per bucket of time by the store itself (one aggregate
query), on every backend: bucket edges, outcomes, priced runs, and the run filter."""

from __future__ import annotations

from pathlib import Path

import pytest

from proctor.contracts import Contract, load_contract
from proctor.store import RunBucket, RunFilter, Store
from support.drift_runs import record_run
from support.store_runs import add_run

ORIGIN = 1_796_000_400.0  # 2026-11-30 01:00:00 UTC, a whole hour
HOUR = 3600.0


@pytest.fixture
def contract(tmp_path: Path) -> Contract:
    path = tmp_path / "contract.yaml"
    path.write_text("workflow: refunds\n", encoding="utf-8")
    return load_contract(path)


async def test_runs_are_counted_per_bucket_from_the_origin(
    store: Store, contract: Contract
) -> None:
    at = ORIGIN
    await record_run(store, contract, started_at=at, cost=0.02)  # the first instant: bucket 0
    await record_run(store, contract, started_at=at + HOUR - 0.001, outcome="failed", cost=0.01)
    await record_run(store, contract, started_at=at + HOUR, outcome="escalated", cost=None)
    await record_run(store, contract, started_at=at + 3 * HOUR + 5, cost=0.04)
    await record_run(store, contract, started_at=at + 3 * HOUR + 9, outcome="draft_only")
    await record_run(store, contract, started_at=at + 3 * HOUR + 60, outcome=None)
    await record_run(store, contract, started_at=at - 1)  # before the origin: not counted
    await record_run(store, contract, started_at=at + 5, tenant="globex")
    await record_run(store, contract, started_at=at + 6, workflow="other")

    found = await store.run_buckets(
        RunFilter(tenant="default", workflow="refunds"), origin=ORIGIN, width_s=HOUR
    )

    assert found == [
        RunBucket(
            index=0,
            runs=2,
            finished=2,
            resolved=1,
            escalated=0,
            draft_only=0,
            failed=1,
            cost_usd=pytest.approx(0.03),  # type: ignore[arg-type]
            priced=2,
            priced_resolved=1,
        ),
        RunBucket(
            index=1,
            runs=1,
            finished=1,
            resolved=0,
            escalated=1,
            draft_only=0,
            failed=0,
            cost_usd=0.0,
            priced=0,
            priced_resolved=0,
        ),
        RunBucket(
            index=3,
            runs=3,
            finished=2,
            resolved=1,
            escalated=0,
            draft_only=1,
            failed=0,
            cost_usd=pytest.approx(0.041),  # type: ignore[arg-type]
            priced=2,
            priced_resolved=1,
        ),
    ]


async def test_the_window_of_the_filter_bounds_the_buckets(
    store: Store, contract: Contract
) -> None:
    for hours in (0.5, 1.5, 2.5, 30.0):
        await record_run(store, contract, started_at=ORIGIN + hours * HOUR)
    query = RunFilter(tenant="default", since=ORIGIN + HOUR, until=ORIGIN + 2.5 * HOUR)
    found = await store.run_buckets(query, origin=ORIGIN, width_s=HOUR)
    assert [(b.index, b.runs) for b in found] == [(1, 1)]
    days = await store.run_buckets(RunFilter(), origin=ORIGIN, width_s=24 * HOUR)
    assert [(b.index, b.runs) for b in days] == [(0, 3), (1, 1)]
    assert await store.run_buckets(RunFilter(tenant="nobody"), origin=0, width_s=HOUR) == []
    with pytest.raises(ValueError, match="longer than 0"):
        await store.run_buckets(RunFilter(), origin=0, width_s=0)


async def test_a_search_counts_the_runs_it_would_list(store: Store) -> None:
    """As the runs list matches: any ASCII case (PostgreSQL's buckets once used LIKE)."""
    await add_run(store, "run_1", at=ORIGIN + 5, answer="Paid ACME Corp.")
    await add_run(store, "run_2", at=ORIGIN + 6, answer="Paid Globex.")
    query = RunFilter(search="acme")
    listed = await store.list_runs(query)
    found = await store.run_buckets(query, origin=ORIGIN, width_s=HOUR)
    assert [run.run_id for run in listed] == ["run_1"]
    assert [(b.index, b.runs) for b in found] == [(0, 1)]
