"""Sealed payloads: what redaction replaces is kept encrypted under the run's own data key,
beside the projection; every backend keeps the keys, and retention destroys them."""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest

from proctor.errors import StoreError
from proctor.store import (
    EvidenceKeys,
    Purged,
    QueueItem,
    RunFinished,
    RunJournal,
    RunRecord,
    RunStarted,
    SealError,
    Store,
    ToolFinished,
    Totals,
    is_sealed_input,
    new_run_key,
    open_events,
    open_run_key,
    row_to_event,
    sealed_problem,
    verify_rows,
)

KEYS = EvidenceKeys.build(secret=b"s" * 32, signer=None)
EMAIL = re.compile(r"[\w.]+@[\w.]+")


def hide(content: dict[str, Any]) -> dict[str, Any]:
    """A redactor for the test: every e-mail address becomes a placeholder."""
    text = orjson.dumps(content).decode()
    if "@" not in text:
        return content
    hidden: dict[str, Any] = orjson.loads(EMAIL.sub("[email:redacted]", text))
    return hidden


async def sealed_run(store: Store, run_id: str = "run-1") -> list[Any]:
    key = new_run_key(KEYS, run_id)
    journal = RunJournal(
        store,
        run_id=run_id,
        trace_id="t" * 32,
        root_span_id="root",
        redact=hide,
        keys=KEYS,
        run_key=key,
    )
    started = RunStarted(
        workflow="w",
        model="m",
        contract_name="w",
        contract_version="1",
        contract_hash="h",
        input={"to": "a@b.example"},
    )
    row, _ = journal.build(started)
    journal.authenticate([row])
    record = RunRecord(
        run_id=run_id,
        workflow="w",
        model="m",
        contract_name="w",
        contract_hash="h",
        trace_id="t" * 32,
        started_at=row.ts,
        last_seq=0,
        head_hash=row.hash,
        started_by="cli",
    )
    await store.create_run(record, row, run_key=key.wrapped)
    finished = ToolFinished(
        call_id="c1", tool="crm", ok=True, result="mail x@y.example", latency_ms=1
    )
    await journal.append([finished], run=record)
    return await store.events(run_id)


async def test_the_record_shows_the_projection_and_the_run_opens_the_raw_values(
    store: Store,
) -> None:
    rows = await sealed_run(store)

    shown = [row_to_event(row).data for row in rows]
    assert isinstance(shown[0], RunStarted)
    assert shown[0].input == {"to": "[email:redacted]"}
    assert all(row.sealed for row in rows)
    assert b"a@b.example" not in repr(rows).encode()
    wrapped = await store.run_key("run-1")
    assert wrapped is not None
    opened = open_events(rows, open_run_key(KEYS, "run-1", wrapped))
    assert isinstance(opened[0].data, RunStarted)
    assert opened[0].data.input == {"to": "a@b.example"}
    assert isinstance(opened[1].data, ToolFinished)
    assert opened[1].data.result == "mail x@y.example"
    assert verify_rows("run-1", rows, await store.get_run("run-1"), KEYS).ok
    assert sealed_problem(KEYS, "run-1", rows, wrapped) is None


async def test_a_blob_moved_or_a_key_from_another_run_does_not_open(store: Store) -> None:
    rows = await sealed_run(store)
    other = await sealed_run(store, "run-2")
    wrapped = await store.run_key("run-1")
    assert wrapped is not None
    key = open_run_key(KEYS, "run-1", wrapped)

    rows[0].sealed, rows[1].sealed = rows[1].sealed, rows[0].sealed
    with pytest.raises(SealError, match="altered or moved"):
        open_events(rows, key)
    problem = sealed_problem(KEYS, "run-1", rows, wrapped)
    assert problem is not None
    assert problem[0] == 0
    assert "altered or moved" in problem[1]
    with pytest.raises(SealError, match="belongs to another run"):
        open_run_key(KEYS, "run-1", (await store.run_key("run-2")) or "")
    with pytest.raises(SealError, match="not hold"):
        open_run_key(EvidenceKeys.build(secret=b"t" * 32, signer=None), "run-1", wrapped)
    assert other[0].sealed


async def test_a_retired_store_secret_still_opens_its_runs(store: Store) -> None:
    await sealed_run(store)
    wrapped = await store.run_key("run-1")
    assert wrapped is not None
    rotated = EvidenceKeys.build(secret=b"n" * 32, retired=[b"s" * 32], signer=None)

    rows = await store.events("run-1")
    opened = open_events(rows, open_run_key(rotated, "run-1", wrapped))

    assert isinstance(opened[0].data, RunStarted)
    assert opened[0].data.input["to"] == "a@b.example"
    assert new_run_key(rotated, "run-9").wrapped.split(".")[0] != wrapped.split(".")[0]


async def test_a_run_key_is_kept_once(store: Store) -> None:
    first = new_run_key(KEYS, "run-1")
    second = new_run_key(KEYS, "run-1")

    assert await store.save_run_key("run-1", first.wrapped, at=1.0) == first.wrapped
    assert await store.save_run_key("run-1", second.wrapped, at=2.0) == first.wrapped
    assert await store.run_key("run-1") == first.wrapped
    assert await store.run_key("run-2") is None


async def test_queued_input_is_sealed_with_its_key(store: Store) -> None:
    key = new_run_key(KEYS, "run-q")
    item = QueueItem(
        run_id="run-q", workflow="w", input=key.seal_input({"to": "a@b.example"}, "cli:al")
    )

    await store.enqueue(item, run_key=key.wrapped)

    [queued] = await store.queue_items(run_ids=["run-q"])
    assert is_sealed_input(queued.input)
    assert "a@b.example" not in repr(queued)
    wrapped = await store.run_key("run-q")
    assert wrapped == key.wrapped
    assert open_run_key(KEYS, "run-q", wrapped).open_input(queued.input) == (
        {"to": "a@b.example"},
        "cli:al",
    )
    with pytest.raises(StoreError, match="queued already"):
        await store.enqueue(item, run_key=key.wrapped)


async def test_a_purge_destroys_the_key_and_the_chain_still_verifies(store: Store) -> None:
    await sealed_run(store)
    key = new_run_key(KEYS, "run-1")
    await store.enqueue(
        QueueItem(run_id="run-1", workflow="w", input=key.seal_input({"x": 1}, "al"))
    )
    record = await store.get_run("run-1")
    assert record is not None
    record.status, record.outcome, record.finished_at = "finished", "resolved", 5.0
    await _finish(store, record)
    journal = RunJournal.resume(store, await store.events("run-1"), keys=KEYS)
    journal.seal([Purged(events=2, bytes=100, reason="retention")])
    purged = journal.close()
    record.last_seq, record.head_hash = journal.last_seq, journal.head_hash

    await store.purge_payloads("run-1", at=10.0, reason="retention", record=purged, run=record)

    rows = await store.events("run-1")
    assert await store.run_key("run-1") is None
    assert [row.sealed for row in rows] == ["-", "-", "", ""]  # the end held nothing to seal
    [queued] = await store.queue_items(run_ids=["run-1"])
    assert queued.input == {}
    # The events are still marked sealed, so the chain still verifies.
    assert verify_rows("run-1", rows, await store.get_run("run-1"), KEYS).ok
    with pytest.raises(SealError, match="destroyed by retention"):
        open_events(rows, None)


async def _finish(store: Store, record: RunRecord) -> None:
    rows = await store.events(record.run_id)
    journal = RunJournal.resume(store, rows, keys=KEYS)
    await journal.append(
        [RunFinished(outcome="resolved", reason="done", totals=Totals())], run=record
    )
