"""Context budget: large results become references, then older turns become a summary."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from proctor.contracts import Contract
from proctor.gateway import (
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
from proctor.runtime import Runner, Transcript, Workflow
from proctor.runtime._compaction import SUMMARY_INSTRUCTIONS
from proctor.store import ContextCompacted, ModelCalled, SQLiteStore, ToolFinished, row_to_event
from proctor.tools import Registry, tool

DOC = "lorem ipsum " * 250  # 3,000 characters


@tool("docs.fetch", idempotent=True)
def fetch(doc: str) -> str:
    """Fetch a long document."""
    return f"{doc}: {DOC}"


SEEN: list[list[Message]] = []


class Agent:
    """Fetches three documents, expands a shortened one if it sees a reference, answers.

    It keeps its own step count: compaction removes the turns it could count from.
    """

    def __init__(self) -> None:
        self.step = 0

    def __call__(self, messages: Sequence[Message]) -> Turn:
        if isinstance(messages[0], SystemMessage) and messages[0].content == SUMMARY_INSTRUCTIONS:
            return Turn(text="Fetched documents a and b; both are lorem ipsum.")
        SEEN.append(list(messages))
        self.step += 1
        if self.step <= 3:
            return Turn(calls=[("docs.fetch", {"doc": "abc"[self.step - 1]})])
        refs = [
            json.loads(m.content)["ref"]
            for m in messages
            if isinstance(m, ToolMessage) and m.content.startswith('{"ref"')
        ]
        if self.step == 4 and refs:
            return Turn(calls=[("context.expand", {"ref": refs[0]})])
        return Turn(text="done")


def runner(db: SQLiteStore, target: int) -> Runner:
    contract = Contract.model_validate(
        {
            "workflow": "reader",
            "limits": {"max_tool_calls": 10, "max_model_calls": 10},
            "model": {"default": "small", "context_tokens": target},
        }
    )
    flow = Workflow(
        name="reader",
        registry=Registry([fetch]),
        contract=contract,
        instructions="Read the documents.",
        default_model="small",
    )
    small = ScriptedModel(scenario="small", script=Agent())
    gateway = Gateway(
        deployments={
            "small": Deployment(
                name="small",
                client=small,
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
    SEEN.clear()
    store = SQLiteStore(tmp_path / "runs.db")
    yield store
    await store.close()


async def test_large_results_become_references_the_model_can_expand(db: SQLiteStore) -> None:
    result = await runner(db, target=1400).start({})
    assert result.outcome == "resolved"
    events = [row_to_event(row) for row in await db.events(result.run_id)]
    compactions = [e.data for e in events if isinstance(e.data, ContextCompacted)]
    assert compactions
    first = compactions[0]
    assert first.summary is None
    assert first.results_replaced >= 1
    assert first.tokens_after < first.tokens_before
    assert first.estimated
    # On its fourth turn the model saw a reference instead of the first document...
    assert any('"ref"' in m.content for m in SEEN[3] if isinstance(m, ToolMessage))
    expanded = [
        e.data
        for e in events
        if isinstance(e.data, ToolFinished) and e.data.tool == "context.expand"
    ]
    # ...and expanding it gave the whole document back.
    assert expanded
    assert expanded[0].result == f"a: {DOC}"


async def test_older_turns_are_summarised_by_the_cheap_route(db: SQLiteStore) -> None:
    result = await runner(db, target=600).start({})
    assert result.outcome == "resolved"
    events = [row_to_event(row) for row in await db.events(result.run_id)]
    summaries = [e.data for e in events if isinstance(e.data, ContextCompacted) and e.data.summary]
    assert summaries
    compacted = summaries[0]
    assert compacted.turns_summarized >= 1
    assert compacted.usage is not None
    assert compacted.cost_usd
    assert any(
        isinstance(m, UserMessage) and m.content.startswith("Summary of the earlier steps")
        for m in SEEN[-1]
    )
    # The summarising call's spend counts toward the run.
    model_spend = sum(e.data.cost_usd or 0 for e in events if isinstance(e.data, ModelCalled))
    assert result.state.cost_usd == pytest.approx(
        model_spend + sum(c.cost_usd or 0 for c in summaries)
    )


async def test_a_resumed_transcript_reapplies_the_compaction(db: SQLiteStore) -> None:
    result = await runner(db, target=600).start({})
    events = [row_to_event(row) for row in await db.events(result.run_id)]
    rebuilt = Transcript()
    for event in events:
        rebuilt.apply(event)
    # The final model call saw exactly the conversation the log folds to at that point.
    last_prompt = SEEN[-1]
    folded = Transcript()
    for event in events:
        if event.type == "model_called" and len(folded.messages) == len(last_prompt):
            break
        folded.apply(event)
    assert folded.messages == last_prompt
