"""``run_outcomes`` and ``escalation_triggers``: runs summed per group and escalations
counted by trigger by the store itself (aggregate queries), on every backend."""

from __future__ import annotations

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


async def test_runs_are_summed_per_day_group_and_tool_calls(
    store: Store, contract: Contract
) -> None:
    await record_run(store, contract, started_at=NOON, tools=["a", "b"], cost=0.25, model="m1")
    await record_run(store, contract, started_at=NOON + 1, outcome="escalated", model="m1")
    await record_run(store, contract, started_at=NOON + 2, outcome=None, model="m2")
    await record_run(store, contract, started_at=NOON + 3, outcome="draft_only", model="m2")
    await record_run(store, contract, started_at=NOON - DAY, cost=None, model="m2")
    await record_run(store, contract, started_at=NOON, tenant="globex")  # not this tenant's

    query = RunFilter(tenant="default")
    cells = await store.run_outcomes(query)
    assert cells == [
        RunOutcomes(
            day=20787,
            key="",
            tool_calls=0,
            runs=1,
            newest=NOON - DAY,
            finished=1,
            resolved=1,
            escalated=0,
            draft_only=0,
            failed=0,
            cost_usd=0.0,
            priced=0,
            priced_resolved=0,
        ),
        RunOutcomes(
            day=20788,
            key="",
            tool_calls=0,
            runs=3,
            newest=NOON + 3,
            finished=2,
            resolved=0,
            escalated=1,
            draft_only=1,
            failed=0,
            cost_usd=0.002,
            priced=2,
            priced_resolved=0,
        ),
        RunOutcomes(
            day=20788,
            key="",
            tool_calls=2,
            runs=1,
            newest=NOON,
            finished=1,
            resolved=1,
            escalated=0,
            draft_only=0,
            failed=0,
            cost_usd=0.25,
            priced=1,
            priced_resolved=1,
        ),
    ]
    models = await store.run_outcomes(query, group_by="model")
    assert [(c.day, c.key, c.tool_calls, c.runs) for c in models] == [
        (20787, "m2", 0, 1),
        (20788, "m1", 0, 1),
        (20788, "m1", 2, 1),
        (20788, "m2", 0, 2),
    ]
    (workflow,) = {c.key for c in await store.run_outcomes(query, group_by="workflow")}
    (version,) = {c.key for c in await store.run_outcomes(query, group_by="contract")}
    assert (workflow, version) == ("refunds", contract.content_hash)
    assert await store.run_outcomes(RunFilter(tenant="nobody"), group_by="model") == []
    with pytest.raises(ValueError, match="group by one of"):
        await store.run_outcomes(query, group_by="colour")  # type: ignore[arg-type]


async def test_durations_of_finished_runs_come_shortest_first(
    store: Store, contract: Contract
) -> None:
    for n, duration in enumerate((3.5, 0.25, 2.0)):
        await record_run(store, contract, started_at=NOON + n, duration_s=duration, model="m1")
    await record_run(store, contract, started_at=NOON - DAY, duration_s=1.0, model="m2")
    await record_run(store, contract, started_at=NOON, outcome=None)  # no duration yet
    assert await store.run_durations(RunFilter(tenant="default"), group_by="model") == [
        (20788, "m1", 0.25),
        (20787, "m2", 1.0),
        (20788, "m1", 2.0),
        (20788, "m1", 3.5),
    ]
    assert [row[1] for row in await store.run_durations(RunFilter())] == [""] * 4
    with pytest.raises(ValueError, match="group by one of"):
        await store.run_durations(RunFilter(), group_by="day")  # type: ignore[arg-type]


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
