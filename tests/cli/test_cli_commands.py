"""The ``proctor`` command end to end: the installed console script, run as a subprocess.

``proctor demo`` runs once per module; each test that needs its runs gets a private
copy of that Proctor home, so approving or tampering in one test cannot leak into
another. Independent read-only commands run side by side to keep the file fast.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from collections import Counter
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pytest
from cli_harness import Ran, cli_env, one_line_error, proctor, proctor_all

from proctor.examples import invoice
from proctor.store import LimitReached, RunStarted, open_store, row_to_event
from support.seed_contract import SEED_CONTRACT

pytestmark = pytest.mark.slow

EXPECTED_STATUSES = [
    "resolved",
    "awaiting_approval",
    "escalated",
    "escalated",
    "escalated",
    "escalated",
]


# Three problems, on lines 2 (unknown tool), 3 (misspelt key) and 7 (CEL syntax error).
BROKEN_CONTRACT = """\
workflow: invoice_reconciliation
forbidden_tools: [wire_transfer.create, erp.nuke_everything]
required_stepz: [erp.lookup_vendor]
approvals:
  - tool: erp.create_payment
    reason: Payments over 10,000 need a human approver.
    when: "args.amount >"
"""


@dataclass(frozen=True)
class Demo:
    """The output of one ``proctor demo`` and the runs it made, in scenario order."""

    ran: Ran
    home: Path
    runs: list[tuple[str, str]]  # (run id, status or outcome)
    approval_id: str

    @property
    def clean(self) -> str:
        return self.runs[0][0]

    @property
    def over_threshold(self) -> str:
        return self.runs[1][0]

    @property
    def injected(self) -> str:
        return self.runs[2][0]


@pytest.fixture(scope="module")
def demo_once(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    home = tmp_path_factory.mktemp("demo") / "proctor-home"
    ran = proctor("demo", env=cli_env(home))
    runs = re.findall(r"^\s+run (run_[0-9a-f]{16})\s+(\w+)\s*$", ran.out, re.MULTILINE)
    approval = re.search(r"proctor approve (ap_[0-9a-f]+) --as alice", ran.out)
    return Demo(ran=ran, home=home, runs=runs, approval_id=approval.group(1) if approval else "")


@pytest.fixture
def demo(demo_once: Demo, proctor_home: Path) -> Demo:
    """This test's own copy of the demo's home (PROCTOR_HOME already points at it)."""
    assert demo_once.ran.code == 0, str(demo_once.ran)
    shutil.copytree(demo_once.home, proctor_home)
    return Demo(
        ran=demo_once.ran, home=proctor_home, runs=demo_once.runs, approval_id=demo_once.approval_id
    )


@pytest.fixture
def env(proctor_home: Path) -> dict[str, str]:
    return cli_env(proctor_home)


def _sample_file(tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(invoice.sample_input(name)))
    return path


# --- proctor demo ----------------------------------------------------------------------


def test_demo_runs_every_scenario_and_pays_only_the_clean_invoice(demo: Demo) -> None:
    out = demo.ran.out
    assert demo.ran.err == ""
    for number, scenario in enumerate(invoice.DEMO_SCENARIOS, start=1):
        assert f"{number}. {scenario.title}" in out
    assert [status for _, status in demo.runs] == EXPECTED_STATUSES
    assert [s.expected for s in invoice.DEMO_SCENARIOS] == EXPECTED_STATUSES
    assert len({run_id for run_id, _ in demo.runs}) == 6
    assert demo.approval_id.startswith("ap_")
    look_deeper = out[out.index("Look deeper:") :]
    for command in (
        "proctor runs",
        f"proctor trace {demo.clean}",
        "proctor approvals",
        f"proctor approve {demo.approval_id} --as alice",
        "proctor audit verify",
    ):
        assert command in look_deeper
    assert "Traceback" not in out

    payments = invoice.list_payments()
    assert len(payments) == 1
    assert payments[0]["idempotency_key"].startswith(f"{demo.clean}:")
    assert payments[0]["invoice_number"] == "INV-2026-0042"
    assert invoice.list_wire_transfers() == []


# --- runs, trace, approvals ---------------------------------------------------------------


def test_runs_lists_every_demo_run_and_filters(demo: Demo, env: dict[str, str]) -> None:
    every, escalated, waiting, nothing = proctor_all(
        [
            ["runs", "--json"],
            ["runs", "--json", "--outcome", "escalated"],
            ["runs", "--json", "--status", "awaiting_approval"],
            ["runs", "--json", "--workflow", "nope"],
        ],
        env=env,
    )
    for ran in (every, escalated, waiting, nothing):
        assert ran.code == 0, str(ran)
    runs = every.json()["runs"]
    assert {r["run_id"] for r in runs} == {run_id for run_id, _ in demo.runs}
    assert Counter(r["outcome"] or r["status"] for r in runs) == Counter(EXPECTED_STATUSES)
    assert all(r["workflow"] == "invoice_reconciliation" for r in runs)

    assert len(escalated.json()["runs"]) == 4
    assert {r["outcome"] for r in escalated.json()["runs"]} == {"escalated"}
    [waits] = waiting.json()["runs"]
    assert (waits["run_id"], waits["pending_approval"]) == (demo.over_threshold, demo.approval_id)
    assert waits["started_at"].endswith("Z")  # ISO times, as the HTTP API writes them
    assert nothing.json() == {"runs": []}


def test_trace_shows_the_clean_runs_whole_log(demo: Demo, env: dict[str, str]) -> None:
    as_json, as_text = proctor_all(
        [["trace", demo.clean, "--json"], ["trace", demo.clean]], env=env
    )
    assert as_json.code == 0, str(as_json)
    traced = as_json.json()
    assert (traced["run"]["run_id"], traced["run"]["outcome"]) == (demo.clean, "resolved")
    events = traced["events"]
    assert [e["seq"] for e in events] == list(range(len(events)))
    assert events[0]["type"] == "run_started"
    assert events[-1]["type"] == "run_finished"
    assert events[-1]["meta"]["outcome"] == "resolved"
    assert len({e["hash"] for e in events}) == len(events)
    types = Counter(e["type"] for e in events)
    assert types["policy_decided"] == types["tool_started"] == types["tool_finished"] == 5

    assert as_text.code == 0, str(as_text)
    assert demo.clean in as_text.out
    assert "policy allow" in as_text.out
    models = re.findall(r"\bmodel (\S+) +turn \d+", as_text.out)
    assert models == ["scripted:procedure"] * types["model_called"]
    assert "erp.create_payment" in as_text.out


def test_approve_resumes_the_run_and_pays_once(demo: Demo, env: dict[str, str]) -> None:
    listed = proctor("approvals", "--json", env=env)
    assert listed.code == 0, str(listed)
    [pending] = listed.json()["approvals"]
    assert pending["approval_id"] == demo.approval_id
    assert pending["run_id"] == demo.over_threshold
    assert pending["tool"] == "erp.create_payment"
    assert pending["status"] == "pending"
    assert pending["arguments"] == {
        "vendor_id": "V-1002",
        "po_number": "PO-4712",
        "invoice_number": "INV-NW-88231",
        "amount": 24500.0,
        "currency": "EUR",
    }

    approved = proctor("approve", demo.approval_id, "--as", "alice", "--reason", "ok", env=env)
    assert approved.code == 0, str(approved)
    assert f"erp.create_payment in run {demo.over_threshold} approved by alice" in approved.out
    assert f"run {demo.over_threshold}: resolved" in approved.out
    payments = [
        p
        for p in invoice.list_payments()
        if p["idempotency_key"].startswith(f"{demo.over_threshold}:")
    ]
    assert [(p["vendor_id"], p["amount"]) for p in payments] == [("V-1002", 24500.0)]

    again, decided, one = proctor_all(
        [
            ["approve", demo.approval_id, "--as", "alice", "--reason", "ok"],
            ["approvals", "--all", "--json"],
            ["approvals", "--all", "--limit", "1"],
        ],
        env=env,
    )
    assert one.code == 0, str(one)
    assert "1 of 2 approvals, oldest request first (--limit for more)" in one.out
    assert "already approved" in one_line_error(again, 1)
    assert again.out == ""
    records = {r["approval_id"]: r for r in decided.json()["approvals"]}
    record = records.pop(demo.approval_id)
    assert (record["status"], record["decided_by"]) == ("approved", "alice")
    # The other one: the risky payment the checker model denied, no person involved.
    [checked] = records.values()
    assert (checked["status"], checked["decided_by"]) == ("denied", "checker:scripted:checker")
    assert invoice.payments_count() == 2  # the clean run's and this one, nothing more


def test_deny_escalates_and_pays_nothing(tmp_path: Path, env: dict[str, str]) -> None:
    over_threshold = str(_sample_file(tmp_path, "over_threshold"))
    started, no_reason = proctor_all(
        [
            [
                *("run", "invoice_reconciliation", "--input", over_threshold),
                *("--model", "scripted:procedure", "--json"),
            ],
            ["deny", "ap_000000000000", "--as", "bob"],  # refused before any lookup
        ],
        env=env,
    )
    assert "--reason" in one_line_error(no_reason, 2)
    assert started.code == 10, str(started)  # awaiting approval
    result = started.json()
    assert (result["status"], result["outcome"]) == ("awaiting_approval", None)
    approval = result["pending_approval"]
    assert approval.startswith("ap_")

    denied = proctor("deny", approval, "--as", "bob", "--reason", "not on contract", env=env)
    assert denied.code == 0, str(denied)
    assert "denied by bob" in denied.out
    assert f"run {result['run_id']}: escalated" in denied.out
    assert invoice.payments_count() == 0


# --- proctor run: input, workflow and model errors; --contract; --json ---------------------


def test_run_reports_each_bad_input_in_one_line(tmp_path: Path, env: dict[str, str]) -> None:
    clean = str(_sample_file(tmp_path, "clean"))
    not_json = tmp_path / "broken.json"
    not_json.write_text('{"invoice_text": ')
    a_list = tmp_path / "list.json"
    a_list.write_text("[1, 2]")
    missing, invalid, listed, unknown, markup, model, debug = proctor_all(
        [
            ["run", "invoice_reconciliation", "--input", str(tmp_path / "absent.json")],
            ["run", "invoice_reconciliation", "--input", str(not_json)],
            ["run", "invoice_reconciliation", "--input", str(a_list)],
            ["run", "nope", "--input", clean],
            ["run", "[/bold]", "--input", clean],
            ["run", "invoice_reconciliation", "--input", clean, "--model", "scripted:zzz"],
            ["--debug", "run", "nope", "--input", clean],
        ],
        env=env,
    )
    assert "absent.json does not exist" in one_line_error(missing, 2)
    assert "is not valid JSON" in one_line_error(invalid, 2)
    assert "must hold a JSON object" in one_line_error(listed, 2)
    line = one_line_error(unknown, 1)
    assert "no workflow named 'nope'" in line
    assert "invoice_reconciliation" in line
    # A bracket in an argument is shown as typed, not read as console markup.
    assert "no workflow named '[/bold]'" in one_line_error(markup, 1)
    line = one_line_error(model, 2)
    assert "no scripted model 'zzz'" in line
    assert "scripted:procedure" in line
    for ran in (missing, invalid, listed, unknown, markup, model):
        assert ran.out == "", str(ran)

    assert debug.code == 1, str(debug)
    assert "Traceback (most recent call last)" in debug.err
    assert "UnknownWorkflow: no workflow named 'nope'" in debug.err


async def test_run_under_a_contract_override_and_as_json(
    tmp_path: Path, env: dict[str, str]
) -> None:
    with resources.as_file(
        resources.files("proctor.examples.invoice").joinpath("contract.yaml")
    ) as shipped:
        text = shipped.read_text()
    assert text.count("max_tool_calls: 6") == 1
    tight = tmp_path / "tight.yaml"
    tight.write_text(text.replace("max_tool_calls: 6", "max_tool_calls: 2"))

    ran = proctor(
        "run",
        "invoice_reconciliation",
        "--input",
        str(_sample_file(tmp_path, "clean")),
        "--contract",
        str(tight),
        "--json",
        env=env,
    )
    assert ran.code == 3, str(ran)  # escalated
    result = ran.json()
    assert set(result) == {"run_id", "status", "outcome", "final_text", "pending_approval"}
    assert (result["status"], result["outcome"]) == ("finished", "escalated")
    assert result["pending_approval"] is None

    store = open_store()
    try:
        events = [row_to_event(row) for row in await store.events(result["run_id"])]
    finally:
        await store.close()
    started = events[0].data
    assert isinstance(started, RunStarted)
    assert started.contract_hash != invoice.contract().content_hash
    [limit] = [e.data for e in events if isinstance(e.data, LimitReached)]
    assert "max_tool_calls" in limit.rule
    assert limit.ceiling == 2
    assert invoice.payments_count() == 0


# --- resume -----------------------------------------------------------------------------


def test_resume_refuses_finished_runs_and_needs_a_target(demo: Demo, env: dict[str, str]) -> None:
    finished, nothing, unknown = proctor_all(
        [["resume", demo.clean], ["resume"], ["resume", "run_0000000000000000"]], env=env
    )
    line = one_line_error(finished, 1)
    assert "already finished" in line
    assert demo.clean in line
    assert "--all" in one_line_error(nothing, 2)
    assert "no run 'run_0000000000000000'" in one_line_error(unknown, 1)


# --- contract check -----------------------------------------------------------------------


def test_contract_check_accepts_good_contracts_and_locates_problems(
    tmp_path: Path, env: dict[str, str]
) -> None:
    seed = tmp_path / "seed-contract.yaml"
    seed.write_text(SEED_CONTRACT)
    broken = tmp_path / "broken.yaml"
    broken.write_text(BROKEN_CONTRACT)
    with resources.as_file(
        resources.files("proctor.examples.invoice").joinpath("contract.yaml")
    ) as shipped:
        example, article, bad = proctor_all(
            [
                ["contract", "check", str(shipped)],
                ["contract", "check", str(seed)],
                ["contract", "check", str(broken)],
            ],
            env=env,
        )
    assert example.code == 0, str(example)
    assert "is a valid contract" in example.out
    assert article.code == 0, str(article)
    assert "is a valid contract" in article.out

    assert bad.code == 1, str(bad)
    assert "Traceback" not in bad.out + bad.err
    problems = [line for line in bad.out.splitlines() if line.startswith("✗ ")]
    assert len(problems) == 3, str(bad)
    by_line = {
        int(match.group(1)): line
        for line in problems
        if (match := re.match(rf"✗ {re.escape(str(broken))}:(\d+): ", line))
    }
    assert sorted(by_line) == [2, 3, 7], str(bad)
    assert "erp.nuke_everything" in by_line[2]
    assert "required_stepz" in by_line[3]
    assert "required_steps" in by_line[3]  # the suggested fix
    assert "args.amount >" in by_line[7]


# --- audit verify -------------------------------------------------------------------------


def test_audit_verify_names_the_tampered_run_and_event(demo: Demo, env: dict[str, str]) -> None:
    intact = proctor("audit", "verify", env=env)
    assert intact.code == 0, str(intact)
    assert "6 chain(s) verified" in intact.out

    with sqlite3.connect(demo.home / "proctor.db") as db:
        seq, content = db.execute(
            "SELECT seq, content FROM events WHERE run_id = ? AND type = 'tool_finished' "
            "ORDER BY seq DESC LIMIT 1",
            (demo.clean,),
        ).fetchone()
        payload = json.loads(content)
        assert payload["result"]["amount"] == 4180.0
        payload["result"]["amount"] = 41800.0
        db.execute(
            "UPDATE events SET content = ? WHERE run_id = ? AND seq = ?",
            (json.dumps(payload), demo.clean, seq),
        )
    db.close()

    every, that_run, other_run = proctor_all(
        [
            ["audit", "verify"],
            ["audit", "verify", demo.clean],
            ["audit", "verify", demo.injected],
        ],
        env=env,
    )
    for ran in (every, that_run):
        assert ran.code == 1, str(ran)
        assert "Traceback" not in ran.out + ran.err
        [complaint] = [line for line in ran.out.splitlines() if line.startswith("✗ ")]
        assert complaint.startswith(f"✗ {demo.clean}: event {seq} (tool_finished) was edited")
    assert "1 of 6 chain(s) broken" in every.out
    assert other_run.code == 0, str(other_run)
    assert "1 chain(s) verified" in other_run.out


def test_contract_check_refuses_a_checker_that_is_the_agent_itself(
    tmp_path: Path, env: dict[str, str]
) -> None:
    with resources.as_file(
        resources.files("proctor.examples.invoice").joinpath("contract.yaml")
    ) as shipped:
        text = shipped.read_text()
    instructions = json.dumps(invoice.INSTRUCTIONS)
    selfish = tmp_path / "selfish.yaml"
    selfish.write_text(
        text.replace(
            "  model: scripted:checker\n",
            f"  model: scripted:procedure\n  instructions: {instructions}\n",
        )
    )

    ran = proctor("contract", "check", str(selfish), env=env)

    assert ran.code == 1, str(ran)
    assert "would approve its own calls" in ran.out
    assert "Traceback" not in ran.out + ran.err
