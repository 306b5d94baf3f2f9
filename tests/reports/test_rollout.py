"""Canary rollouts: assignment by run id, runs under the candidate, resume, promotion."""

from __future__ import annotations

import hashlib
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from proctor.contracts import Contract, Rollout, canary_bucket, load_contract
from proctor.errors import ConfigError
from proctor.gateway import ScriptedModel, Turn
from proctor.reports import check_promotion, promote_candidate, rollout_status
from proctor.runtime import Runner, Workflow, decide_approval
from proctor.store import RunFilter, Store
from proctor.tools import Registry, tool
from support.drift_runs import DAY, record_runs, write_rollout


@tool("crm.lookup", idempotent=True)
def lookup(customer: str) -> dict[str, Any]:
    """Look a customer up."""
    return {"customer": customer}


SCRIPT = [Turn(calls=[("crm.lookup", {"customer": "C-1"})]), Turn(text="done")]


def workflow(contract: Contract) -> Workflow:
    return Workflow(
        name="refunds",
        registry=Registry([lookup]),
        contract=contract,
        instructions="Look the customer up.",
        default_model="scripted:t",
        scripts={"t": lambda: ScriptedModel(scenario="t", script=list(SCRIPT))},
    )


# --- assignment ------------------------------------------------------------------------

# Pinned: these must never change, in any process or Python version (sha256, not hash()).
PINNED = {"run_0000000000000000": 509, "run_db000e0c8837c7ba": 1864, "run_ffffffffffffffff": 2376}


def test_buckets_are_the_first_32_bits_of_sha256_mod_10000() -> None:
    for run_id, bucket in PINNED.items():
        assert canary_bucket(run_id) == bucket
        assert bucket == int(hashlib.sha256(run_id.encode()).hexdigest()[:8], 16) % 10_000


def test_assignment_is_the_same_in_another_process_with_another_hash_seed() -> None:
    ids = [f"run_{i:016x}" for i in range(200)]
    code = (
        "import sys; from proctor.contracts import canary_bucket; "
        "print(*(canary_bucket(i) for i in sys.argv[1:]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, *ids],
        env={"PYTHONHASHSEED": "12345"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert [int(b) for b in out.split()] == [canary_bucket(i) for i in ids]


@pytest.mark.parametrize("percent", [0, 2.5, 10, 50, 100])
def test_the_share_of_candidate_runs_is_the_percent(percent: float) -> None:
    rng = random.Random(percent)
    rollout = Rollout(candidate="c.yaml", percent=percent)
    ids = [f"run_{rng.getrandbits(64):016x}" for _ in range(10_000)]
    share = sum(rollout.takes(i) for i in ids) / len(ids)
    # Five standard deviations of a binomial share over 10,000 runs (at most 2.5 points).
    assert abs(share - percent / 100) <= 5 * (0.25 / 10_000) ** 0.5


# --- the rollout key -------------------------------------------------------------------


def test_the_rollout_is_not_part_of_the_contracts_terms(tmp_path: Path) -> None:
    main, terms = write_rollout(tmp_path)
    assert terms.rollout is not None
    assert terms.rollout.contract.version == "2"
    assert terms.rollout.source == main
    assert terms.rollout.candidate_path == tmp_path / "candidate.yaml"
    plain = Contract.model_validate({"workflow": "refunds", "version": "1"})
    assert terms.content_hash == plain.content_hash
    assert "rollout" not in terms.terms()


@pytest.mark.parametrize(
    ("candidate", "main_extra", "expected"),
    [
        (None, "", r"contract.yaml:4: rollout.candidate 'candidate.yaml' does not exist"),
        (
            "workflow: support\n",
            "",
            r"contract.yaml:4: rollout.candidate 'candidate.yaml' is a contract for 'support', "
            r"not for workflow 'refunds'. Fix: point it at a contract whose 'workflow:' is",
        ),
        (
            "workflow: refunds\nlimits: {max_tool_calls: six}\n",
            "",
            r"candidate.yaml:2: limits.max_tool_calls must be a positive integer(.|\n)*"
            r"contract.yaml:4: rollout.candidate 'candidate.yaml' is not a valid contract",
        ),
        (
            "workflow: refunds\nversion: '2'\nrollout: {candidate: contract.yaml, percent: 5}\n",
            "",
            r"contract.yaml:4: rollout.candidate 'candidate.yaml' declares a rollout of its own",
        ),
        (
            "workflow: refunds\nversion: '1'\n",
            "",
            r"contract.yaml:4: .* has the same terms as this contract",
        ),
        (
            "workflow: refunds\nversion: '2'\n",
            "    percent: 101\n",
            r"contract.yaml:5: rollout.percent must be from 0 \(no run\) to 100 \(every run\), "
            r"got 101",
        ),
    ],
)
def test_bad_rollouts_are_load_errors_with_line_and_fix(
    tmp_path: Path, candidate: str | None, main_extra: str, expected: str
) -> None:
    if candidate is not None:
        (tmp_path / "candidate.yaml").write_text(candidate)
    percent = "" if main_extra else "    percent: 10\n"
    main = tmp_path / "contract.yaml"
    main.write_text(
        f"workflow: refunds\nversion: '1'\nrollout:\n    candidate: candidate.yaml\n"
        f"{percent}{main_extra}"
    )
    with pytest.raises(ConfigError, match=expected) as caught:
        load_contract(main)
    assert "Fix: " in str(caught.value)


def test_a_runner_refuses_a_rollout_whose_candidate_was_never_loaded(store: Store) -> None:
    terms = Contract.model_validate(
        {"workflow": "refunds", "rollout": {"candidate": "c.yaml", "percent": 5}}
    )
    with pytest.raises(ConfigError, match=r"candidate 'c.yaml' was never loaded. Fix: load"):
        Runner(store, workflow(terms))


# --- runs under a rollout --------------------------------------------------------------


async def test_each_run_uses_and_records_the_contract_its_bucket_picks(
    store: Store, tmp_path: Path
) -> None:
    # The candidate forbids the lookup, so its runs escalate where the baseline's resolve.
    _, terms = write_rollout(
        tmp_path,
        percent=50,
        candidate="forbidden_tools: [crm.lookup]\nescalation: {on_policy_violation: handoff}\n",
    )
    assert terms.rollout is not None
    candidate_hash = terms.rollout.contract.content_hash
    runner = Runner(store, workflow(terms))
    seen: set[bool] = set()
    for _ in range(60):  # both sides show up within 60 runs, but for 2 ** -59
        result = await runner.start({})
        canary = canary_bucket(result.run_id) < 5000
        record = await store.get_run(result.run_id)
        assert record is not None
        assert record.contract_hash == (candidate_hash if canary else terms.content_hash)
        assert result.state.contract_hash == record.contract_hash
        assert result.outcome == ("escalated" if canary else "resolved")
        seen.add(canary)
        if seen == {True, False}:
            break
    assert seen == {True, False}
    assert runner.canary() is runner.canary()  # its policy and the rest are built once
    assert runner.canary().policy is runner.canary().policy
    assert runner.for_contract(candidate_hash) is runner.canary()
    assert runner.for_contract(terms.content_hash) is runner
    assert runner.for_contract("0" * 64) is None
    stored = {v.content_hash: v.version for v in await store.contracts(workflow="refunds")}
    assert stored == {terms.content_hash: "1", candidate_hash: "2"}


async def test_a_candidate_run_resumes_under_the_candidate(store: Store, tmp_path: Path) -> None:
    _, terms = write_rollout(
        tmp_path,
        percent=100,
        candidate="approvals: [{tool: crm.lookup, reason: check the lookup}]\n",
    )
    started = await Runner(store, workflow(terms)).start({})
    assert started.status == "awaiting_approval"
    assert started.state.pending_approval is not None
    await decide_approval(store, started.state.pending_approval, approved=True, by="ann")

    # Another process: a fresh runner of the same workflow, at 0% now, still resumes it.
    _, later = write_rollout(
        tmp_path,
        percent=0,
        candidate="approvals: [{tool: crm.lookup, reason: check the lookup}]\n",
    )
    resumed = await Runner(store, workflow(later)).resume(started.run_id)
    assert resumed.outcome == "resolved"
    assert resumed.state.contract_hash == later.rollout.contract.content_hash  # type: ignore[union-attr]

    # Under a rollout to another candidate, neither hash is the workflow's: the run goes
    # on under the version the store keeps by the hash it started with.
    waiting = await Runner(store, workflow(terms)).start({})
    assert waiting.state.pending_approval is not None
    await decide_approval(store, waiting.state.pending_approval, approved=True, by="ann")
    _, moved_on = write_rollout(tmp_path, candidate="description: a third version\n")
    assert moved_on.rollout is not None
    later_run = await Runner(store, workflow(moved_on)).resume(waiting.run_id)
    assert later_run.outcome == "resolved"
    assert later_run.state.contract_hash == waiting.state.contract_hash


# --- status and promotion --------------------------------------------------------------


async def test_status_splits_runs_by_version(store: Store, tmp_path: Path) -> None:
    _, terms = write_rollout(tmp_path, percent=25)
    assert terms.rollout is not None
    await record_runs(store, terms, 6, tools=("crm.lookup",))
    await record_runs(store, terms.rollout.contract, 2, tools=("crm.lookup",))
    await record_runs(store, terms.rollout.contract, 1, outcome=None)
    other = Contract.model_validate({"workflow": "refunds", "version": "0"})
    await record_runs(store, other, 3)
    now = time.time()
    status = await rollout_status(store, "refunds", terms, since=now - DAY, until=now)
    assert (status.baseline.runs, status.candidate.runs, status.candidate.in_progress) == (6, 2, 1)
    assert status.other_runs == 3
    assert status.candidate_share == pytest.approx(3 / 9)
    assert status.drift is not None
    assert not status.drift.alerting


async def test_promotion_is_refused_with_the_reasons_while_drift_alerts(
    store: Store, tmp_path: Path
) -> None:
    main, terms = write_rollout(tmp_path)
    assert terms.rollout is not None
    await record_runs(store, terms, 20, tools=("crm.lookup",), cost=0.001)
    await record_runs(store, terms.rollout.contract, 5, tools=("crm.lookup",) * 3, cost=0.002)
    await record_runs(store, terms.rollout.contract, 5, outcome="escalated", cost=0.002)
    now = time.time()
    check = await check_promotion(store, "refunds", terms, since=now - DAY, until=now)

    assert not check.allowed
    text = "\n".join(check.reasons)
    assert "only 10 finished candidate run(s)" in text
    assert "drift alert (cost): cost per run (USD): $0.001000 -> $0.002000" in text
    assert "drift alert (escalation): escalation rate: 0.0% -> 50.0%" in text
    assert "drift alert (failure): resolved rate: 100.0% -> 50.0%" in text
    assert "drift alert (tool calls): mean tool calls per run" in text
    assert main.read_text().count("rollout") == 1  # nothing was rewritten


async def test_promotion_rewrites_the_contract_and_keeps_a_backup(
    store: Store, tmp_path: Path
) -> None:
    main, terms = write_rollout(tmp_path)
    assert terms.rollout is not None
    before = main.read_text()
    await record_runs(store, terms, 20, tools=("crm.lookup",), cost=0.001)
    await record_runs(store, terms.rollout.contract, 20, tools=("crm.lookup",), cost=0.001)
    now = time.time()
    check = await check_promotion(store, "refunds", terms, since=now - DAY, until=now)
    assert check.allowed, check.reasons

    done = promote_candidate(main, terms)
    assert done.backup.read_text() == before
    assert main.read_text() == (tmp_path / "candidate.yaml").read_text()
    promoted = load_contract(main)
    assert promoted.content_hash == terms.rollout.contract.content_hash
    assert promoted.rollout is None
    changes = {change.path: str(change) for change in done.diff.changes}
    assert changes["limits.max_tool_calls"] == "limits.max_tool_calls: 100 -> 9"
    assert changes["version"] == 'version: "1" -> "2"'
    assert "rollout" in changes
    runs = await store.list_runs(RunFilter(workflow="refunds", limit=100))
    assert len(runs) == 40
