"""Reports by outcome over constructed runs whose figures are chosen by the test."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from proctor.contracts import Contract, load_contract
from proctor.reports import build_report
from proctor.reports._outcomes import day_of, percentile
from proctor.store import Store
from support.drift_runs import DAY, record_run


@pytest.fixture
def contract(tmp_path: Path) -> Contract:
    path = tmp_path / "contract.yaml"
    path.write_text('workflow: refunds\nversion: "3"\n', encoding="utf-8")
    return load_contract(path)


def test_days_are_utc_calendar_days() -> None:
    assert day_of(0.0) == "1970-01-01"
    assert day_of(86_399.9) == "1970-01-01"
    assert day_of(86_400.0) == "1970-01-02"
    assert day_of(1_795_478_400.0) == "2026-11-24"


def test_percentiles_are_nearest_rank_values_that_occurred() -> None:
    values = [float(n) for n in range(1, 101)]
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.9) == 90.0
    assert percentile(values, 0.99) == 99.0
    assert percentile([7.0], 0.99) == 7.0
    assert percentile([], 0.5) is None


async def test_the_total_counts_outcomes_cost_per_resolved_and_escalations(
    store: Store, contract: Contract
) -> None:
    await record_run(store, contract, tools=["a", "b"], cost=0.02, duration_s=2.0)
    await record_run(store, contract, tools=["a"], cost=0.02, duration_s=4.0)
    await record_run(
        store, contract, outcome="escalated", trigger="policy_violation", cost=0.02, duration_s=8
    )
    await record_run(
        store, contract, outcome="draft_only", trigger="budget_exceeded", cost=None, duration_s=1
    )
    await record_run(store, contract, outcome="failed", cost=0.02, duration_s=1.0)
    await record_run(store, contract, outcome=None)  # still running: counted, not figured
    now = time.time()
    report = await build_report(store, tenant="default", since=now - DAY, until=now)
    total = report.total
    assert (total.runs, total.finished, total.resolved) == (6, 5, 2)
    assert (total.escalated, total.draft_only, total.failed) == (1, 1, 1)
    # Four priced runs cost $0.08 and two of them resolved: $0.04 per resolved task.
    assert total.cost_usd == pytest.approx(0.08)
    assert total.cost_per_resolved == pytest.approx(0.04)
    assert total.escalation_rate == pytest.approx(2 / 5)
    assert total.resolved_rate == pytest.approx(2 / 5)
    assert total.tool_calls_per_run == pytest.approx(3 / 5)
    assert (total.latency_p50_s, total.latency_p99_s) == (2.0, 8.0)
    # Ties keep the order the escalations happened in.
    assert report.escalations == [("policy_violation", 1), ("budget_exceeded", 1)]
    assert report.tool_calls == [(0, 3), (1, 1), (2, 1)]


async def test_runs_are_grouped_by_day_model_and_version(store: Store, contract: Contract) -> None:
    await record_run(store, contract, age_s=2 * DAY + 60, model="cheap")
    await record_run(store, contract, age_s=60, model="cheap")
    await record_run(store, contract, age_s=120, model="strong", outcome="escalated")
    now = time.time()
    by_day = await build_report(store, tenant="default", since=now - 7 * DAY, until=now)
    days = sorted({day_of(now - 2 * DAY - 60), day_of(now - 60), day_of(now - 120)})
    assert [row.key for row in by_day.rows] == days
    assert by_day.days == by_day.rows
    by_model = await build_report(
        store, tenant="default", since=now - 7 * DAY, until=now, group_by="model"
    )
    assert [(row.key, row.runs) for row in by_model.rows] == [("cheap", 2), ("strong", 1)]
    assert by_model.days == by_day.rows  # the time series comes with any grouping
    by_version = await build_report(
        store, tenant="default", since=now - 7 * DAY, until=now, group_by="version"
    )
    assert [row.key for row in by_version.rows] == [f"refunds v3 ({contract.content_hash[:12]})"]


async def test_a_report_sees_only_its_tenant_window_and_workflow(
    store: Store, contract: Contract
) -> None:
    await record_run(store, contract, tenant="acme", outcome="escalated", trigger="tool_error")
    await record_run(store, contract, tenant="beta")
    await record_run(store, contract, tenant="acme", age_s=30 * DAY)  # before the window
    await record_run(store, contract, tenant="acme", workflow="other")
    now = time.time()
    acme = await build_report(store, tenant="acme", since=now - DAY, until=now)
    assert acme.total.runs == 2
    assert acme.escalations == [("tool_error", 1)]
    beta = await build_report(store, tenant="beta", since=now - DAY, until=now)
    assert (beta.total.runs, beta.escalations) == (1, [])
    only = await build_report(store, tenant="acme", since=now - DAY, until=now, workflow="other")
    assert only.total.runs == 1
    empty = await build_report(store, tenant="nobody", since=now - DAY, until=now)
    assert (empty.total.runs, empty.total.cost_per_resolved, empty.rows) == (0, None, [])
