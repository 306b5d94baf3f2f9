"""``run_outcomes`` and ``escalation_triggers``: runs summed per group and escalations
counted by trigger by the store itself (aggregate queries), on every backend."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from proctor.contracts import Contract, load_contract
from proctor.store import RunFilter, RunOutcomes, Store
from support.drift_runs import DAY, record_run

NOON = 1_796_083_200.0 + 12 * 3600.0  # 2026-12-01 12:00 UTC, day 20788 since the epoch


@pytest.fixture
def contract(tmp_path: Path) -> Contract:
    path = tmp_path / "contract.yaml"
    path.write_text("workflow: refunds\n", encoding="utf-8")
    return load_contract(path)


def nearest(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


async def test_runs_are_summed_per_group(store: Store, contract: Contract) -> None:
    await record_run(store, contract, started_at=NOON, tools=["a", "b"], cost=0.25, model="m1")
    await record_run(store, contract, started_at=NOON + 1, outcome="escalated", model="m1")
    await record_run(store, contract, started_at=NOON + 2, outcome=None, model="m2")
    await record_run(store, contract, started_at=NOON - DAY, cost=None, model="m2")
    await record_run(store, contract, started_at=NOON, tenant="globex")  # not this tenant's

    query = RunFilter(tenant="default")
    (every,) = await store.run_outcomes(query)
    assert every == RunOutcomes(
        key="",
        runs=4,
        newest=NOON + 2,
        finished=3,
        resolved=2,
        escalated=1,
        draft_only=0,
        failed=0,
        cost_usd=0.25 + 0.001,
        priced=2,
        priced_resolved=1,
        tool_calls=2,
        tool_call_counts=((0, 2), (2, 1)),
        latency_s=(1.0, 1.0, 1.0),
    )
    models = await store.run_outcomes(query, group_by="model")
    assert [(g.key, g.runs, g.finished, g.latency_s[0]) for g in models] == [
        ("m1", 2, 2, 1.0),
        ("m2", 2, 1, 1.0),
    ]
    days = await store.run_outcomes(query, group_by="day")
    assert [(g.key, g.runs) for g in days] == [("20787", 1), ("20788", 3)]
    (workflow,) = await store.run_outcomes(query, group_by="workflow")
    (version,) = await store.run_outcomes(query, group_by="contract")
    assert (workflow.key, version.key) == ("refunds", contract.content_hash)
    assert await store.run_outcomes(RunFilter(tenant="nobody"), group_by="day") == []
    with pytest.raises(ValueError, match="group by one of"):
        await store.run_outcomes(query, group_by="colour")  # type: ignore[arg-type]


async def test_latency_percentiles_are_nearest_rank_per_group(
    store: Store, contract: Contract
) -> None:
    sizes = {"small": 10, "large": 101}
    durations: dict[str, list[float]] = {}
    for model, size in sizes.items():
        durations[model] = [((n * 37) % size) / 8 for n in range(size)]  # shuffled, exact
        for n, duration in enumerate(durations[model]):
            await record_run(store, contract, started_at=NOON + n, model=model, duration_s=duration)
    found = {g.key: g for g in await store.run_outcomes(RunFilter(), group_by="model")}
    for model in sizes:
        expected = tuple(nearest(durations[model], q) for q in (0.5, 0.9, 0.99))
        assert found[model].latency_s == expected


async def test_escalations_are_counted_by_trigger_most_first(
    store: Store, contract: Contract
) -> None:
    await record_run(store, contract, started_at=NOON, outcome="escalated", trigger="tool_error")
    await record_run(
        store, contract, started_at=NOON + 1, outcome="draft_only", trigger="budget_exceeded"
    )
    await record_run(
        store, contract, started_at=NOON + 2, outcome="escalated", trigger="budget_exceeded"
    )
    await record_run(
        store, contract, started_at=NOON + 3, outcome="escalated", trigger="tool_error"
    )
    await record_run(store, contract, started_at=NOON + 4, trigger="policy_violation")
    await record_run(store, contract, started_at=NOON - DAY, trigger="policy_violation")
    await record_run(store, contract, started_at=NOON, tenant="globex", trigger="tool_error")

    window = RunFilter(tenant="default", since=NOON - 60)
    # Ties keep the order the escalations first happened in.
    assert await store.escalation_triggers(window) == [
        ("tool_error", 2),
        ("budget_exceeded", 2),
        ("policy_violation", 1),
    ]
    assert await store.escalation_triggers(RunFilter(tenant="nobody")) == []
