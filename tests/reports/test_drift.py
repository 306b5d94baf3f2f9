"""Drift reports over stored production runs: figures, thresholds, versions, windows."""

from __future__ import annotations

import time

import pytest

from proctor.contracts import Contract
from proctor.errors import NotFoundError, UsageError
from proctor.reports import (
    DriftThresholds,
    NoRunsError,
    Version,
    drift_report,
    find_version,
    parse_since,
    version_runs,
)
from proctor.store import Store
from support.drift_runs import DAY, record_run, record_runs

V1 = Contract.model_validate({"workflow": "refunds", "version": "1"})
V2 = Contract.model_validate(
    {"workflow": "refunds", "version": "2", "limits": {"max_tool_calls": 9}}
)
OTHER = Contract.model_validate({"workflow": "refunds", "version": "0"})


def window() -> tuple[float, float]:
    now = time.time()
    return now - 7 * DAY, now


async def seed(store: Store) -> None:
    """Baseline v1: 8 resolved, 1 failed, 1 escalated, $0.001 each, lookup + refund.
    Candidate v2: 6 resolved, 2 failed, 1 escalated, 1 draft_only, $0.0015 each, lookup
    twice + check, no refund. Plus runs every figure must leave out."""
    both = ("crm.lookup", "billing.refund")
    await record_runs(store, V1, 8, tools=both, cost=0.001)
    await record_runs(store, V1, 1, tools=both, outcome="failed", cost=0.001)
    await record_runs(store, V1, 1, tools=both, outcome="escalated", cost=0.001)
    twice = ("crm.lookup", "crm.lookup", "crm.check")
    await record_runs(store, V2, 6, tools=twice, cost=0.0015)
    await record_runs(store, V2, 2, tools=twice, outcome="failed", cost=0.0015)
    await record_runs(store, V2, 1, tools=twice, outcome="escalated", cost=0.0015)
    await record_runs(store, V2, 1, tools=twice, outcome="draft_only", cost=0.0015)
    # Left out: still running, too old, another version, another workflow.
    await record_run(store, V2, tools=("crm.lookup",) * 9, outcome=None, cost=0.5)
    await record_run(store, V2, tools=("crm.lookup",) * 9, outcome="failed", age_s=8 * DAY)
    await record_run(store, OTHER, tools=("crm.wipe",), outcome="failed", cost=9.0)
    await record_run(store, V2, tools=("crm.wipe",), outcome="failed", workflow="support")


async def test_figures_of_each_version_leave_out_other_runs(store: Store) -> None:
    await seed(store)
    since, until = window()
    report = await drift_report(
        store, "refunds", Version.of(V1), Version.of(V2), since=since, until=until
    )

    assert (report.baseline.runs, report.baseline.in_progress) == (10, 0)
    assert (report.candidate.runs, report.candidate.in_progress) == (10, 1)
    figures = {m.key: (m.baseline, m.candidate) for m in report.metrics}
    assert figures == {
        "resolved_rate": (0.8, 0.6),
        "failure_rate": (0.1, 0.2),
        "escalation_rate": (0.1, 0.2),  # draft_only counts as escalated
        "tool_calls_per_run": (2.0, 3.0),
        "cost_per_run": pytest.approx((0.001, 0.0015)),
        # All spend over the resolved runs: 10 x 0.001 / 8 and 10 x 0.0015 / 6.
        "cost_per_resolved_run": pytest.approx((0.00125, 0.0025)),
    }
    tools = {t.tool: (t.baseline_mean, t.candidate_mean, t.alert) for t in report.tools}
    assert tools == {
        "billing.refund": (1.0, 0.0, True),
        "crm.check": (0.0, 1.0, True),
        "crm.lookup": (1.0, 2.0, True),
    }
    lookup = next(t for t in report.tools if t.tool == "crm.lookup")
    assert (lookup.baseline_counts, lookup.candidate_counts) == ({1: 10}, {2: 10})


async def test_every_change_past_its_threshold_alerts(store: Store) -> None:
    await seed(store)
    since, until = window()
    report = await drift_report(
        store, "refunds", Version.of(V1), Version.of(V2), since=since, until=until
    )

    assert report.alerting
    assert all(m.alert for m in report.metrics)
    assert {m.gate for m in report.metrics} == {"failure", "escalation", "tool_calls", "cost"}
    assert "resolved rate: 80.0% -> 60.0% (drop > 5 points)" in report.alerts
    assert "cost per run (USD): $0.001000 -> $0.001500 (rise > 20%)" in report.alerts
    assert len(report.alerts) == 6 + 3


async def test_raised_thresholds_silence_alerts_and_a_change_at_the_threshold_does_not_alert(
    store: Store,
) -> None:
    await seed(store)
    since, until = window()
    # Exactly at each threshold: 20 points, 10 points, 10 points, +50%, +50%, +100%.
    at = DriftThresholds(
        resolved_rate_drop=0.2,
        failure_rate_rise=0.1,
        escalation_rate_change=0.1,
        tool_calls_change=1.0,
        cost_rise=1.0,
    )
    report = await drift_report(
        store, "refunds", Version.of(V1), Version.of(V2), since=since, until=until, thresholds=at
    )
    assert not any(m.alert for m in report.metrics), report.alerts
    # Dropped: -100%, not past a 100% threshold; new: an infinite change, always past.
    assert [t.tool for t in report.tools if t.alert] == ["crm.check"]
    assert report.alerts == [
        "crm.check calls per run: 0.00 -> 1.00 (not called under the baseline)"
    ]

    tighter = DriftThresholds(cost_rise=0.49, tool_calls_change=10)
    report = await drift_report(
        store,
        "refunds",
        Version.of(V1),
        Version.of(V2),
        since=since,
        until=until,
        thresholds=tighter,
    )
    assert [m.key for m in report.metrics if m.alert] == [
        "resolved_rate",
        "failure_rate",
        "escalation_rate",
        "cost_per_run",
        "cost_per_resolved_run",
    ]


async def test_the_same_behaviour_under_two_versions_raises_no_alert(store: Store) -> None:
    for version in (V1, V2):
        await record_runs(store, version, 4, tools=("crm.lookup",), cost=0.002)
        await record_run(store, version, tools=("crm.lookup",), outcome="failed", cost=0.002)
    since, until = window()
    report = await drift_report(
        store, "refunds", Version.of(V1), Version.of(V2), since=since, until=until
    )
    assert not report.alerting
    assert report.alerts == []


async def test_fewer_escalations_and_tool_calls_alert_too_but_cheaper_runs_do_not(
    store: Store,
) -> None:
    await record_runs(store, V1, 5, tools=("a", "b"), outcome="escalated", cost=0.01)
    await record_runs(store, V1, 5, tools=("a", "b"), cost=0.01)
    await record_runs(store, V2, 10, tools=("a",), cost=0.001)
    since, until = window()
    report = await drift_report(
        store, "refunds", Version.of(V1), Version.of(V2), since=since, until=until
    )
    alerting = {m.key for m in report.metrics if m.alert}
    assert alerting == {"escalation_rate", "tool_calls_per_run"}


async def test_unknown_costs_are_left_out_of_cost_figures(store: Store) -> None:
    await record_runs(store, V1, 2, cost=0.004)
    await record_run(store, V1, cost=None)
    figures = await version_runs(
        store, "refunds", Version.of(V1), since=window()[0], until=window()[1]
    )
    assert (figures.runs, figures.cost_runs) == (3, 2)
    assert figures.cost_per_run == pytest.approx(0.004)
    assert figures.cost_per_resolved_run == pytest.approx(0.004)


async def test_a_version_without_finished_runs_in_the_window_is_an_error(store: Store) -> None:
    await record_runs(store, V1, 3)
    await record_run(store, V2, outcome=None)
    await record_run(store, V2, age_s=30 * DAY)
    since, until = window()
    with pytest.raises(NoRunsError, match=r"candidate .* \(1 still in progress\). Fix: widen"):
        await drift_report(
            store, "refunds", Version.of(V1), Version.of(V2), since=since, until=until
        )


async def test_versions_are_found_by_label_or_hash_prefix(store: Store) -> None:
    await record_run(store, V1)
    await record_run(store, V2)
    assert (await find_version(store, "refunds", "2")).content_hash == V2.content_hash
    assert (await find_version(store, "refunds", "v1")).content_hash == V1.content_hash
    prefix = V2.content_hash[:6]
    assert (await find_version(store, "refunds", prefix)).label == "2"

    with pytest.raises(NotFoundError, match=r"no contract version '7'.*stored versions: "):
        await find_version(store, "refunds", "7")
    with pytest.raises(NotFoundError, match=r"no runs of workflow 'refund' in this store"):
        await find_version(store, "refund", "1")


async def test_a_label_two_versions_share_is_ambiguous(store: Store) -> None:
    edited = Contract.model_validate({"workflow": "refunds", "version": "1", "description": "x"})
    await record_run(store, V1)
    await record_run(store, edited)
    with pytest.raises(UsageError, match=r"'1' names 2 contract versions"):
        await find_version(store, "refunds", "1")
    assert (await find_version(store, "refunds", edited.content_hash[:8])).label == "1"


def test_since_takes_spans_and_dates() -> None:
    now = 1_800_000_000.0
    assert parse_since("7d", now=now) == now - 7 * DAY
    assert parse_since("24h", now=now) == now - DAY
    assert parse_since("90m", now=now) == now - 5400
    assert parse_since("2w", now=now) == now - 14 * DAY
    assert parse_since("2026-11-01", now=now) == 1_793_491_200.0  # midnight UTC
    assert parse_since("2026-11-01T01:00+01:00", now=now) == 1_793_491_200.0
    with pytest.raises(UsageError, match=r"--since 'last week' is not a time span"):
        parse_since("last week", now=now)


async def test_the_json_form_names_every_figure(store: Store) -> None:
    await seed(store)
    since, until = window()
    report = await drift_report(
        store, "refunds", Version.of(V1), Version.of(V2), since=since, until=until
    )
    shown = report.as_dict()
    assert set(shown) == {
        "workflow", "since", "until", "baseline", "candidate", "alert", "alerts",
        "metrics", "tools", "thresholds",
    }  # fmt: skip
    assert shown["baseline"] == {
        "hash": V1.content_hash,
        "version": "1",
        "runs": 10,
        "in_progress": 0,
    }
    assert shown["metrics"][0]["metric"] == "resolved_rate"
    assert shown["tools"][1]["candidate_counts"] == {"1": 10}
    check = next(m for m in shown["metrics"] if m["metric"] == "tool_calls_per_run")
    assert check["relative"] == pytest.approx(0.5)
