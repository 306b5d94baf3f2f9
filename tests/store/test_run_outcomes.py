"""``run_outcomes``, ``run_durations`` and ``escalation_triggers``: runs summed per group
and escalations counted by trigger by the store itself (aggregate queries, or SQLite's
daily sums for whole days), on every backend."""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path

import pytest

from proctor.contracts import Contract, load_contract
from proctor.store import RunFilter, RunOutcomes, RunRecord, Store, round_duration
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
        (20788, "m1", 0.25, 1),
        (20787, "m2", 1.0, 1),
        (20788, "m1", 2.0, 1),
        (20788, "m1", 3.5, 1),
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


@pytest.mark.parametrize(
    ("seconds", "rounded"),
    [(1.25, 1.3), (12.5, 13.0), (0.145, 0.14), (1.45, 1.4), (0.1234, 0.12), (999.0, 1000.0),
     (3.5, 3.5), (0.0, 0.0), (86_399.0, 86_000.0)],
)  # fmt: skip
def test_durations_round_to_two_significant_digits_half_up(seconds: float, rounded: float) -> None:
    # 0.145 and 1.45 are a little less than they read in binary: down, as SQLite does.
    assert round_duration(seconds) == rounded


async def test_whole_days_and_part_days_add_up_alike(store: Store, contract: Contract) -> None:
    # Three days of runs; windows that start and end mid-day read whole days from the daily
    # sums where the store keeps them, the rest from the runs: every backend agrees.
    durations = [1.25, 1.26, 12.5, 0.1234, 3.5, 3.5, 7.0, 0.7]
    for n, duration in enumerate(durations * 3):
        await record_run(
            store,
            contract,
            started_at=NOON - 2 * DAY + n * 10_000.0,
            duration_s=duration,
            tools=["a"] * (n % 3),
            cost=0.001 * (n % 4) if n % 5 else None,
            outcome=("resolved", "escalated", "failed", None)[n % 4],
            model=f"m{n % 2}",
            trigger=("policy_violation", None, "budget_exceeded")[n % 3],
        )
    windows = [
        RunFilter(tenant="default"),
        RunFilter(tenant="default", since=NOON - 2 * DAY, until=NOON + DAY),
        RunFilter(tenant="default", since=NOON - 1.5 * DAY, until=NOON + 0.25 * DAY),
        RunFilter(tenant="default", workflow="refunds", since=NOON - DAY - 43_200.0),
        RunFilter(since=NOON - 2 * DAY + 1.0, until=NOON),
        RunFilter(tenant="default", model="m1", since=NOON - 2 * DAY, until=NOON + DAY),
        RunFilter(tenant="default", outcome="resolved", since=NOON - 2 * DAY, until=NOON + DAY),
    ]
    for window in windows:
        runs = await store.list_runs(_all(window))
        finished = [run for run in runs if run.status == "finished"]
        cells = await store.run_outcomes(window, group_by="model")
        assert sum(cell.runs for cell in cells) == len(runs), window
        assert sum(cell.finished for cell in cells) == len(finished), window
        assert sum(cell.resolved for cell in cells) == sum(
            run.outcome == "resolved" for run in finished
        )
        assert sum(cell.cost_usd for cell in cells) == pytest.approx(
            sum(run.cost_usd or 0.0 for run in finished)
        )
        counted = await store.run_durations(window, group_by="model")
        expected = Counter(
            (int(run.started_at // DAY), run.model, round_duration(run.duration_s))
            for run in finished
        )
        assert Counter({(d, k, v): n for d, k, v, n in counted}) == expected, window
        assert len(counted) == len(expected)  # one row per day, group and duration
        assert [v for _, _, v, _ in counted] == sorted(v for _, _, v, _ in counted)
        escalated = await store.events_of_type("escalated", _all(window))
        assert Counter(dict(await store.escalation_triggers(window))) == Counter(
            str(row.meta["trigger"]) for row in escalated
        ), window


async def test_a_run_that_changes_moves_between_the_sums(store: Store, contract: Contract) -> None:
    run_id = await record_run(store, contract, started_at=NOON, outcome=None, tools=["a"])
    day = RunFilter(tenant="default", since=NOON - DAY, until=NOON + DAY)
    [running] = await store.run_outcomes(day)
    assert (running.runs, running.finished, running.tool_calls) == (1, 0, 1)
    assert await store.run_durations(day) == []

    record = await store.get_run(run_id)
    assert isinstance(record, RunRecord)
    record.status, record.outcome, record.finished_at = "finished", "resolved", NOON + 5.0
    record.tool_calls, record.cost_usd, record.duration_s = 3, 0.5, 4.56
    await store.append([], run=record)

    [done] = await store.run_outcomes(day)
    assert (done.runs, done.finished, done.resolved, done.tool_calls) == (1, 1, 1, 3)
    assert (done.cost_usd, done.priced, done.priced_resolved) == (0.5, 1, 1)
    assert await store.run_durations(day) == [(20788, "", 4.6, 1)]


def _all(window: RunFilter) -> RunFilter:
    return dataclasses.replace(window, limit=1_000_000)
