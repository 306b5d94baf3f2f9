"""The registry: the only tools a run can call."""

from __future__ import annotations

import pytest

from proctor.errors import UsageError
from proctor.tools import Registry, Tool, tool


@tool("erp.fetch_po")
def fetch_po(po_number: str) -> dict[str, str]:
    """Fetch a purchase order."""
    return {"po": po_number}


@tool("erp.pay", effect="write", risk="high")
def pay(po_number: str, amount: float) -> str:
    """Pay an invoice.

    Args:
        po_number: The purchase order being paid.
        amount: Amount in USD.
    """
    return f"paid {amount} on {po_number}"


@tool("policy.check_thresholds")
def check_thresholds(amount: float) -> bool:
    """Check the amount against approval thresholds."""
    return amount < 10_000


def registry() -> Registry:
    return Registry([pay, fetch_po, check_thresholds])


def test_registered_tools_can_be_looked_up() -> None:
    tools = registry()

    assert len(tools) == 3
    assert tools.get("erp.pay") is pay
    assert tools.get("erp.refund") is None
    assert "erp.fetch_po" in tools
    assert "erp.refund" not in tools
    assert tools.names == ["erp.fetch_po", "erp.pay", "policy.check_thresholds"]
    assert list(tools) == [pay, fetch_po, check_thresholds]


def test_register_returns_the_tool() -> None:
    tools = Registry()

    assert tools.register(pay) is pay
    assert tools.names == ["erp.pay"]


def test_a_name_can_be_registered_once() -> None:
    tools = registry()
    impostor = Tool.from_function(check_thresholds.function, name="erp.pay")

    with pytest.raises(UsageError, match=r"'erp\.pay' is registered twice"):
        tools.register(impostor)
    assert tools.get("erp.pay") is pay

    with pytest.raises(UsageError, match="registered twice"):
        Registry([fetch_po, fetch_po])


def test_specs_describe_every_tool_in_registration_order() -> None:
    specs = registry().specs()

    assert [spec["name"] for spec in specs] == [
        "erp.pay",
        "erp.fetch_po",
        "policy.check_thresholds",
    ]
    assert specs[0] == {
        "name": "erp.pay",
        "description": "Pay an invoice.",
        "parameters": pay.parameters,
    }
    assert specs[0]["parameters"]["required"] == ["po_number", "amount"]
    assert specs[0]["parameters"]["properties"]["amount"]["description"] == "Amount in USD."


def test_specs_of_chosen_tools_follow_the_order_asked() -> None:
    specs = registry().specs(["policy.check_thresholds", "erp.fetch_po"])

    assert [spec["name"] for spec in specs] == ["policy.check_thresholds", "erp.fetch_po"]


def test_specs_of_an_unknown_tool_name_it() -> None:
    with pytest.raises(UsageError, match=r"'erp\.refund'") as raised:
        registry().specs(["erp.pay", "erp.refund"])

    assert "erp.fetch_po" in str(raised.value)  # the message lists what is registered


def test_an_empty_registry_has_no_specs() -> None:
    tools = Registry()

    assert (len(tools), tools.names, tools.specs()) == (0, [], [])
