"""Each model turn's context, rebuilt from the log: compared with what a scripted model was
actually sent, turn by turn, for a run with tool calls, a compacted run, and a run whose
input held personal data (the log, and so the rebuilt context, holds placeholders); and
checked against the digest the runtime recorded with each turn."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from proctor.gateway import AssistantMessage, Message, SystemMessage, ToolMessage, UserMessage
from proctor.runtime import ContextMessage, RunContexts, build_contexts
from proctor.store import EventRow, SQLiteStore, load_signing_key
from support.context_runs import DOC, EMAIL, Clerk, Reader, clerk_runner, reader_runner


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    store = SQLiteStore(tmp_path / "runs.db")
    yield store
    await store.close()


def _as_sent(message: ContextMessage) -> Message:
    """A rebuilt message in the gateway's type, to compare with what the model got."""
    if message.role == "system":
        return SystemMessage(content=message.text or "")
    if message.role == "user":
        return UserMessage(content=message.text or "")
    if message.role == "assistant":
        return AssistantMessage(text=message.text, tool_calls=message.tool_calls)
    return ToolMessage(
        call_id=message.call_id or "", name=message.name or "", content=message.text or ""
    )


def _sent(found: RunContexts) -> list[list[Message]]:
    return [[_as_sent(m) for m in found.context_of(turn)] for turn in found.turns]


async def _rows(db: SQLiteStore, run_id: str) -> list[EventRow]:
    return await db.events(run_id)


async def test_every_turn_shows_what_the_model_was_sent_with_its_tool_calls(
    db: SQLiteStore,
) -> None:
    reader = Reader()
    result = await reader_runner(db, reader).start({"q": 1})
    found = build_contexts(await _rows(db, result.run_id), key=load_signing_key())
    assert [t.turn for t in found.turns] == [1, 2, 3, 4]
    assert _sent(found) == reader.seen
    # The digest the runtime recorded with each turn agrees: these are the messages sent.
    assert [t.as_sent for t in found.turns] == [True] * 4
    first, last = found.turns[0], found.turns[-1]
    assert [m.kind for m in found.context_of(first)] == ["instructions", "input"]
    assert [m.kind for m in found.context_of(last)] == [
        "instructions",
        "input",
        *["assistant", "result"] * 3,
    ]
    # Each turn's reply: the call it proposed, then the answer; tokens as recorded.
    assert found.messages[first.answer].tool_calls[0].name == "docs.fetch"
    assert found.messages[last.answer].text == "done"
    assert all(t.usage.input_tokens > 0 and t.usage.output_tokens > 0 for t in found.turns)
    assert last.tokens == sum(m.tokens for m in found.context_of(last)) > first.tokens
    # Shared messages are kept once: the instructions of four turns are one message.
    assert len(found.messages) == 2 + 2 * 3 + 1
    results = [m for m in found.context_of(last) if m.kind == "result"]
    assert [m.name for m in results] == ["docs.fetch"] * 3
    assert results[0].text == json.dumps(f"a: {DOC}", separators=(",", ":"))


async def test_a_compacted_run_shows_the_context_the_model_actually_saw(db: SQLiteStore) -> None:
    reader = Reader()
    result = await reader_runner(db, reader, context_tokens=600).start({})
    found = build_contexts(await _rows(db, result.run_id), key=load_signing_key())
    assert _sent(found) == reader.seen
    assert all(t.as_sent for t in found.turns)
    compacted = [t for t in found.turns if t.compactions]
    assert compacted, "the run was meant to compact"
    turn = compacted[-1]
    kinds = [m.kind for m in found.context_of(turn)]
    assert "summary" in kinds  # older turns replaced by their summary...
    summary = next(m for m in found.context_of(turn) if m.kind == "summary")
    assert "lorem ipsum" in (summary.text or "")
    assert summary.seq == turn.compactions[-1].seq
    # ...so the turn saw fewer tokens than the full history would have held.
    full = sum(m.tokens for m in found.messages if m.kind in ("assistant", "result"))
    assert turn.tokens < full
    assert turn.compactions[-1].tokens_after < turn.compactions[-1].tokens_before


async def test_a_shortened_result_is_the_reference_the_model_saw(db: SQLiteStore) -> None:
    reader = Reader()
    result = await reader_runner(db, reader, context_tokens=1400).start({})
    found = build_contexts(await _rows(db, result.run_id), key=load_signing_key())
    assert _sent(found) == reader.seen
    assert all(t.as_sent for t in found.turns)
    shortened = [m for m in found.messages if m.kind == "shortened"]
    assert shortened
    assert json.loads(shortened[0].text or "")["ref"] == shortened[0].call_id
    assert shortened[0].tokens < 200


async def test_personal_data_shows_as_the_placeholders_the_log_holds(db: SQLiteStore) -> None:
    clerk = Clerk()
    result = await clerk_runner(db, clerk).start({"email": EMAIL})
    rows = await _rows(db, result.run_id)
    found = build_contexts(rows, key=load_signing_key())
    # The model was sent the address (redaction changes the record, not the run)...
    sent_input = clerk.seen[1][1]
    assert isinstance(sent_input, UserMessage)
    assert EMAIL in sent_input.content
    # ...the rebuilt context has the same messages, with placeholders in their place.
    assert [[type(m) for m in sent] for sent in _sent(found)] == [
        [type(m) for m in sent] for sent in clerk.seen
    ]
    everything = json.dumps([[m.text, str(m.tool_calls)] for m in found.messages])
    assert EMAIL not in everything
    assert "[email:" in (found.context_of(found.turns[0])[1].text or "")
    call = found.messages[found.turns[0].answer].tool_calls[0]
    assert call.arguments["email"].startswith("[email:")
    assert "[email:" in (found.messages[found.turns[1].answer].text or "")
    # So the record differs from what was sent, and the recorded digests say so.
    assert [t.as_sent for t in found.turns] == [False, False]
    assert build_contexts(rows).turns[0].as_sent is None  # no secret: not checked


async def test_one_turn_is_read_up_to_that_turn_only(db: SQLiteStore) -> None:
    reader = Reader()
    result = await reader_runner(db, reader).start({})
    rows = await _rows(db, result.run_id)
    found = build_contexts(rows, through_turn=2)
    assert [t.turn for t in found.turns] == [1, 2]
    assert _sent(found) == reader.seen[:2]


async def test_an_event_type_this_version_does_not_know_is_skipped(db: SQLiteStore) -> None:
    reader = Reader()
    result = await reader_runner(db, reader).start({})
    rows = await _rows(db, result.run_id)
    # A later version's event (it would not decode here) between two turns.
    later = dataclasses.replace(rows[2], type="thought_recorded", meta={"mood": "calm"})
    found = build_contexts([*rows[:3], later, *rows[3:]])
    assert _sent(found) == reader.seen
    assert build_contexts([]).turns == []


async def test_a_purged_run_keeps_its_turns_with_empty_messages(db: SQLiteStore) -> None:
    reader = Reader()
    result = await reader_runner(db, reader).start({})
    await db.purge_payloads(result.run_id, at=2e9, reason="retention test")
    found = build_contexts(await _rows(db, result.run_id), key=load_signing_key())
    assert [t.turn for t in found.turns] == [1, 2, 3, 4]  # metadata stays...
    assert all(t.usage.input_tokens > 0 for t in found.turns)
    last = found.context_of(found.turns[-1])
    assert all(m.purged for m in last)  # ...the payloads are gone, and marked so
    assert all(not m.text or m.text in ("{}", "null") for m in last)
    assert "lorem" not in json.dumps([m.text for m in found.messages])
    assert [t.as_sent for t in found.turns] == [False] * 4
