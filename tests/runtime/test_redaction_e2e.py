"""What is redacted is what is recorded: planted values never reach the store or an export.

Personal data and secrets are planted in a run's input, in a tool's result and error, and
in the model's calls and answer. The model and the tools see them as they are; the store
file (and its write-ahead log), the approvals table and the CLI's output never do.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from proctor.cli import app
from proctor.errors import AccessDenied, ConfigError
from proctor.gateway import ToolMessage, Turn, UserMessage
from proctor.runtime import Runner, decide_approval
from proctor.store import (
    ApprovalRequested,
    Event,
    RunStarted,
    SQLiteStore,
    ToolFinished,
    ToolProposed,
    row_to_event,
    verify_run,
)
from support.planted import PLANTED, leaks, planted_text
from support.redacting import RECEIVED, RESULT, RUN_INPUT, Model


def stored_bytes(directory: Path) -> bytes:
    """The store file and its write-ahead log, as raw bytes."""
    return b"".join(path.read_bytes() for path in sorted(directory.glob("runs.db*")))


async def cli(*args: str) -> str:
    """``proctor ARGS`` in-process (on a thread: the CLI runs its own event loop)."""
    result = await asyncio.to_thread(CliRunner().invoke, app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


async def events(store: SQLiteStore, run_id: str) -> list[Event]:
    return [row_to_event(row) for row in await store.events(run_id)]


@pytest.fixture(autouse=True)
def _clear() -> None:
    RECEIVED.clear()


async def test_planted_values_reach_the_model_and_tools_but_never_the_record(
    tmp_path: Path,
) -> None:
    model = Model(
        [
            Turn(calls=[("crm.lookup", {"email": PLANTED["email"], "note": planted_text()})]),
            Turn(calls=[("crm.flaky", {"ssn": PLANTED["ssn"]})]),
            Turn(text="Done. " + planted_text()),
        ]
    )
    db = tmp_path / "runs.db"
    store = SQLiteStore(db)

    result = await Runner(store, model.workflow()).start(RUN_INPUT)

    # The live run worked with the real values: tools, model and the result itself.
    assert result.outcome == "resolved"
    assert result.final_text == "Done. " + planted_text()
    assert RECEIVED == [{"email": PLANTED["email"], "note": planted_text()}]
    last = model.seen[-1]
    assert isinstance(last[1], UserMessage)
    assert json.loads(last[1].content) == RUN_INPUT
    results = [json.loads(m.content) for m in last if isinstance(m, ToolMessage)]
    assert results[0] == RESULT
    assert PLANTED["ssn"] in results[1]["error"]

    # The record holds placeholders instead, and its chain verifies.
    assert (await verify_run(store, result.run_id)).ok
    recorded = await events(store, result.run_id)
    started = recorded[0].data
    assert isinstance(started, RunStarted)
    assert started.input["customer"] == {
        key: f"[{key}:redacted]" for key in ("email", "phone", "card", "iban", "ssn")
    }
    assert started.input["notes"] == "[dropped]"  # it holds secrets, so all of it goes
    proposed = [e.data for e in recorded if isinstance(e.data, ToolProposed)]
    assert proposed[0].arguments == {"email": "[email:redacted]", "note": "[dropped]"}
    failed = [e.data for e in recorded if isinstance(e.data, ToolFinished) and not e.data.ok]
    assert failed[0].error == "[dropped]"
    assert not leaks(stored_bytes(tmp_path))
    await store.close()
    assert not leaks(stored_bytes(tmp_path))  # after the checkpoint, too

    exported = await cli("--db", str(db), "trace", result.run_id, "--json")
    assert "[email:redacted]" in exported
    assert not leaks(exported.encode())
    for command in (["trace", result.run_id], ["runs", "--json"], ["approvals", "--all"]):
        assert not leaks((await cli("--db", str(db), *command)).encode())
    for kind in ("json", "html"):  # the audit receipts a reviewer is handed
        receipt = tmp_path / f"receipt.{kind}"
        await cli(
            "--db", str(db), "audit", "export", result.run_id, "--format", kind, "-o", str(receipt)
        )
        assert "[email:redacted]" in receipt.read_text()
        assert not leaks(receipt.read_bytes())
    assert "1 chain(s) verified" in await cli("--db", str(db), "audit", "verify")


async def test_an_approved_call_runs_after_a_resume_with_its_raw_values(tmp_path: Path) -> None:
    model = Model(
        [
            Turn(calls=[("billing.refund", {"iban": PLANTED["iban"], "amount": 10})]),
            Turn(text="Refunded."),
        ]
    )
    workflow = model.workflow(approvals=[{"tool": "billing.refund", "reason": "refunds"}])
    store = SQLiteStore(tmp_path / "runs.db")

    waiting = await Runner(store, workflow).start({"account": PLANTED["iban"]})

    assert waiting.status == "awaiting_approval"
    (pending,) = await store.list_approvals()
    assert pending.arguments == {"iban": "[iban:redacted]", "amount": 10}
    decided = await decide_approval(
        store,
        pending.approval_id,
        approved=True,
        by="alice",
        reason=f"confirmed with {PLANTED['email']}",
    )
    assert decided.decision_reason == "confirmed with [email:redacted]"

    resumed = await Runner(store, workflow).resume(waiting.run_id)

    # The record keeps the raw values sealed: the resumed run pays the real account, and
    # the model is shown the conversation it had, while the record shows placeholders.
    assert resumed.outcome == "resolved"
    assert RECEIVED == [{"iban": PLANTED["iban"], "amount": 10}]
    assert PLANTED["iban"] in str(model.seen[-1][2])
    recorded = await events(store, waiting.run_id)
    finished = [e.data for e in recorded if isinstance(e.data, ToolFinished)]
    assert [f.ok for f in finished] == [True]
    requested = [e.data for e in recorded if isinstance(e.data, ApprovalRequested)]
    assert requested[0].arguments == {"iban": "[iban:redacted]", "amount": 10}
    assert (await verify_run(store, waiting.run_id)).ok
    await store.close()
    assert not leaks(stored_bytes(tmp_path))


async def test_hashed_values_correlate_across_events(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROCTOR_REDACTION_SALT", "a-long-random-test-salt")
    model = Model(
        [
            Turn(calls=[("crm.lookup", {"email": PLANTED["email"].upper(), "note": "-"})]),
            Turn(text="ok"),
        ]
    )
    workflow = model.workflow(redaction={"detectors": {"email": "hash", "secret": "mask"}})
    store = SQLiteStore(tmp_path / "runs.db")

    result = await Runner(store, workflow).start({"email": PLANTED["email"]})

    recorded = await events(store, result.run_id)
    started = recorded[0].data
    (proposed,) = [e.data for e in recorded if isinstance(e.data, ToolProposed)]
    assert isinstance(started, RunStarted)
    placeholder = started.input["email"]
    assert re.fullmatch(r"\[email:sha256:[0-9a-f]{12}\]", placeholder)
    assert proposed.arguments["email"] == placeholder  # the same address, upper-cased
    await store.close()
    assert not leaks(stored_bytes(tmp_path))


async def test_a_contract_that_hashes_needs_its_salt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PROCTOR_REDACTION_SALT", raising=False)
    workflow = Model([]).workflow(redaction={"detectors": {"email": "hash"}})
    store = SQLiteStore(tmp_path / "runs.db")

    with pytest.raises(ConfigError, match=r"PROCTOR_REDACTION_SALT is not set"):
        Runner(store, workflow)
    await store.close()


async def test_redaction_can_be_turned_off(tmp_path: Path) -> None:
    # Also shows that the byte scan above would see every planted value if it were stored.
    model = Model([Turn(text=PLANTED["email"])])
    store = SQLiteStore(tmp_path / "runs.db")

    result = await Runner(store, model.workflow(redaction={"enabled": False})).start(RUN_INPUT)

    recorded = await events(store, result.run_id)
    assert PLANTED["email"] in str(recorded[-1].data)
    await store.close()
    found = {leak.split(":")[0] for leak in leaks(stored_bytes(tmp_path))}
    assert found == set(PLANTED)


async def test_an_approver_named_by_address_is_a_pseudonym_and_duties_still_separate(
    tmp_path: Path,
) -> None:
    model = Model(
        [
            Turn(calls=[("billing.refund", {"iban": PLANTED["iban"], "amount": 10})]),
            Turn(text="Refunded."),
        ]
    )
    workflow = model.workflow(approvals=[{"tool": "billing.refund", "reason": "refunds"}])
    store = SQLiteStore(tmp_path / "runs.db")
    runner = Runner(store, workflow)
    starter = PLANTED["email"]

    waiting = await runner.start({"n": 1}, started_by=f"cli:{starter}")
    (pending,) = await store.list_approvals()

    # The record names the starter by pseudonym, and the starter still may not approve,
    # under any spelling.
    record = await store.get_run(waiting.run_id)
    assert record is not None
    assert record.started_by.startswith("[email:sha256:")
    with pytest.raises(AccessDenied, match="separation of duties"):
        await decide_approval(
            store, pending.approval_id, approved=True, by=starter.upper(), redactor=runner.redactor
        )
    decided = await decide_approval(
        store, pending.approval_id, approved=True, by="ops@example.org", redactor=runner.redactor
    )
    assert decided.decided_by is not None
    assert decided.decided_by.startswith("[email:sha256:")
    assert decided.decided_by != record.started_by
    resumed = await runner.resume(waiting.run_id)
    assert resumed.outcome == "resolved"
    assert (await verify_run(store, waiting.run_id)).ok
    await store.close()
    assert not leaks(stored_bytes(tmp_path))
    assert b"ops@example.org" not in stored_bytes(tmp_path)
