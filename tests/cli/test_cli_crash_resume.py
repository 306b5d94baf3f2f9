"""SIGKILL a run around a write tool, resume it from its log: the ERP is paid exactly once.

The runs use ``crash_workflows``: the invoice workflow rigged to kill its own process
once, either just after ``erp.create_payment`` wrote to the ERP (its result not yet in
the log), or just after that result was logged (before the next model turn).
"""

from __future__ import annotations

import json
import os
import re
import signal
from pathlib import Path
from typing import Any

import pytest
from cli_harness import cli_env, proctor, proctor_all

from proctor.examples import invoice
from proctor.store import (
    Event,
    RunFilter,
    RunFinished,
    RunResumed,
    RunStarted,
    ToolFinished,
    ToolStarted,
    open_store,
    row_to_event,
    verify_run,
)

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent
PAY = "erp.create_payment"
PAY_STEP = 4  # parse, vendor, PO, thresholds, then the payment


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "crashed-once"


CRASH_WORKFLOWS = (
    "crash_workflows:kill_after_payment",
    "crash_workflows:kill_before_next_turn",
)


@pytest.fixture
def env(proctor_home: Path, marker: Path) -> dict[str, str]:
    """CLI environment that can import ``crash_workflows`` and arms its one kill."""
    path = [str(HERE), *filter(None, [os.environ.get("PYTHONPATH")])]
    return cli_env(
        proctor_home,
        {
            "PYTHONPATH": os.pathsep.join(path),
            "CRASH_MARKER": str(marker),
            # A stored run only names its workflow: the operator lets these be resumed.
            "PROCTOR_WORKFLOWS": ",".join(CRASH_WORKFLOWS),
        },
    )


@pytest.fixture
def clean_input(tmp_path: Path) -> str:
    path = tmp_path / "clean.json"
    path.write_text(json.dumps(invoice.sample_input("clean")))
    return str(path)


def _payments(run_id: str) -> list[dict[str, Any]]:
    return [p for p in invoice.list_payments() if p["idempotency_key"].startswith(f"{run_id}:")]


async def _running_run_ids(db: str | None = None) -> list[str]:
    store = open_store(db)
    try:
        return [r.run_id for r in await store.list_runs(RunFilter(status="running"))]
    finally:
        await store.close()


async def _events(run_id: str, db: str | None = None) -> list[Event]:
    store = open_store(db)
    try:
        assert (await verify_run(store, run_id)).ok
        return [row_to_event(row) for row in await store.events(run_id)]
    finally:
        await store.close()


def _pay_starts(events: list[Event]) -> list[ToolStarted]:
    return [e.data for e in events if isinstance(e.data, ToolStarted) and e.data.tool == PAY]


def _pay_finishes(events: list[Event]) -> list[ToolFinished]:
    return [e.data for e in events if isinstance(e.data, ToolFinished) and e.data.tool == PAY]


def _run_killed(workflow_ref: str, clean_input: str, env: dict[str, str], marker: Path) -> None:
    killed = proctor("run", workflow_ref, "--input", clean_input, env=env)
    assert killed.code == -signal.SIGKILL, str(killed)
    assert marker.exists()
    assert "Traceback" not in killed.err


async def test_killed_after_the_erp_write_resumes_without_a_second_payment(
    clean_input: str, env: dict[str, str], marker: Path
) -> None:
    _run_killed("crash_workflows:kill_after_payment", clean_input, env, marker)

    listed = proctor("runs", "--status", "running", "--json", env=env)
    assert listed.code == 0, str(listed)
    [record] = listed.json()["runs"]
    run_id = record["run_id"]
    # The ERP holds the payment, but the log only knows the call started.
    assert len(_payments(run_id)) == 1
    before = await _events(run_id)
    assert isinstance(before[0].data, RunStarted)
    assert before[0].data.workflow_ref == "crash_workflows:kill_after_payment"
    assert [s.attempt for s in _pay_starts(before)] == [1]
    assert _pay_finishes(before) == []
    assert isinstance(before[-1].data, ToolStarted)

    resumed = proctor("resume", run_id, env=env)
    assert resumed.code == 0, str(resumed)
    assert f"run {run_id}: resolved" in resumed.out
    assert "already held this payment" in resumed.out

    payments = _payments(run_id)
    assert len(payments) == 1
    assert invoice.payments_count() == 1
    after = await _events(run_id)
    starts = _pay_starts(after)
    # The call was run again under the same idempotency key, and the ERP deduplicated it.
    assert [s.attempt for s in starts] == [1, 2]
    assert {s.idempotency_key for s in starts} == {f"{run_id}:{PAY_STEP}"}
    [finished] = _pay_finishes(after)
    assert finished.ok
    assert finished.result["duplicate"] is True
    assert finished.result["payment_id"] == payments[0]["payment_id"]
    assert sum(isinstance(e.data, RunResumed) for e in after) == 1
    assert isinstance(after[-1].data, RunFinished)
    assert after[-1].data.outcome == "resolved"

    audit = proctor("audit", "verify", env=env)
    assert audit.code == 0, str(audit)
    assert "1 chain(s) verified" in audit.out


async def test_killed_after_the_result_is_logged_resumes_without_running_it_again(
    clean_input: str, env: dict[str, str], marker: Path
) -> None:
    _run_killed("crash_workflows:kill_before_next_turn", clean_input, env, marker)

    [run_id] = await _running_run_ids()
    before = await _events(run_id)
    assert isinstance(before[-1].data, ToolFinished)
    assert before[-1].data.tool == PAY
    assert len(_payments(run_id)) == 1

    resumed = proctor("resume", run_id, env=env)
    assert resumed.code == 0, str(resumed)
    assert f"run {run_id}: resolved" in resumed.out
    assert "already held" not in resumed.out

    [payment] = _payments(run_id)
    assert invoice.payments_count() == 1
    assert payment["payment_id"] in resumed.out
    after = await _events(run_id)
    # Logged once, run once: the resumed run went straight to the next model turn.
    assert [s.attempt for s in _pay_starts(after)] == [1]
    [finished] = _pay_finishes(after)
    assert finished.result["duplicate"] is False
    assert sum(isinstance(e.data, RunResumed) for e in after) == 1
    assert isinstance(after[-1].data, RunFinished)
    assert after[-1].data.outcome == "resolved"

    audit = proctor("audit", "verify", run_id, env=env)
    assert audit.code == 0, str(audit)


async def test_the_next_run_first_resumes_a_killed_one_when_asked(
    clean_input: str, env: dict[str, str], marker: Path
) -> None:
    _run_killed("crash_workflows:kill_after_payment", clean_input, env, marker)
    [killed_id] = await _running_run_ids()

    following = proctor(
        "run", "invoice_reconciliation", "--input", clean_input, "--resume-interrupted", env=env
    )
    assert following.code == 0, str(following)
    out = following.out
    assert f"resuming interrupted run {killed_id} (invoice_reconciliation)" in out
    finished = re.findall(r"^run (run_[0-9a-f]{16}): resolved$", out, re.MULTILINE)
    assert len(finished) == 2, str(following)
    assert finished[0] == killed_id
    assert out.index("resuming interrupted run") < out.index(f"run {finished[1]}: resolved")

    assert await _running_run_ids() == []
    # One payment for each run: the killed run's write was not repeated.
    assert [len(_payments(run_id)) for run_id in finished] == [1, 1]
    assert invoice.payments_count() == 2
    assert [s.attempt for s in _pay_starts(await _events(killed_id))] == [1, 2]
    assert [s.attempt for s in _pay_starts(await _events(finished[1]))] == [1]


async def test_by_default_the_next_run_names_the_killed_one_and_leaves_it(
    clean_input: str, env: dict[str, str], marker: Path
) -> None:
    _run_killed("crash_workflows:kill_after_payment", clean_input, env, marker)
    [killed_id] = await _running_run_ids()

    following = proctor("run", "invoice_reconciliation", "--input", clean_input, env=env)

    assert following.code == 0, str(following)
    assert "resuming" not in following.out
    assert following.err == (
        f"note: 1 interrupted run(s) on this host: {killed_id} (invoice_reconciliation). "
        "Resume them with `proctor resume --all` (or `proctor run --resume-interrupted`)\n"
    )
    assert await _running_run_ids() == [killed_id]
    assert [s.attempt for s in _pay_starts(await _events(killed_id))] == [1]


async def test_eight_processes_recovering_one_run_resume_it_once(
    db_url: str | None, clean_input: str, env: dict[str, str], marker: Path
) -> None:
    db = db_url
    if db is not None:
        env = {**env, "PROCTOR_DB": db}
    _run_killed("crash_workflows:kill_after_payment", clean_input, env, marker)
    [killed_id] = await _running_run_ids(db)

    starting = ["run", "invoice_reconciliation", "--input", clean_input, "--resume-interrupted"]
    ran = proctor_all([starting, ["resume", "--all"]] * 4, env=env, side_by_side=True)

    for each in ran:
        assert each.code == 0, str(each)
        assert each.err == "", str(each)
    resumers = [each for each in ran if f"resuming interrupted run {killed_id}" in each.out]
    assert len(resumers) == 1, "\n".join(map(str, ran))
    events = await _events(killed_id, db)
    assert sum(isinstance(e.data, RunResumed) for e in events) == 1
    assert isinstance(events[-1].data, RunFinished)
    assert events[-1].data.outcome == "resolved"
    assert len(_payments(killed_id)) == 1
    assert await _running_run_ids(db) == []
