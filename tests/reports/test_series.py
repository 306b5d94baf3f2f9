"""Runs over time: by hour when the window is a day or less (every hour given, the empty
ones as zero), by UTC day otherwise; counted by the store, not by reading every run."""

from __future__ import annotations

from pathlib import Path

import pytest

from proctor.contracts import Contract, load_contract
from proctor.reports import run_series, series_unit
from proctor.store import RunFilter, RunRecord, Store
from support.drift_runs import DAY, record_run

HOUR = 3600.0
MIDNIGHT = 1_796_169_600.0  # 2026-12-02 00:00:00 UTC


@pytest.fixture
def contract(tmp_path: Path) -> Contract:
    path = tmp_path / "contract.yaml"
    path.write_text("workflow: refunds\n", encoding="utf-8")
    return load_contract(path)


def test_a_day_or_less_is_cut_into_hours_and_more_into_days() -> None:
    assert series_unit(0, DAY) == "hour"
    assert series_unit(0, HOUR) == "hour"
    assert series_unit(0, DAY + 1) == "day"
    assert series_unit(0, 7 * DAY) == "day"


async def test_the_last_24_hours_have_an_hour_each_with_the_empty_ones_zero(
    store: Store, contract: Contract, monkeypatch: pytest.MonkeyPatch
) -> None:
    until = MIDNIGHT + 10.5 * HOUR  # 10:30 UTC
    await record_run(store, contract, started_at=MIDNIGHT + 9 * HOUR + 1, cost=0.03)
    await record_run(store, contract, started_at=MIDNIGHT + 9 * HOUR + 2, outcome="escalated")
    await record_run(store, contract, started_at=MIDNIGHT - 3 * HOUR, cost=0.01)  # 21:00
    await record_run(store, contract, started_at=until - DAY - 1)  # before the window

    async def no_listing(query: RunFilter) -> list[RunRecord]:
        raise AssertionError("the series must not read every run")

    monkeypatch.setattr(store, "list_runs", no_listing)
    series = await run_series(store, tenant="default", since=until - DAY, until=until)

    assert series.unit == "hour"
    # 10:00 yesterday (partly in the window) to 10:00 today: 25 hours, none missing.
    assert len(series.points) == 25
    assert [p.label for p in series.points[:3]] == ["10:00", "11:00", "12:00"]
    assert series.points[-1].label == "10:00"
    assert series.points[0].title == "2026-12-01 10:00-11:00 UTC"
    assert series.points[13].title == "2026-12-01 23:00-00:00 UTC"
    runs = {p.label: p.runs for p in series.points if p.runs}
    assert runs == {"21:00": 1, "09:00": 2}
    nine = series.points[-2]
    assert (nine.label, nine.resolved, nine.escalated) == ("09:00", 1, 1)
    # The escalated run's $0.001 is paid by the resolved one, as in the report's totals.
    assert nine.cost_per_resolved == pytest.approx(0.031)
    assert sum(p.runs == 0 for p in series.points) == 23
    quiet = series.points[5]
    assert (quiet.runs, quiet.cost_usd, quiet.cost_per_resolved) == (0, 0.0, None)


async def test_a_week_has_a_utc_day_each(store: Store, contract: Contract) -> None:
    until = MIDNIGHT + 12 * HOUR
    await record_run(store, contract, started_at=MIDNIGHT - 2 * DAY + 5, cost=0.02)
    await record_run(store, contract, started_at=MIDNIGHT + HOUR, outcome="failed", cost=0.02)
    series = await run_series(store, tenant="default", since=until - 7 * DAY, until=until)
    assert series.unit == "day"
    assert [p.label for p in series.points] == [
        "11-25",
        "11-26",
        "11-27",
        "11-28",
        "11-29",
        "11-30",
        "12-01",
        "12-02",
    ]
    assert [p.runs for p in series.points] == [0, 0, 0, 0, 0, 1, 0, 1]
    assert series.points[-1].title == "2026-12-02 (UTC)"
    assert series.points[-1].cost_per_resolved is None  # spent, nothing resolved
    assert series.points[-1].cost_usd == pytest.approx(0.02)
