"""Each model turn's context, rebuilt from the log: compared with what a scripted model was
actually sent, turn by turn, for a run with tool calls, a compacted run, and a run whose
input held personal data (the log, and so the rebuilt context, holds placeholders)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from proctor.contracts import Contract
from proctor.gateway import (
    AssistantMessage,
    CooldownConfig,
    Deployment,
    Gateway,
    Message,
    Price,
    RetryConfig,
    Router,
    ScriptedModel,
    SystemMessage,
    ToolMessage,
    Turn,
    UserMessage,
)
from proctor.runtime import ContextMessage, RunContexts, Runner, Workflow, build_contexts
from proctor.runtime._compaction import SUMMARY_INSTRUCTIONS
from proctor.store import EventRow, SQLiteStore
from proctor.tools import Registry, tool

DOC = "lorem ipsum " * 250  # 3,000 characters: a result compaction shortens
EMAIL = "jane.doe@example.com"


@tool("docs.fetch", idempotent=True)
def fetch(doc: str) -> str:
    """Fetch a long document."""
    return f"{doc}: {DOC}"


@tool("crm.lookup", idempotent=True)
def lookup(email: str) -> dict[str, Any]:
    """Find a customer by e-mail."""
    return {"customer": "C-17", "email": email, "tier": "gold"}


class Reader:
    """Fetches three documents, then answers; records every prompt it is sent."""

    def __init__(self) -> None:
        self.seen: list[list[Message]] = []

    def __call__(self, messages: Sequence[Message]) -> Turn:
        if isinstance(messages[0], SystemMessage) and messages[0].content == SUMMARY_INSTRUCTIONS:
            return Turn(text="Fetched documents a and b; both are lorem ipsum.")
        self.seen.append(list(messages))
        step = len(self.seen)
        if step <= 3:
            return Turn(calls=[("docs.fetch", {"doc": "abc"[step - 1]})])
        return Turn(text="done")


class Clerk:
    """Looks the customer up by the e-mail in its input, then answers with it."""

    def __init__(self) -> None:
        self.seen: list[list[Message]] = []

    def __call__(self, messages: Sequence[Message]) -> Turn:
        self.seen.append(list(messages))
        if len(self.seen) == 1:
            first = messages[1]
            assert isinstance(first, UserMessage)
            given = json.loads(first.content)
            return Turn(calls=[("crm.lookup", {"email": given["email"]})])
        return Turn(text=f"Customer C-17 ({EMAIL}) is gold.")


def _runner(db: SQLiteStore, registry: Registry, script: Any, model: dict[str, Any]) -> Runner:
    contract = Contract.model_validate(
        {"workflow": "w", "limits": {"max_tool_calls": 10, "max_model_calls": 10}, "model": model}
    )
    flow = Workflow(
        name="w",
        registry=registry,
        contract=contract,
        instructions="Do the task.",
        default_model="small",
    )
    gateway = Gateway(
        deployments={
            "small": Deployment(
                name="small",
                client=ScriptedModel(scenario="small", script=script),
                model="scripted:small",
                price=Price(input_per_million=1, output_per_million=2),
            )
        },
        routes={},
        default_route="small",
        router=Router(RetryConfig(max_retries=0), CooldownConfig()),
    )
    return Runner(db, flow, gateway=gateway)


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
    result = await _runner(db, Registry([fetch]), reader, {"default": "small"}).start({"q": 1})
    found = build_contexts(await _rows(db, result.run_id))
    assert [t.turn for t in found.turns] == [1, 2, 3, 4]
    assert _sent(found) == reader.seen
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
    model = {"default": "small", "context_tokens": 600}
    result = await _runner(db, Registry([fetch]), reader, model).start({})
    found = build_contexts(await _rows(db, result.run_id))
    assert _sent(found) == reader.seen
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
    model = {"default": "small", "context_tokens": 1400}
    result = await _runner(db, Registry([fetch]), reader, model).start({})
    found = build_contexts(await _rows(db, result.run_id))
    assert _sent(found) == reader.seen
    shortened = [m for m in found.messages if m.kind == "shortened"]
    assert shortened
    assert json.loads(shortened[0].text or "")["ref"] == shortened[0].call_id
    assert shortened[0].tokens < 200


async def test_personal_data_shows_as_the_placeholders_the_log_holds(db: SQLiteStore) -> None:
    clerk = Clerk()
    run = _runner(db, Registry([lookup]), clerk, {"default": "small"})
    result = await run.start({"email": EMAIL})
    rows = await _rows(db, result.run_id)
    found = build_contexts(rows)
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


async def test_one_turn_is_read_up_to_that_turn_only(db: SQLiteStore) -> None:
    reader = Reader()
    result = await _runner(db, Registry([fetch]), reader, {"default": "small"}).start({})
    rows = await _rows(db, result.run_id)
    found = build_contexts(rows, through_turn=2)
    assert [t.turn for t in found.turns] == [1, 2]
    assert _sent(found) == reader.seen[:2]


async def test_an_event_type_this_version_does_not_know_is_skipped(db: SQLiteStore) -> None:
    reader = Reader()
    result = await _runner(db, Registry([fetch]), reader, {"default": "small"}).start({})
    rows = await _rows(db, result.run_id)
    # A later version's event (it would not decode here) between two turns.
    later = dataclasses.replace(rows[2], type="thought_recorded", meta={"mood": "calm"})
    found = build_contexts([*rows[:3], later, *rows[3:]])
    assert _sent(found) == reader.seen
    assert build_contexts([]).turns == []
