"""Typed tools: schemas from type hints, argument validation, running with a timeout."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
from typing import Annotated, Any

import pytest
from pydantic import BaseModel, Field

from proctor.errors import UsageError
from proctor.tools import Tool, ToolArgumentsError, ToolContext, tool


class Line(BaseModel):
    sku: str
    quantity: int = 1


class Invoice(BaseModel):
    number: str
    total: float
    issued: dt.date


def context(step: int = 1) -> ToolContext:
    return ToolContext(
        run_id="run-1",
        call_id=f"c{step}",
        step=step,
        idempotency_key=f"run-1:{step}",
        logger=logging.getLogger("proctor.tests"),
    )


@tool("erp.match_invoice", effect="write", risk="high", idempotent=True, timeout_s=5.0)
def match_invoice(
    po_number: str,
    lines: list[Line],
    tolerance: Annotated[float, Field(description="Allowed difference in USD.", ge=0)] = 0.5,
    note: str | None = None,
) -> dict[str, Any]:
    """Match an invoice against its purchase order.

    Longer explanation that is part of the description.

    Args:
        po_number: The purchase order
            number, e.g. PO-1001.
        lines (list[Line]): The invoice lines.
        tolerance: Ignored: the Field description wins.

    Returns:
        whether it matched.
    """
    return {"po": po_number, "lines": len(lines), "tolerance": tolerance, "note": note}


# Schema -----------------------------------------------------------------------------------


def test_metadata_comes_from_the_decorator_and_the_docstring() -> None:
    assert match_invoice.name == "erp.match_invoice"
    assert match_invoice.description == (
        "Match an invoice against its purchase order. "
        "Longer explanation that is part of the description."
    )
    assert (match_invoice.effect, match_invoice.risk) == ("write", "high")
    assert (match_invoice.idempotent, match_invoice.timeout_s) == (True, 5.0)
    assert not match_invoice.takes_context


def test_defaults_of_a_plain_tool() -> None:
    def lookup(key: str) -> str:
        """Look a key up."""
        return key

    made = Tool.from_function(lookup)

    assert (made.name, made.description) == ("lookup", "Look a key up.")
    assert (made.effect, made.risk, made.idempotent, made.timeout_s) == ("read", "low", False, 30.0)


def test_schema_lists_required_and_defaulted_arguments() -> None:
    schema = match_invoice.parameters

    assert schema["type"] == "object"
    assert "title" not in schema
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["po_number", "lines"]
    properties = schema["properties"]
    assert list(properties) == ["po_number", "lines", "tolerance", "note"]
    assert properties["po_number"]["type"] == "string"
    assert properties["tolerance"]["default"] == 0.5
    assert properties["tolerance"]["minimum"] == 0
    assert properties["note"]["default"] is None


def test_pydantic_models_become_schema_definitions() -> None:
    schema = match_invoice.parameters

    assert schema["properties"]["lines"]["items"] == {"$ref": "#/$defs/Line"}
    line = schema["$defs"]["Line"]
    assert line["required"] == ["sku"]
    assert line["properties"]["quantity"] == {"default": 1, "title": "Quantity", "type": "integer"}


def test_argument_descriptions_come_from_field_then_docstring() -> None:
    properties = match_invoice.parameters["properties"]

    assert properties["po_number"]["description"] == "The purchase order number, e.g. PO-1001."
    assert properties["lines"]["description"] == "The invoice lines."
    assert properties["tolerance"]["description"] == "Allowed difference in USD."
    assert "description" not in properties["note"]


def test_explicit_name_and_description_win() -> None:
    @tool("crm.find", description="Find a customer.")
    def find(email: str) -> str:
        """Docstring summary."""
        return email

    assert (find.name, find.description) == ("crm.find", "Find a customer.")


@pytest.mark.parametrize(
    "name", ["1erp", "-erp", "erp..fetch", ".erp", "erp.", "erp fetch", "erp.1x"]
)
def test_invalid_names_are_rejected(name: str) -> None:
    def fetch(x: int) -> int:
        return x

    with pytest.raises(UsageError, match="not valid"):
        Tool.from_function(fetch, name=name)


@pytest.mark.parametrize("name", ["a", "fetch_po", "erp.fetch_po", "A1.b_2.C3"])
def test_dotted_identifiers_are_valid_names(name: str) -> None:
    def fetch(x: int) -> int:
        return x

    assert Tool.from_function(fetch, name=name).name == name


def test_names_are_checked_however_a_tool_is_built() -> None:
    with pytest.raises(UsageError, match="not valid"):
        Tool(name="", description="", function=print, args_model=match_invoice.args_model)


def test_a_lambda_needs_a_name() -> None:
    with pytest.raises(UsageError, match="not valid"):
        Tool.from_function(lambda: None)


def test_arguments_without_type_hints_are_rejected() -> None:
    def untyped(po_number, amount: float) -> None:  # type: ignore[no-untyped-def]
        return None

    with pytest.raises(UsageError, match="'po_number' has no type hint"):
        Tool.from_function(untyped)


def test_var_args_are_rejected() -> None:
    def star_args(*numbers: int) -> int:
        return sum(numbers)

    def star_kwargs(**options: str) -> None:
        return None

    for function in (star_args, star_kwargs):
        with pytest.raises(UsageError, match=r"\*args/\*\*kwargs"):
            Tool.from_function(function)


def test_positional_only_arguments_are_rejected() -> None:
    # Tools are called with keyword arguments, so these could never be passed.
    def positional(po_number: str, /) -> str:
        return po_number

    with pytest.raises(UsageError, match="positional-only"):
        Tool.from_function(positional)


# Validation -------------------------------------------------------------------------------


def test_validate_coerces_and_fills_defaults() -> None:
    arguments = match_invoice.validate(
        {"po_number": "PO-1", "lines": [{"sku": "A", "quantity": "3"}]}
    )

    assert arguments == {
        "po_number": "PO-1",
        "lines": [Line(sku="A", quantity=3)],
        "tolerance": 0.5,
        "note": None,
    }
    assert isinstance(arguments["lines"][0], Line)


def test_validate_reports_every_problem_with_its_path() -> None:
    with pytest.raises(ToolArgumentsError) as raised:
        match_invoice.validate({"lines": [{"quantity": "many"}, {"sku": 7}], "tolerance": -1})

    error = raised.value
    assert error.tool == "erp.match_invoice"
    paths = sorted(problem.split(":")[0] for problem in error.errors)
    assert paths == ["lines.0.quantity", "lines.0.sku", "lines.1.sku", "po_number", "tolerance"]
    assert "po_number: Field required" in error.errors
    assert str(error).startswith("invalid arguments for erp.match_invoice: ")
    assert isinstance(error, ValueError)


def test_validate_rejects_arguments_the_schema_does_not_declare() -> None:
    with pytest.raises(ToolArgumentsError) as raised:
        match_invoice.validate({"po_number": "PO-1", "lines": [], "approve": True})

    assert raised.value.errors == ["approve: Extra inputs are not permitted"]


def test_validate_of_a_tool_without_arguments() -> None:
    def ping() -> str:
        return "pong"

    made = Tool.from_function(ping)

    assert made.validate({}) == {}
    assert made.parameters["properties"] == {}
    with pytest.raises(ToolArgumentsError):
        made.validate({"x": 1})


# Context ----------------------------------------------------------------------------------

seen: list[ToolContext] = []


def record_payment(ctx: ToolContext, amount: float) -> str:
    """Record a payment.

    Args:
        ctx: The call's context (not part of the schema).
        amount: Amount in USD.
    """
    seen.append(ctx)
    return ctx.idempotency_key


async def test_a_context_first_parameter_is_injected_not_exposed() -> None:
    made = Tool.from_function(record_payment, effect="write")
    ctx = context(step=4)

    assert made.takes_context
    assert list(made.parameters["properties"]) == ["amount"]
    assert made.parameters["properties"]["amount"]["description"] == "Amount in USD."
    assert await made.run(ctx, made.validate({"amount": 10})) == "run-1:4"
    assert seen[-1] is ctx


# Running ----------------------------------------------------------------------------------


async def test_sync_tools_run_in_a_worker_thread() -> None:
    threads: list[int] = []

    def where(value: int) -> int:
        threads.append(threading.get_ident())
        return value * 2

    made = Tool.from_function(where)

    assert await made.run(context(), {"value": 21}) == 42
    assert threads != [threading.get_ident()]


async def test_async_tools_are_awaited() -> None:
    async def fetch(po_number: str) -> dict[str, str]:
        await asyncio.sleep(0)
        return {"po": po_number}

    made = Tool.from_function(fetch)

    assert await made.run(context(), {"po_number": "PO-1"}) == {"po": "PO-1"}


async def test_a_slow_async_tool_times_out() -> None:
    async def slow() -> None:
        await asyncio.sleep(30)

    made = Tool.from_function(slow, timeout_s=0.01)

    with pytest.raises(TimeoutError):
        await made.run(context(), {})


async def test_a_slow_sync_tool_times_out() -> None:
    release = threading.Event()

    def blocking() -> str:
        release.wait(timeout=30)
        return "late"

    made = Tool.from_function(blocking, timeout_s=0.01)
    try:
        with pytest.raises(TimeoutError):
            await made.run(context(), {})
    finally:
        release.set()  # let the worker thread finish


async def test_tool_errors_propagate() -> None:
    def broken(po_number: str) -> None:
        raise LookupError(f"no purchase order {po_number}")

    made = Tool.from_function(broken)

    with pytest.raises(LookupError, match="no purchase order PO-9"):
        await made.run(context(), {"po_number": "PO-9"})


async def test_results_are_made_json_ready() -> None:
    def invoice(number: str) -> dict[str, Any]:
        return {
            "invoice": Invoice(number=number, total=12.5, issued=dt.date(2024, 5, 1)),
            "lines": (Line(sku="A"),),
            "tags": {"paid"},
        }

    made = Tool.from_function(invoice)

    assert await made.run(context(), {"number": "INV-7"}) == {
        "invoice": {"number": "INV-7", "total": 12.5, "issued": "2024-05-01"},
        "lines": [{"sku": "A", "quantity": 1}],
        "tags": ["paid"],
    }


async def test_a_model_result_becomes_a_dict() -> None:
    async def make_line(sku: str) -> Line:
        return Line(sku=sku, quantity=2)

    made = Tool.from_function(make_line)

    assert await made.run(context(), {"sku": "B"}) == {"sku": "B", "quantity": 2}


def test_a_write_tool_cannot_be_cacheable() -> None:
    def pay(amount: float) -> None:
        """Pay."""

    with pytest.raises(UsageError, match="cannot be cacheable"):
        tool("erp.pay", effect="write", cacheable=True)(pay)
