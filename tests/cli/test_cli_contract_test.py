"""``proctor contract test``: a candidate contract over the invoice runs a store recorded.

One module fixture records runs of the invoice example into a SQLite store (a clean
payment, one approved over the threshold, one still waiting for approval); each test gets
its own copy of that home.
"""

from __future__ import annotations

import asyncio
import shutil
from importlib import resources
from pathlib import Path

import pytest
from cli_harness import Ran, cli_env, one_line_error, proctor, proctor_all

from proctor.examples import invoice
from proctor.runtime import Runner
from proctor.store import SQLiteStore
from support.invoice_runs import approved_run

pytestmark = pytest.mark.slow

SHIPPED = resources.files("proctor.examples.invoice").joinpath("contract.yaml").read_text()
CAP = """\
  - deny: erp.create_payment
    when: args.amount > 1000
    id: cap
    reason: No payment over 1,000 before the new AP check.
"""


async def _record(db: Path) -> list[str]:
    store = SQLiteStore(db)
    try:
        runner = Runner(store, invoice.workflow())
        clean = await runner.start(invoice.sample_input("clean"))
        approved = await approved_run(store)
        waiting = await runner.start(invoice.sample_input("over_threshold"))
        return [clean.run_id, approved, waiting.run_id]
    finally:
        await store.close()


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    home = tmp_path_factory.mktemp("recorded") / "home"
    home.mkdir()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PROCTOR_HOME", str(home))  # the runs' signing key goes there too
        return home, asyncio.run(_record(home / "proctor.db"))


@pytest.fixture
def env(recorded: tuple[Path, list[str]], proctor_home: Path) -> dict[str, str]:
    shutil.copytree(recorded[0], proctor_home, dirs_exist_ok=True)
    return cli_env(proctor_home)


@pytest.fixture
def runs(recorded: tuple[Path, list[str]]) -> list[str]:
    return recorded[1]


def _file(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_the_shipped_contract_changes_nothing(env: dict[str, str], tmp_path: Path) -> None:
    ran = proctor("contract", "test", _file(tmp_path, "same.yaml", SHIPPED), env=env)

    assert ran.code == 0, str(ran)
    assert "3 run(s), 17 decision(s) checked: no decision changes" in ran.out
    assert "Decisions the candidate would change" not in ran.out


def test_a_deny_rule_that_refuses_a_recorded_payment_exits_1(
    env: dict[str, str], runs: list[str], tmp_path: Path
) -> None:
    assert SHIPPED.count("rules:\n") == 1
    cap = _file(tmp_path, "cap.yaml", SHIPPED.replace("rules:\n", "rules:\n" + CAP))

    table, as_json = proctor_all(
        [["contract", "test", cap], ["contract", "test", cap, "--json"]], env=env
    )

    assert table.code == 1, str(table)
    rows = [line for line in table.out.splitlines() if line.strip().startswith("run_")]
    assert len(rows) == 3, str(table)
    clean = next(row for row in rows if runs[0] in row)
    assert "newly denied" in clean
    assert "allow [default.allow]" in clean
    assert "deny [rule.cap]" in clean
    assert "No payment over 1,000" in clean
    assert "✗" in table.out
    assert "17 decision(s) checked: 3 changed (3 newly denied)" in table.out
    assert as_json.code == 1, str(as_json)
    report = as_json.json()
    assert report["totals"]["newly_denied"] == 3
    [change] = next(run for run in report["runs"] if run["run_id"] == runs[0])["changes"]
    assert (change["tool"], change["change"], change["candidate"]["rule"]) == (
        "erp.create_payment",
        "newly_denied",
        "rule.cap",
    )


def test_removing_the_approval_newly_allows_the_held_payments(
    env: dict[str, str], runs: list[str], tmp_path: Path
) -> None:
    start = SHIPPED.index("approvals:\n")
    end = SHIPPED.index("# Separation of duties")
    lenient = _file(tmp_path, "lenient.yaml", SHIPPED[:start] + SHIPPED[end:])

    everything, one = proctor_all(
        [
            ["contract", "test", lenient, "--json"],
            ["contract", "test", lenient, "--run", runs[1], "--json"],
        ],
        env=env,
    )

    assert everything.code == 1, str(everything)
    totals = everything.json()["totals"]
    assert (totals["runs"], totals["newly_allowed"], totals["changed"]) == (3, 2, 2)
    assert one.code == 1, str(one)
    [run] = one.json()["runs"]
    [change] = run["changes"]
    assert run["run_id"] == runs[1]
    assert change["change"] == "newly_allowed"
    assert change["recorded"]["rule"] == "approval.erp.create_payment"


def test_runs_are_picked_by_limit_and_since(env: dict[str, str], tmp_path: Path) -> None:
    same = _file(tmp_path, "same.yaml", SHIPPED)

    newest, recent, future = proctor_all(
        [
            ["contract", "test", same, "--limit", "1"],
            ["contract", "test", same, "--since", "1h"],
            ["contract", "test", same, "--since", "2999-01-01"],
        ],
        env=env,
    )

    assert "1 run(s)" in newest.out, str(newest)
    assert "3 run(s)" in recent.out, str(recent)
    assert future.code == 0, str(future)
    assert "no recorded runs of workflow 'invoice_reconciliation' match" in future.out


def test_what_cannot_be_tested_is_a_usage_error(
    env: dict[str, str], runs: list[str], tmp_path: Path
) -> None:
    same = _file(tmp_path, "same.yaml", SHIPPED)
    broken = _file(
        tmp_path, "broken.yaml", SHIPPED.replace("max_tool_calls: 6", "max_tool_calls: x")
    )
    other = _file(tmp_path, "other.yaml", "workflow: nobody\n")

    results: list[Ran] = proctor_all(
        [
            ["contract", "test", str(tmp_path / "missing.yaml")],
            ["contract", "test", broken],
            ["contract", "test", other],
            ["contract", "test", same, "--run", "run_nope"],
            ["contract", "test", same, "--run", runs[0], "--since", "7d"],
            ["contract", "test", same, "--since", "last week"],
        ],
        env=env,
    )

    lines = [one_line_error(ran, 2) for ran in results]
    assert "does not exist" in lines[0]
    assert "max_tool_calls must be a positive integer" in lines[1]
    assert "proctor contract check" in lines[1]
    assert "no workflow named 'nobody' is registered here" in lines[2]
    assert "--workflow-ref" in lines[2]
    assert "no run 'run_nope'" in lines[3]
    assert "either --run or --since" in lines[4]
    assert "--since 'last week'" in lines[5]
