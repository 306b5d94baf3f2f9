"""Safe default ceilings: a contract with no ``limits`` still stops a model that loops.

Threat model: a wrong or compromised model (loops; "ceilings by default, a defined outcome
for every run").
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from proctor.contracts import Contract, Limits
from proctor.gateway import Message, ScriptedModel, Turn
from proctor.runtime import Runner, RunResult, Workflow
from proctor.store import LimitReached, SQLiteStore, row_to_event
from proctor.tools import Registry, tool

RUNAWAY = 1_000
"""Model calls after which the test gives up on any ceiling stopping the run."""


@tool("crm.lookup", idempotent=True)
def lookup(customer: str) -> dict[str, Any]:
    """Look a customer up."""
    return {"customer": customer}


def looping(calls_per_turn: int) -> ScriptedModel:
    """A model that never answers: every turn asks for more lookups."""
    asked = 0

    def turn(messages: Sequence[Message]) -> Turn:
        nonlocal asked
        asked += 1
        if asked > RUNAWAY:
            raise AssertionError(f"{RUNAWAY} model calls and no ceiling stopped the run")
        return Turn(calls=[("crm.lookup", {"customer": f"c{i}"}) for i in range(calls_per_turn)])

    return ScriptedModel(scenario="loop", script=turn)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    db = SQLiteStore(tmp_path / "runs.db")
    yield db
    await db.close()


async def run_loop(store: SQLiteStore, terms: dict[str, Any], calls_per_turn: int) -> RunResult:
    flow = Workflow(
        name="lookups",
        registry=Registry([lookup]),
        contract=Contract.model_validate({"workflow": "lookups", **terms}),
        instructions="Look customers up.",
        default_model="scripted:loop",
        scripts={"loop": lambda: looping(calls_per_turn)},
    )
    return await Runner(store, flow).start({})


async def limit_of(store: SQLiteStore, result: RunResult) -> LimitReached:
    events = [row_to_event(row) for row in await store.events(result.run_id)]
    (limit,) = [e.data for e in events if isinstance(e.data, LimitReached)]
    return limit


@pytest.mark.parametrize(
    ("calls_per_turn", "ceiling", "default"),
    [(1, "max_model_calls", 50), (3, "max_tool_calls", 100)],
)
async def test_a_looping_model_stops_at_the_default_ceiling(
    store: SQLiteStore, calls_per_turn: int, ceiling: str, default: int
) -> None:
    result = await run_loop(store, {}, calls_per_turn)

    assert result.status == "finished"
    assert result.outcome == "escalated"  # escalation.on_budget_exceeded defaults to true
    limit = await limit_of(store, result)
    assert (limit.rule, limit.ceiling) == (f"limit.{ceiling}", default)
    assert getattr(Limits(), ceiling) == default


async def test_a_contract_raises_a_default_ceiling_by_setting_it(store: SQLiteStore) -> None:
    result = await run_loop(store, {"limits": {"max_model_calls": 60}}, 1)

    limit = await limit_of(store, result)
    assert (limit.rule, limit.ceiling) == ("limit.max_model_calls", 60)
    assert result.state.model_calls == 60


def test_defaults_are_not_part_of_a_contracts_hash() -> None:
    bare = Contract.model_validate({"workflow": "w"})
    stated = Contract.model_validate({"workflow": "w", "limits": Limits().model_dump()})

    # A contract hashed before the defaults existed keeps its hash, so its runs resume.
    assert bare.terms() == {"workflow": "w"}
    assert stated.content_hash == bare.content_hash
    assert Limits().max_runtime_seconds == 600
    assert Limits().max_tokens == 2_000_000
    assert Limits().max_cost_usd is None  # a cost ceiling needs every model's price
