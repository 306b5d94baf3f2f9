"""The loop on the gateway: cheap-first routing and its triggers, budgets, model errors, cache."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from proctor.contracts import Contract
from proctor.gateway import (
    CooldownConfig,
    Deployment,
    Gateway,
    Message,
    ModelCallError,
    Price,
    RetryConfig,
    ScriptedModel,
    ToolMessage,
    ToolSpec,
    Turn,
)
from proctor.gateway._cache import MemoryCache, StoreCache
from proctor.gateway._router import Router
from proctor.runtime import Runner, RunResult, Workflow
from proctor.store import (
    CacheHit,
    Event,
    LimitReached,
    ModelAttemptFailed,
    ModelCalled,
    ModelRouted,
    SQLiteStore,
    row_to_event,
)
from proctor.tools import Registry, tool

PRICE = Price(input_per_million=1.0, output_per_million=2.0)


@tool("kb.search", idempotent=True)
def search(query: str) -> list[str]:
    """Search the knowledge base."""
    return [f"article about {query}"]


@tool("ticket.close", effect="write", risk="high", idempotent=True)
def close(ticket: int) -> str:
    """Close a ticket."""
    return f"closed {ticket}"


REGISTRY = Registry([search, close])

SEARCH = Turn(calls=[("kb.search", {"query": "refund"})])
DONE = Turn(text="Here is the answer.")


def solver(messages: Sequence[Message]) -> Turn:
    """The stronger model: searches once (successfully), then answers, from any position."""
    searched = any(
        isinstance(m, ToolMessage) and m.name == "kb.search" and '"status"' not in m.content
        for m in messages
    )
    return DONE if searched else SEARCH


LARGE = ScriptedModel(scenario="large", script=solver)


def workflow(**model: Any) -> Workflow:
    contract = Contract.model_validate(
        {
            "workflow": "support",
            "required_steps": ["kb.search"],
            "limits": {"max_tool_calls": 10, "max_model_calls": 10},
            "model": {"default": "small", "escalate_to": "large", **model},
        }
    )
    return Workflow(
        name="support",
        registry=REGISTRY,
        contract=contract,
        instructions="Answer the ticket.",
        default_model="small",
    )


def gateway(
    small: Sequence[Turn] | ScriptedModel,
    large: Sequence[Turn] | ScriptedModel = LARGE,
    **options: Any,
) -> Gateway:
    def model(name: str, turns: Sequence[Turn] | ScriptedModel) -> ScriptedModel:
        return (
            turns
            if isinstance(turns, ScriptedModel)
            else ScriptedModel(scenario=name, script=list(turns))
        )

    deployments = {
        name: Deployment(
            name=name, client=model(name, turns), model=f"scripted:{name}", price=PRICE
        )
        for name, turns in (("small", small), ("large", large))
    }
    return Gateway(
        deployments=deployments,
        routes={"small": ["small"], "large": ["large"]},
        default_route="small",
        router=Router(RetryConfig(max_retries=0), CooldownConfig()),
        **options,
    )


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    store = SQLiteStore(tmp_path / "runs.db")
    yield store
    await store.close()


async def events_of(store: SQLiteStore, result: RunResult) -> list[Event]:
    return [row_to_event(row) for row in await store.events(result.run_id)]


def models_called(events: list[Event]) -> list[str]:
    return [e.data.model for e in events if isinstance(e.data, ModelCalled)]


def routes(events: list[Event]) -> list[tuple[str | None, str, str]]:
    return [
        (e.data.from_route, e.data.to_route, e.data.trigger)
        for e in events
        if isinstance(e.data, ModelRouted)
    ]


async def test_a_run_starts_on_its_default_route_and_stays_there(db: SQLiteStore) -> None:
    result = await Runner(db, workflow(), gateway=gateway([SEARCH, DONE])).start({})
    assert result.outcome == "resolved"
    events = await events_of(db, result)
    assert routes(events) == [(None, "small", "start")]
    assert models_called(events) == ["scripted:small", "scripted:small"]
    called = [e.data for e in events if isinstance(e.data, ModelCalled)]
    assert all(c.cost_usd is not None and c.cost_usd > 0 for c in called)


async def test_invalid_tool_calls_in_a_row_escalate_to_the_stronger_route(db: SQLiteStore) -> None:
    bad = Turn(calls=[("kb.search", {"query": 42})])
    small = [bad, bad, DONE]
    result = await Runner(db, workflow(), gateway=gateway(small)).start({})
    events = await events_of(db, result)
    assert routes(events) == [(None, "small", "start"), ("small", "large", "invalid_tool_calls")]
    assert models_called(events) == ["scripted:small"] * 2 + ["scripted:large"] * 2
    assert result.outcome == "resolved"


async def test_a_policy_denial_escalates(db: SQLiteStore) -> None:
    flow = workflow()
    flow.contract = flow.contract.model_copy(update={"forbidden_tools": ["ticket.close"]})
    small = [Turn(calls=[("ticket.close", {"ticket": 1})]), DONE]
    result = await Runner(db, flow, gateway=gateway(small)).start({})
    assert routes(await events_of(db, result))[-1] == ("small", "large", "policy_denial")


async def test_a_high_risk_call_moves_the_next_turns_to_the_stronger_route(
    db: SQLiteStore,
) -> None:
    small = [SEARCH, Turn(calls=[("ticket.close", {"ticket": 7})]), DONE]
    result = await Runner(db, workflow(), gateway=gateway(small)).start({})
    events = await events_of(db, result)
    assert routes(events)[-1] == ("small", "large", "high_risk")
    assert models_called(events)[-1] == "scripted:large"


async def test_low_reported_confidence_escalates(db: SQLiteStore) -> None:
    unsure = Turn(
        text='{"answer": "maybe", "confidence": 0.3}', calls=[("kb.search", {"query": "x"})]
    )
    flow = workflow(escalate_on={"confidence_below": 0.5, "high_risk": False})
    result = await Runner(db, flow, gateway=gateway([unsure, DONE])).start({})
    assert routes(await events_of(db, result))[-1] == ("small", "large", "low_confidence")


async def test_no_trigger_no_escalation(db: SQLiteStore) -> None:
    sure = Turn(text="confidence: 0.9", calls=[("kb.search", {"query": "x"})])
    flow = workflow(escalate_on={"confidence_below": 0.5})
    result = await Runner(db, flow, gateway=gateway([sure, DONE])).start({})
    assert routes(await events_of(db, result)) == [(None, "small", "start")]


async def test_the_projected_cost_stops_a_run_before_it_overspends(db: SQLiteStore) -> None:
    flow = workflow(max_tokens=100_000)
    flow.contract = flow.contract.model_copy(
        update={"limits": flow.contract.limits.model_copy(update={"max_cost_usd": 0.01})}
    )
    result = await Runner(db, flow, gateway=gateway([SEARCH, DONE])).start({})
    events = await events_of(db, result)
    assert result.outcome == "escalated"
    assert models_called(events) == []  # refused before anything was sent
    limit = next(e.data for e in events if isinstance(e.data, LimitReached))
    assert limit.rule == "limit.max_cost_usd"
    assert "estimated" in limit.reason


class Broken(ScriptedModel):
    async def complete(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec], **_: Any
    ) -> Any:
        raise ModelCallError("upstream returned 503", kind="server_error", status=503)


@pytest.mark.parametrize(("setting", "outcome"), [(False, "failed"), ("handoff", "escalated")])
async def test_a_model_outage_follows_on_model_error(
    db: SQLiteStore, setting: Any, outcome: str
) -> None:
    flow = workflow()
    flow.contract = flow.contract.model_copy(
        update={
            "escalation": flow.contract.escalation.model_copy(update={"on_model_error": setting})
        }
    )
    broken = Broken(scenario="small", script=[])
    result = await Runner(db, flow, gateway=gateway(broken)).start({})
    assert result.outcome == outcome
    failed = [e.data for e in await events_of(db, result) if isinstance(e.data, ModelAttemptFailed)]
    assert failed
    assert failed[0].kind == "server_error"
    assert failed[0].status == 503


async def test_identical_runs_are_served_from_the_response_cache(db: SQLiteStore) -> None:
    shared = gateway([SEARCH, DONE], cache=MemoryCache())
    first = await Runner(db, workflow(), gateway=shared).start({"q": 1})
    # A fresh scripted model for the second run: the cache must answer before it is asked.
    shared.deployments["small"] = Deployment(
        name="small",
        client=ScriptedModel(scenario="small", script=[]),
        model="scripted:small",
        price=PRICE,
    )
    second = await Runner(db, workflow(), gateway=shared).start({"q": 1})
    assert (first.outcome, second.outcome) == ("resolved", "resolved")
    events = await events_of(db, second)
    hits = [e.data for e in events if isinstance(e.data, CacheHit)]
    assert len(hits) == 2
    assert all(h.cost_saved_usd for h in hits)
    called = [e.data for e in events if isinstance(e.data, ModelCalled)]
    assert all(c.cache_hit and c.cost_usd == 0 for c in called)
    assert second.state.cost_usd == 0


PRICE_LOOKUPS: list[str] = []


@tool("pricing.lookup", cacheable=True, cache_ttl_s=60)
def price_lookup(sku: str) -> dict[str, float]:
    """A deterministic price table."""
    PRICE_LOOKUPS.append(sku)
    return {"price": 9.5}


async def test_a_cacheable_tool_runs_once_and_later_calls_are_cache_hits(db: SQLiteStore) -> None:
    PRICE_LOOKUPS.clear()
    flow = workflow()
    flow.registry = Registry([search, close, price_lookup])
    turns = [Turn(calls=[("pricing.lookup", {"sku": "A-1"})]), SEARCH, DONE]
    # Two gateways share entries when they share the secret that keys the cache's keys.
    shared = gateway(turns, cache=MemoryCache(), cache_secret=b"s" * 32)
    first = await Runner(db, flow, gateway=shared).start({"run": 1})
    other = gateway(turns, cache=shared.cache, cache_secret=b"s" * 32)
    second = await Runner(db, flow, gateway=other).start({"run": 2})
    assert (first.outcome, second.outcome) == ("resolved", "resolved")
    assert PRICE_LOOKUPS == ["A-1"]
    events = await events_of(db, second)
    [hit] = [e.data for e in events if isinstance(e.data, CacheHit)]
    assert (hit.kind, hit.name) == ("tool", "pricing.lookup")
    assert not any(e.type == "tool_started" and "pricing" in str(e.data) for e in events)


async def test_an_answer_redaction_would_change_is_never_cached(
    db: SQLiteStore, tmp_path: Path
) -> None:
    leaky = Turn(text="Mail the refund form to jane.doe@example.com.")
    shared = gateway([SEARCH, leaky], cache=StoreCache(db))
    result = await Runner(db, workflow(), gateway=shared).start({"q": 1})
    await shared.flush()

    assert result.outcome == "resolved"
    assert result.state.final_text == leaky.text  # the caller gets the answer as given
    with closing(sqlite3.connect(db.path)) as raw:
        cached = raw.execute("SELECT value FROM cache").fetchall()
    assert len(cached) == 1  # the clean first answer (a tool call), not the second
    await db.close()
    files = [p for p in tmp_path.iterdir() if p.name.startswith(db.path.name)]
    assert all(b"jane.doe@example.com" not in p.read_bytes() for p in files)
