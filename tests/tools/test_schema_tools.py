"""Tools described by a JSON Schema (``Tool.from_schema``, ``Registry.from_openai``): the
schema the model sees is the schema that validates, and each run goes through the whole path."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from proctor.contracts import Contract
from proctor.errors import UsageError
from proctor.gateway import ScriptedModel, Turn
from proctor.runtime import Runner, Workflow
from proctor.store import MemoryStore, PolicyDecided, ToolFinished, row_to_event
from proctor.tools import Registry, Tool, ToolArgumentsError, ToolContext

TRANSFER = {
    "type": "object",
    "properties": {
        "from": {"type": "string", "pattern": "^acct-[0-9]+$"},
        "amount": {"type": "number", "exclusiveMinimum": 0, "maximum": 10000},
        "memo": {"type": "string"},
    },
    "required": ["from", "amount"],
    "additionalProperties": False,
}


def context() -> ToolContext:
    return ToolContext(
        run_id="run-1",
        call_id="c1",
        step=1,
        idempotency_key="run-1:1",
        logger=logging.getLogger("proctor.tests"),
    )


def transfer(arguments: dict[str, Any]) -> dict[str, Any]:
    return {"moved": arguments["amount"], "from": arguments["from"]}


def test_the_schema_shown_is_the_schema_that_validates() -> None:
    tool = Tool.from_schema("bank.transfer", TRANSFER, transfer, effect="write")
    assert Registry([tool]).specs()[0]["parameters"] == TRANSFER
    assert tool.validate({"from": "acct-1", "amount": 5}) == {"from": "acct-1", "amount": 5}
    with pytest.raises(ToolArgumentsError) as raised:
        tool.validate({"from": "savings", "amount": 0, "extra": True})
    problems = " | ".join(raised.value.errors)
    assert "from:" in problems
    assert "does not match" in problems
    assert "amount:" in problems
    assert "extra" in problems  # every problem, not the first


async def test_handlers_take_the_arguments_as_one_mapping_with_or_without_context() -> None:
    async def with_context(ctx: ToolContext, arguments: dict[str, Any]) -> str:
        return f"{ctx.call_id}:{arguments['from']}"

    plain = Tool.from_schema("bank.transfer", TRANSFER, transfer)
    assert await plain.run(context(), {"from": "acct-1", "amount": 2}) == {
        "moved": 2,
        "from": "acct-1",
    }
    aware = Tool.from_schema("bank.who", TRANSFER, with_context)
    assert await aware.run(context(), {"from": "acct-9", "amount": 1}) == "c1:acct-9"


@pytest.mark.parametrize(
    ("schema", "handler", "says"),
    [
        ({"type": "array"}, transfer, "a tool's arguments are an object"),
        ({"type": "object", "properties": {"a": {"type": "nonsense"}}}, transfer, "not valid"),
        (TRANSFER, lambda: None, "takes 0 positional"),
        (TRANSFER, lambda a, b, c: None, "takes 3 positional"),
    ],
)
def test_a_schema_or_handler_that_cannot_work_is_refused_by_name(
    schema: dict[str, Any], handler: Any, says: str
) -> None:
    with pytest.raises(UsageError, match=says) as raised:
        Tool.from_schema("bank.transfer", schema, handler)
    assert "bank.transfer" in str(raised.value)


def test_a_registry_from_openai_function_specs() -> None:
    specs: list[dict[str, Any]] = [
        {"type": "function", "function": {"name": "bank-transfer", "parameters": TRANSFER}},
        {"name": "bank.balance", "description": "Balance of an account."},  # legacy, no schema
    ]
    handlers = {"bank-transfer": transfer, "bank.balance": lambda arguments: 3}
    registry = Registry.from_openai(specs, handlers, effects={"bank.balance": "read"})
    assert registry.names == ["bank-transfer", "bank.balance"]
    transfer_tool, balance = registry.get("bank-transfer"), registry.get("bank.balance")
    assert transfer_tool is not None
    assert balance is not None
    assert transfer_tool.effect == "write"  # what a spec does not say counts as a write
    assert balance.effect == "read"
    assert balance.parameters == {"type": "object", "properties": {}}
    assert balance.description == "Balance of an account."

    with pytest.raises(UsageError, match=r"no handler for the function 'bank\.balance'"):
        Registry.from_openai(specs, {"bank-transfer": transfer})
    with pytest.raises(UsageError, match="no spec describes: other"):
        Registry.from_openai(specs, {**handlers, "other": transfer})


async def test_a_schema_tool_runs_through_policy_and_the_record() -> None:
    moved: list[dict[str, Any]] = []

    def record(arguments: dict[str, Any]) -> dict[str, Any]:
        moved.append(arguments)
        return {"ok": True}

    turns = [
        Turn(calls=[("bank.transfer", {"from": "acct-1", "amount": -5})]),
        Turn(calls=[("bank.transfer", {"from": "acct-1", "amount": 5})]),
        Turn(text="moved"),
    ]
    workflow = Workflow(
        name="bank",
        registry=Registry([Tool.from_schema("bank.transfer", TRANSFER, record, effect="write")]),
        contract=Contract.model_validate({"workflow": "bank"}),
        instructions="Move money.",
        default_model="scripted:t",
        scripts={"t": lambda: ScriptedModel(scenario="t", script=turns)},
    )
    store = MemoryStore()
    result = await Runner(store, workflow).start({})
    assert result.outcome == "resolved"
    assert moved == [{"from": "acct-1", "amount": 5}]  # the invalid call never ran
    events = [row_to_event(row).data for row in await store.events(result.run_id)]
    rules = [e.rule for e in events if isinstance(e, PolicyDecided)]
    assert rules[0] == "schema.invalid_arguments"
    assert [e.ok for e in events if isinstance(e, ToolFinished)] == [True]
