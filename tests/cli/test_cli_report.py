"""``proctor report drift`` and ``proctor rollout status|promote``, as a user runs them.

Runs are constructed in the store with known figures (tests/support/drift_runs.py); the
commands run as subprocesses against it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from cli_harness import Ran, cli_env, documented_json, proctor, proctor_all

from proctor.contracts import Contract
from proctor.store import SQLiteStore
from support.drift_runs import record_runs, write_rollout

pytestmark = pytest.mark.slow

FLOWS = """
from pathlib import Path

from proctor.contracts import load_contract
from proctor.runtime import Workflow
from proctor.tools import Registry


def workflow() -> Workflow:
    return Workflow(
        name="refunds",
        registry=Registry([]),
        contract=load_contract(Path(__file__).parent / "contract.yaml"),
        instructions="Refund.",
        default_model="scripted:none",
    )
"""


def seed(home: Path, terms: Contract, *, candidate_cost: float, candidate_runs: int) -> None:
    assert terms.rollout is not None
    candidate = terms.rollout.contract

    async def main() -> None:
        store = SQLiteStore(home / "proctor.db")
        try:
            await record_runs(store, terms, 20, tools=("crm.lookup",), cost=0.001)
            await record_runs(store, terms, 2, tools=("crm.lookup",), outcome="failed")
            await record_runs(
                store, candidate, candidate_runs, tools=("crm.lookup",), cost=candidate_cost
            )
        finally:
            await store.close()

    asyncio.run(main())


def one_line_error(ran: Ran, code: int) -> str:
    assert ran.code == code, str(ran)
    assert "Traceback" not in ran.err, str(ran)
    [line] = ran.err.strip().splitlines()
    assert line.startswith("usage error: " if code == 2 else "error: "), str(ran)
    return line


@pytest.fixture
def rollout(tmp_path: Path, proctor_home: Path) -> tuple[Path, dict[str, str]]:
    folder = tmp_path / "flows"
    folder.mkdir()
    (folder / "flows.py").write_text(FLOWS)
    main, terms = write_rollout(folder)
    seed(proctor_home, terms, candidate_cost=0.003, candidate_runs=12)
    return main, cli_env(proctor_home, {"PYTHONPATH": str(folder)})


def test_drift_between_two_versions_alerts_and_exits_1(
    rollout: tuple[Path, dict[str, str]],
) -> None:
    main, env = rollout
    table, as_json, relaxed, by_rollout = proctor_all(
        [
            ["report", "drift", "--workflow", "refunds", "--baseline", "1", "--candidate", "2"],
            ["report", "drift", "-w", "refunds", "--baseline", "v1", "--candidate", "2", "--json"],
            [
                *("report", "drift", "-w", "refunds", "--baseline", "1", "--candidate", "2"),
                *("--max-cost-rise", "3", "--max-resolved-drop", "0.1"),
                *("--max-failure-rise", "0.1", "--since", "2026-01-01"),
            ],
            ["report", "drift", "-w", "refunds", "--contract", str(main), "--json"],
        ],
        env=env,
    )
    assert table.code == 1, str(table)
    assert "22 finished run(s)" in table.out
    assert "12 finished run(s)" in table.out
    assert "cost per run (USD)" in table.out
    assert "⚑ alert" in table.out
    assert "drift alert(s)" in table.out

    assert as_json.code == 1, str(as_json)
    report = as_json.json()
    assert report["alert"] is True
    assert (report["baseline"]["version"], report["candidate"]["version"]) == ("1", "2")
    costs = next(m for m in report["metrics"] if m["metric"] == "cost_per_run")
    assert costs["alert"] is True
    assert costs["relative"] == pytest.approx(2.0)
    failures = next(m for m in report["metrics"] if m["metric"] == "failure_rate")
    assert (failures["baseline"], failures["candidate"]) == (pytest.approx(2 / 22), 0.0)
    assert report["tools"][0]["tool"] == "crm.lookup"

    assert relaxed.code == 0, str(relaxed)
    assert "no drift alert" in relaxed.out

    # No versions named: the contract's own version against its rollout's candidate.
    assert by_rollout.json()["candidate"] == report["candidate"], str(by_rollout)


def test_drift_errors_are_one_line(rollout: tuple[Path, dict[str, str]]) -> None:
    _, env = rollout
    versions = ("--baseline", "1", "--candidate", "2")
    unknown, no_version, no_runs, bad_since, no_rollout = proctor_all(
        [
            ["report", "drift", "--workflow", "nope", *versions],
            ["report", "drift", "--workflow", "refunds", "--baseline", "9", "--candidate", "2"],
            ["report", "drift", "--workflow", "refunds", *versions, "--since", "30m"],
            ["report", "drift", "--workflow", "refunds", *versions, "--since", "lately"],
            ["report", "drift", "--workflow", "invoice_reconciliation"],
        ],
        env=env,
    )
    assert "no runs of workflow 'nope'" in one_line_error(unknown, 1)
    assert "has no contract version '9'" in one_line_error(no_version, 1)
    assert "no finished runs of 'refunds' under the baseline" in one_line_error(no_runs, 1)
    assert "--since 'lately' is not a time span" in one_line_error(bad_since, 2)
    assert (
        "contract of workflow 'invoice_reconciliation' has no rollout. Fix: add"
        in one_line_error(no_rollout, 2)
    )


def test_status_shows_the_split(rollout: tuple[Path, dict[str, str]]) -> None:
    main, env = rollout
    shown = proctor("rollout", "status", "refunds", "--contract", str(main), env=env)
    assert shown.code == 0, str(shown)
    assert "rollout at 10% to the candidate" in shown.out
    assert "64.7%" in shown.out
    assert "35.3%" in shown.out
    assert "cost per run (USD)" in shown.out


def test_promote_refuses_while_drift_alerts_then_promotes(
    rollout: tuple[Path, dict[str, str]],
) -> None:
    main, env = rollout
    before = main.read_text()
    refused = proctor("rollout", "promote", "flows:workflow", env=env)
    assert refused.code == 1, str(refused)
    assert "refused: not promoting candidate.yaml into" in refused.out
    assert "only 12 finished candidate run(s)" in refused.out
    assert "drift alert (cost): cost per run (USD): $0.001000 -> $0.003000" in refused.out
    assert main.read_text() == before
    assert not main.with_name("contract.yaml.bak").exists()

    done = proctor(
        *("rollout", "promote", "flows:workflow", "--min-runs", "10"),
        *("--max-cost-rise", "5", "--max-resolved-drop", "0.1", "--max-failure-rise", "0.1"),
        env=env,
    )
    assert done.code == 0, str(done)
    assert f"into {main} (the old contract is in {main}.bak)" in done.out
    assert "limits.max_tool_calls: 100 -> 9" in done.out
    assert main.with_name("contract.yaml.bak").read_text() == before
    assert main.read_text() == main.with_name("candidate.yaml").read_text()


def test_promote_as_json_refuses_then_promotes(rollout: tuple[Path, dict[str, str]]) -> None:
    main, env = rollout
    before = main.read_text()
    refused = proctor("rollout", "promote", "flows:workflow", "--json", env=env)

    assert refused.code == 1, str(refused)
    document = refused.json()
    top, _ = documented_json("rollout promote")
    assert set(document) == top
    assert (document["allowed"], document["min_runs"], document["promoted"]) == (False, 20, None)
    assert any("only 12 finished candidate run(s)" in reason for reason in document["reasons"])
    assert document["status"]["workflow"] == "refunds"
    assert document["status"]["candidate"]["runs"] == 12
    assert main.read_text() == before

    done = proctor(
        *("rollout", "promote", "flows:workflow", "--min-runs", "10", "--json"),
        *("--max-cost-rise", "5", "--max-resolved-drop", "0.1", "--max-failure-rise", "0.1"),
        env=env,
    )

    assert done.code == 0, str(done)
    promoted = done.json()
    assert (promoted["allowed"], promoted["reasons"]) == (True, [])
    assert promoted["promoted"]["contract_file"] == str(main)
    assert promoted["promoted"]["backup"] == f"{main}.bak"
    changes = promoted["promoted"]["diff"]["changes"]
    assert {
        "path": "limits.max_tool_calls",
        "kind": "changed",
        "before": 100,
        "after": 9,
    } in changes
    assert main.read_text() == main.with_name("candidate.yaml").read_text()
