"""The agent loop under each policy rule, driven end to end against a real SQLite store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from proctor.contracts import Contract
from proctor.gateway import (
    AssistantMessage,
    Message,
    Price,
    PriceTable,
    Script,
    ScriptedModel,
    Turn,
)
from proctor.runtime import ManualClock, Runner, RunResult, Workflow, decide_approval
from proctor.store import (
    Escalated,
    Event,
    LimitReached,
    ModelCalled,
    PolicyDecided,
    RunFilter,
    RunFinished,
    RunInterrupted,
    RunStarted,
    SQLiteStore,
    ToolFinished,
    row_to_event,
    verify_run,
)
from proctor.tools import Registry, ToolContext, tool

WRITES: list[tuple[str, float]] = []


@tool("crm.lookup", idempotent=True)
def lookup(customer: str) -> dict[str, Any]:
    """Look a customer up."""
    return {"customer": customer, "tier": "gold"}


@tool("crm.check")
def check(customer: str) -> dict[str, bool]:
    """Check a customer's standing."""
    return {"ok": True}


@tool("billing.refund", effect="write", risk="high", idempotent=True)
def refund(ctx: ToolContext, customer: str, amount: float) -> dict[str, Any]:
    """Refund a customer."""
    WRITES.append((ctx.idempotency_key, amount))
    return {"refunded": amount}


@tool("billing.explode")
def explode(reason: str) -> None:
    """Always fails."""
    raise RuntimeError(f"backend down: {reason}")


@tool("billing.wipe", effect="write", risk="high")
def wipe(customer: str) -> None:
    """Forbidden everywhere."""
    raise AssertionError("a forbidden tool ran")


@tool("slow.sleep", timeout_s=5)
async def sleep(seconds: float) -> str:
    """Sleep."""
    await asyncio.sleep(seconds)
    return "slept"


REGISTRY = Registry([lookup, check, refund, explode, wipe, sleep])


def contract(**changes: Any) -> Contract:
    base: dict[str, Any] = {
        "workflow": "refunds",
        "forbidden_tools": ["billing.wipe"],
        "required_steps": ["crm.lookup"],
        "ordering": [{"tool": "billing.refund", "after": ["crm.check"]}],
        "limits": {"max_tool_calls": 6, "max_model_calls": 8},
        "approvals": [
            {"tool": "billing.refund", "when": "args.amount > 100", "reason": "big refund"}
        ],
        "escalation": {"on_budget_exceeded": True, "on_policy_violation": "handoff"},
    }
    base.update(changes)
    return Contract.model_validate(base)


def calls(*names_args: tuple[str, dict[str, Any]]) -> Turn:
    return Turn(calls=names_args)


def runner(
    store: SQLiteStore,
    turns: Script,
    clock: ManualClock | None = None,
    **contract_changes: Any,
) -> Runner:
    script = turns if callable(turns) else list(turns)
    workflow = Workflow(
        name="refunds",
        registry=REGISTRY,
        contract=contract(**contract_changes),
        instructions="Handle the refund.",
        default_model="scripted:test",
        scripts={
            "test": lambda: ScriptedModel(scenario="test", script=script, priced_as="gpt-4o-mini")
        },
    )
    return Runner(store, workflow) if clock is None else Runner(store, workflow, clock=clock)


@pytest.fixture
async def db(tmp_path: Any) -> AsyncIterator[SQLiteStore]:
    WRITES.clear()
    store = SQLiteStore(tmp_path / "runs.db")
    yield store
    await store.close()


async def events_of(store: SQLiteStore, result: RunResult) -> list[Event]:
    return [row_to_event(row) for row in await store.events(result.run_id)]


def decisions(events: list[Event]) -> list[tuple[str, str, str]]:
    return [
        (e.data.tool, e.data.decision, e.data.rule)
        for e in events
        if isinstance(e.data, PolicyDecided)
    ]


HAPPY = [
    calls(("crm.lookup", {"customer": "c1"})),
    calls(("crm.check", {"customer": "c1"})),
    calls(("billing.refund", {"customer": "c1", "amount": 40})),
    Turn(text="Refunded 40."),
]


async def test_clean_run_resolves_with_every_decision_recorded(db: SQLiteStore) -> None:
    result = await runner(db, HAPPY).start({"ticket": 1})
    assert (result.status, result.outcome) == ("finished", "resolved")
    events = await events_of(db, result)
    assert decisions(events) == [
        ("crm.lookup", "allow", "default.allow"),
        ("crm.check", "allow", "default.allow"),
        ("billing.refund", "allow", "default.allow"),
    ]
    assert [(f"{result.run_id}:2", 40)] == WRITES
    finished = events[-1].data
    assert isinstance(finished, RunFinished)
    assert finished.totals.tool_calls == 3
    assert finished.totals.model_calls == 4
    assert finished.totals.cost_usd is not None
    assert finished.totals.cost_usd > 0
    assert (await verify_run(db, result.run_id)).ok
    record = await db.get_run(result.run_id)
    assert record is not None
    assert record.outcome == "resolved"
    assert record.last_seq == events[-1].seq


async def test_unregistered_tool_is_denied_and_the_model_may_recover(db: SQLiteStore) -> None:
    turns = [calls(("crm.delete_everything", {})), *HAPPY]
    result = await runner(db, turns).start({})
    assert result.outcome == "resolved"
    assert decisions(await events_of(db, result))[0] == (
        "crm.delete_everything",
        "deny",
        "registry.unregistered_tool",
    )


async def test_invalid_arguments_are_not_executed_but_counted(db: SQLiteStore) -> None:
    turns = [calls(("billing.refund", {"customer": "c1", "amount": "lots"})), *HAPPY]
    result = await runner(db, turns).start({})
    assert decisions(await events_of(db, result))[0][2] == "schema.invalid_arguments"
    assert [(f"{result.run_id}:3", 40)] == WRITES
    assert result.state.tool_calls == 4


async def test_non_object_arguments_are_invalid(db: SQLiteStore) -> None:
    from proctor.gateway import ModelResponse
    from proctor.store import RecordedToolCall

    class Garbled:
        name = "garbled"

        async def complete(self, messages: Any, tools: Any, **_: Any) -> ModelResponse:
            if len(messages) > 2:
                return ModelResponse(model="garbled", text="done")
            bad = RecordedToolCall(id="c", name="crm.lookup", raw_arguments="{not json")
            return ModelResponse(model="garbled", tool_calls=(bad,))

    result = await Runner(db, runner(db, []).workflow, model=Garbled()).start({})
    assert decisions(await events_of(db, result))[0][2] == "schema.invalid_arguments"
    assert result.state.cost_known is False  # no price for "garbled": unknown, never zero


async def test_forbidden_tool_escalates_by_handoff(db: SQLiteStore) -> None:
    turns = [calls(("billing.wipe", {"customer": "c1"})), Turn(text="never reached")]
    result = await runner(db, turns).start({})
    assert result.outcome == "escalated"
    events = await events_of(db, result)
    assert decisions(events) == [("billing.wipe", "deny", "contract.forbidden_tool")]
    assert any(
        isinstance(e.data, Escalated) and e.data.trigger == "policy_violation" for e in events
    )


async def test_allow_list_denies_other_tools(db: SQLiteStore) -> None:
    turns = [calls(("crm.check", {"customer": "c1"})), Turn(text="x")]
    r = runner(
        db,
        turns,
        allowed_tools=["crm.lookup"],
        ordering=[],
        escalation={"on_policy_violation": False},
    )
    result = await r.start({})
    assert decisions(await events_of(db, result)) == [("crm.check", "deny", "contract.not_allowed")]
    # no escalation configured: the model got the error and ended, missing a required step
    assert result.outcome == "failed"


async def test_tool_call_ceiling_stops_the_run_with_the_spend_so_far(db: SQLiteStore) -> None:
    turns = [calls(("crm.lookup", {"customer": "c1"}))] * 10
    result = await runner(db, turns).start({})
    assert result.outcome == "escalated"
    events = await events_of(db, result)
    assert decisions(events)[-1] == ("crm.lookup", "deny", "limit.max_tool_calls")
    assert len(decisions(events)) == 7
    limit = next(e.data for e in events if isinstance(e.data, LimitReached))
    assert (limit.limit, limit.value, limit.ceiling) == ("max_tool_calls", 7, 6)
    finished = events[-1].data
    assert isinstance(finished, RunFinished)
    assert finished.totals.cost_usd


async def test_ceiling_without_escalation_fails_the_run(db: SQLiteStore) -> None:
    turns = [calls(("crm.lookup", {"customer": "c1"}))] * 10
    result = await runner(db, turns, escalation={"on_budget_exceeded": False}).start({})
    assert result.outcome == "failed"


async def test_model_call_ceiling(db: SQLiteStore) -> None:
    turns = [calls(("crm.lookup", {"customer": "c1"}))] * 10
    result = await runner(db, turns, limits={"max_model_calls": 2}).start({})
    assert result.outcome == "escalated"
    limit = next(e.data for e in await events_of(db, result) if isinstance(e.data, LimitReached))
    assert limit.rule == "limit.max_model_calls"


@pytest.mark.parametrize(("limit", "value"), [("max_tokens", 50), ("max_cost_usd", 0.000001)])
async def test_token_and_cost_ceilings(db: SQLiteStore, limit: str, value: float) -> None:
    result = await runner(db, HAPPY, limits={limit: value}).start({})
    assert result.outcome == "escalated"
    rules = [e.data.rule for e in await events_of(db, result) if isinstance(e.data, LimitReached)]
    assert rules == [f"limit.{limit}"]


async def test_runtime_ceiling_cuts_a_slow_tool_and_escalates(db: SQLiteStore) -> None:
    turns = [
        calls(("slow.sleep", {"seconds": 3})),
        calls(("crm.lookup", {"customer": "c"})),
        Turn(text="x"),
    ]
    clock = ManualClock()
    took = iter([0.195, 1.0, 1.0])

    def model(messages: Sequence[Message]) -> Turn:
        # The first turn takes 0.195 s of the run's 0.2 s, so the slow tool gets the
        # 5 ms left; by the next turn the ceiling has passed.
        clock.advance(next(took))
        return turns[sum(isinstance(m, AssistantMessage) for m in messages)]

    result = await runner(db, model, clock, limits={"max_runtime_seconds": 0.2}).start({})
    assert result.outcome == "escalated"
    events = await events_of(db, result)
    finished = next(e.data for e in events if isinstance(e.data, ToolFinished))
    assert finished.error_type == "Timeout"
    assert any(
        isinstance(e.data, LimitReached) and e.data.limit == "max_runtime_seconds" for e in events
    )


async def test_ordering_rule_refuses_a_write_before_its_check(db: SQLiteStore) -> None:
    turns = [
        calls(("crm.lookup", {"customer": "c1"})),
        calls(("billing.refund", {"customer": "c1", "amount": 5})),
    ]
    result = await runner(db, turns).start({})
    assert result.outcome == "escalated"
    assert decisions(await events_of(db, result))[-1] == (
        "billing.refund",
        "deny",
        "ordering.billing.refund",
    )
    assert WRITES == []


async def test_approval_pauses_then_continues_once_approved(db: SQLiteStore) -> None:
    turns = [
        *HAPPY[:2],
        calls(("billing.refund", {"customer": "c1", "amount": 500})),
        Turn(text="done"),
    ]
    r = runner(db, turns)
    result = await r.start({})
    assert result.status == "awaiting_approval"
    assert WRITES == []
    [pending] = await db.list_approvals()
    assert pending.tool == "billing.refund"
    assert pending.arguments == {
        "customer": "c1",
        "amount": 500,
    }
    record = await db.get_run(result.run_id)
    assert record is not None
    assert record.status == "awaiting_approval"

    await decide_approval(db, pending.approval_id, approved=True, by="alice", reason="ok")
    resumed = await r.resume(result.run_id)
    assert resumed.outcome == "resolved"
    assert [(f"{result.run_id}:2", 500)] == WRITES
    rules = [d[2] for d in decisions(await events_of(db, result))]
    assert rules[-2:] == ["approval.billing.refund", "approval.granted"]
    assert (await verify_run(db, result.run_id)).ok


async def test_denied_approval_follows_the_escalation_rule(db: SQLiteStore) -> None:
    turns = [
        *HAPPY[:2],
        calls(("billing.refund", {"customer": "c1", "amount": 500})),
        Turn(text="done"),
    ]
    r = runner(db, turns)
    result = await r.start({})
    [pending] = await db.list_approvals()
    await decide_approval(db, pending.approval_id, approved=False, by="bob", reason="not eligible")
    resumed = await r.resume(result.run_id)
    assert resumed.outcome == "escalated"
    assert WRITES == []
    assert decisions(await events_of(db, result))[-1][2] == "approval.denied"


async def test_an_approval_covers_only_the_exact_arguments(db: SQLiteStore) -> None:
    big = ("billing.refund", {"customer": "c1", "amount": 500})
    bigger = ("billing.refund", {"customer": "c1", "amount": 900})
    turns = [*HAPPY[:2], calls(big), calls(bigger), Turn(text="done")]
    r = runner(db, turns)
    result = await r.start({})
    [first] = await db.list_approvals()
    await decide_approval(db, first.approval_id, approved=True, by="alice")
    resumed = await r.resume(result.run_id)
    assert resumed.status == "awaiting_approval"
    [second] = await db.list_approvals()
    assert second.arguments["amount"] == 900
    assert [(f"{result.run_id}:2", 500)] == WRITES


async def test_missing_required_step_escalates_instead_of_resolving(db: SQLiteStore) -> None:
    result = await runner(db, [Turn(text="All done!")]).start({})
    assert result.outcome == "escalated"
    escalated = next(e.data for e in await events_of(db, result) if isinstance(e.data, Escalated))
    assert escalated.rule == "contract.required_steps"
    assert "crm.lookup" in escalated.reason


async def test_draft_only_mode_records_writes_without_executing(db: SQLiteStore) -> None:
    turns = [
        calls(("crm.lookup", {"customer": "c1"})),
        calls(("billing.wipe", {"customer": "c1"})),
        calls(("crm.check", {"customer": "c1"})),
        calls(("billing.refund", {"customer": "c1", "amount": 40})),
        Turn(text="drafted"),
    ]
    result = await runner(db, turns, escalation={"on_policy_violation": "draft_only"}).start({})
    assert result.outcome == "draft_only"
    assert WRITES == []
    types = [e.type for e in await events_of(db, result)]
    assert "draft_recorded" in types
    assert types.count("escalated") == 1


async def test_tool_error_escalates_when_the_contract_says_so(db: SQLiteStore) -> None:
    turns = [calls(("billing.explode", {"reason": "x"})), *HAPPY]
    result = await runner(db, turns, escalation={"on_tool_error": True}).start({})
    assert result.outcome == "escalated"
    quiet = await runner(db, turns).start({})
    assert quiet.outcome == "resolved"  # without the rule the model sees the error and goes on


class Crash(BaseException):
    """Stands in for the process dying mid-call (not an Exception, so nothing catches it)."""


async def test_resume_reruns_an_interrupted_idempotent_write_with_the_same_key(
    db: SQLiteStore,
) -> None:
    crashing = {"on": True}

    @tool("billing.flaky_refund", effect="write", idempotent=True)
    def flaky(ctx: ToolContext, amount: float) -> str:
        WRITES.append((ctx.idempotency_key, amount))
        if crashing["on"]:
            raise Crash
        return "ok"

    turns = [
        calls(("crm.lookup", {"customer": "c"})),
        calls(("billing.flaky_refund", {"amount": 1})),
        Turn(text="x"),
    ]
    r = runner(db, turns, ordering=[], approvals=[])
    r.workflow.registry = Registry([*REGISTRY, flaky])
    r = Runner(db, r.workflow)
    with pytest.raises(Crash):
        await r.start({})
    [record] = await db.list_runs(RunFilter())
    crashing["on"] = False
    resumed = await r.resume(record.run_id)
    assert resumed.outcome == "resolved"
    assert [key for key, _ in WRITES] == [f"{record.run_id}:1", f"{record.run_id}:1"]
    assert (await verify_run(db, record.run_id)).ok


async def test_resume_does_not_rerun_an_interrupted_non_idempotent_tool(db: SQLiteStore) -> None:
    ran: list[int] = []

    @tool("mail.send", effect="write")
    def send(to: str) -> str:
        ran.append(1)
        raise Crash

    turns = [
        calls(("crm.lookup", {"customer": "c"})),
        calls(("mail.send", {"to": "x"})),
        Turn(text="x"),
    ]
    r = runner(db, turns, ordering=[], approvals=[])
    r.workflow.registry = Registry([*REGISTRY, send])
    r = Runner(db, r.workflow)
    with pytest.raises(Crash):
        await r.start({})
    [record] = await db.list_runs(RunFilter())
    resumed = await r.resume(record.run_id)
    assert ran == [1]
    finished = [e.data for e in await events_of(db, resumed) if isinstance(e.data, ToolFinished)]
    assert finished[-1].error_type == "Interrupted"
    assert resumed.outcome == "resolved"


async def test_finished_runs_cannot_be_resumed(db: SQLiteStore) -> None:
    from proctor.errors import RunStateError

    r = runner(db, HAPPY)
    result = await r.start({})
    with pytest.raises(RunStateError, match="already finished"):
        await r.resume(result.run_id)


async def test_an_approval_covers_one_call_not_a_repeat_of_it(db: SQLiteStore) -> None:
    big = ("billing.refund", {"customer": "c1", "amount": 500})
    turns = [*HAPPY[:2], calls(big), calls(big), Turn(text="done")]
    r = runner(db, turns)
    result = await r.start({})
    [first] = await db.list_approvals()
    await decide_approval(db, first.approval_id, approved=True, by="alice")
    resumed = await r.resume(result.run_id)
    assert resumed.status == "awaiting_approval"  # the identical second refund asks again
    assert WRITES == [(f"{result.run_id}:2", 500)]


async def test_a_cost_ceiling_the_model_cannot_be_priced_against_is_refused(
    db: SQLiteStore,
) -> None:
    from proctor.errors import ConfigError

    class LocalModel(ScriptedModel):  # a model no price table knows
        @property
        def name(self) -> str:
            return "my-local-llm"

    unpriced = LocalModel(scenario="unpriced", script=HAPPY)
    r = Runner(db, runner(db, HAPPY, limits={"max_cost_usd": 1.0}).workflow, model=unpriced)
    with pytest.raises(ConfigError, match="no price") as refused:
        await r.start({})
    assert "prices: {my-local-llm: {input:" in str(refused.value)
    assert await db.list_runs(RunFilter()) == []
    # With its price given (as proctor.yaml's prices: give it), the run goes ahead.
    prices = PriceTable({"my-local-llm": Price(input_per_million=0, output_per_million=0)})
    r = Runner(db, r.workflow, model=LocalModel(scenario="priced", script=HAPPY), prices=prices)
    assert (await r.start({})).status == "finished"


async def test_a_scripted_model_priced_as_no_real_model_is_free(db: SQLiteStore) -> None:
    # A workflow's own test double runs under a contract that caps cost: it calls nothing.
    free = ScriptedModel(scenario="free", script=HAPPY)
    r = Runner(db, runner(db, HAPPY, limits={"max_cost_usd": 1.0}).workflow, model=free)
    result = await r.start({})
    assert result.status == "finished"
    assert result.state.totals(0).cost_usd == 0


async def test_the_model_is_offered_only_the_tools_the_contract_permits(db: SQLiteStore) -> None:
    offered: list[list[str]] = []

    def script(messages: Any) -> Turn:
        return Turn(text="nothing to do")

    class Spy(ScriptedModel):
        async def complete(self, messages: Any, tools: Any, **_: Any) -> Any:
            offered.append(sorted(t.name for t in tools))
            return await super().complete(messages, tools)

    spy = Spy(scenario="spy", script=script)
    workflow = runner(db, [], allowed_tools=["crm.lookup", "crm.check", "billing.refund"]).workflow
    await Runner(db, workflow, model=spy).start({})
    assert offered == [["billing.refund", "crm.check", "crm.lookup"]]


async def test_resume_reruns_an_interrupted_read_even_if_not_marked_idempotent(
    db: SQLiteStore,
) -> None:
    runs: list[int] = []

    @tool("crm.fetch")
    def fetch(customer: str) -> str:
        runs.append(1)
        if len(runs) == 1:
            raise Crash
        return "fetched"

    turns = [calls(("crm.fetch", {"customer": "c"})), *HAPPY]
    r = runner(db, turns, ordering=[], approvals=[])
    r.workflow.registry = Registry([*REGISTRY, fetch])
    r = Runner(db, r.workflow)
    with pytest.raises(Crash):
        await r.start({})
    [record] = await db.list_runs(RunFilter())
    resumed = await r.resume(record.run_id)
    assert runs == [1, 1]
    assert resumed.outcome == "resolved"


async def test_a_run_cancelled_while_finishing_stays_running_with_current_totals(
    db: SQLiteStore,
) -> None:
    # Ctrl-C lands while run_finished is being written: the write does not happen, so the
    # row must not say finished (a resume finishes it), but it does show the calls so far.
    write = db.append

    async def cut(rows: Any, **side: Any) -> None:
        if any(row.type == "run_finished" for row in rows):
            raise asyncio.CancelledError
        await write(rows, **side)

    db.append = cut  # type: ignore[method-assign]
    with pytest.raises(asyncio.CancelledError):
        await runner(db, HAPPY, approvals=[]).start({}, run_id="run_cut")
    db.append = write  # type: ignore[method-assign]
    record = await db.get_run("run_cut")
    assert record is not None
    assert (record.status, record.outcome, record.finished_at) == ("running", None, None)
    assert record.tool_calls == 3
    rows = await db.events("run_cut")
    # The interruption is in the log; the run_finished that was never written is not.
    assert [row.type for row in rows[-2:]] == ["tool_finished", "run_interrupted"]
    assert (record.last_seq, record.head_hash) == (rows[-1].seq, rows[-1].hash)
    assert (await verify_run(db, "run_cut")).ok
    resumed = await runner(db, HAPPY, approvals=[]).resume("run_cut")
    assert resumed.outcome == "resolved"
    assert (await verify_run(db, "run_cut")).ok


async def test_a_run_cancelled_during_a_tool_call_records_it_and_resumes(
    db: SQLiteStore,
) -> None:
    turns = [calls(("slow.sleep", {"seconds": 1})), Turn(text="Done.")]
    task = asyncio.create_task(runner(db, turns, required_steps=[]).start({}, run_id="run_stop"))
    while not any(row.type == "tool_started" for row in await db.events("run_stop")):
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    rows = await db.events("run_stop")
    assert [row.type for row in rows[-2:]] == ["tool_started", "run_interrupted"]
    stopped = row_to_event(rows[-1]).data
    assert isinstance(stopped, RunInterrupted)
    assert "Ctrl-C" in stopped.reason
    record = await db.get_run("run_stop")
    assert record is not None
    assert (record.status, record.last_seq) == ("running", rows[-1].seq)
    assert record.tool_calls == 1
    # A call that was cut short runs again on resume (it is not a write).
    resumed = await runner(db, turns, required_steps=[]).resume("run_stop")
    assert resumed.outcome == "resolved"
    assert resumed.state.tool_calls == 1
    assert (await verify_run(db, "run_stop")).ok


async def test_the_log_records_what_telemetry_describes(db: SQLiteStore) -> None:
    result = await runner(
        db,
        HAPPY,
        description="Refunds for gold customers.",
        model={"max_tokens": 300, "temperature": 0.1},
    ).start({"ticket": 1})
    events = await events_of(db, result)
    started = events[0].data
    assert isinstance(started, RunStarted)
    assert started.contract_description == "Refunds for gold customers."
    assert started.tool_descriptions["crm.lookup"] == "Look a customer up."
    assert set(started.tool_descriptions) == {t.name for t in REGISTRY}
    called = [e.data for e in events if isinstance(e.data, ModelCalled)]
    assert {(c.max_tokens, c.temperature) for c in called} == {(300, 0.1)}
    assert {c.response_id for c in called} == {None}  # the scripted model sends no id
    assert (await verify_run(db, result.run_id)).ok
