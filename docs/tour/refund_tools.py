"""Tour, step 1: typed tools for a small refunds desk.

Each ``@tool`` gets its JSON Schema from the type hints and its description from the
docstring. ``effect`` and ``risk`` tell policy what a call can do; ``idempotent=True``
promises that a repeated call with the same ``ctx.idempotency_key`` has no second effect,
which lets a resumed run retry it safely.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

from pydantic import Field

from proctor.tools import Registry, ToolContext, tool

# A stand-in CRM, so the tour runs offline.
CUSTOMERS: dict[str, dict[str, Any]] = {
    "C-42": {"customer_id": "C-42", "name": "Ada Lovelace", "plan": "pro", "paid_ytd": 1840.0},
}


@tool("crm.lookup_customer", effect="read", risk="low", idempotent=True)
def lookup_customer(customer_id: str) -> dict[str, Any]:
    """Look up a customer's record in the CRM.

    Args:
        customer_id: The customer id, e.g. 'C-42'.
    """
    if customer_id not in CUSTOMERS:
        raise LookupError(f"no customer {customer_id!r}: ids look like 'C-42'")
    return CUSTOMERS[customer_id]


@tool("billing.refund", effect="write", risk="high", idempotent=True)
def refund(
    ctx: ToolContext,
    customer_id: str,
    amount: Annotated[float, Field(gt=0)],
    reason: str,
) -> dict[str, Any]:
    """Refund an amount to the customer's card.

    Args:
        customer_id: The customer to refund.
        amount: The amount to refund, in EUR.
        reason: Why, in a few words (shown on the customer's statement).
    """
    # A real billing API takes the key as its Idempotency-Key header: the run id plus the
    # step, stable across resumes, so a retried call is recognised and not paid twice.
    refund_id = "re_" + hashlib.sha256(ctx.idempotency_key.encode()).hexdigest()[:10]
    return {"refund_id": refund_id, "customer_id": customer_id, "amount": amount}


@tool("crm.delete_customer", effect="write", risk="high")
def delete_customer(customer_id: str) -> dict[str, Any]:
    """Delete a customer and their history (the refunds contract forbids this tool).

    Args:
        customer_id: The customer to delete.
    """
    CUSTOMERS.pop(customer_id, None)
    return {"deleted": customer_id}


def registry() -> Registry:
    """The tools a refunds run can call; anything else does not exist for it."""
    return Registry([lookup_customer, refund, delete_customer])
