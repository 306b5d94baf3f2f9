"""Tour, step 3: the refunds workflow, with scripted models so it runs offline.

From the repository root, with ``PYTHONPATH=docs/tour``::

    proctor contract check docs/tour/refunds.yaml --workflow refunds:workflow
    proctor run refunds:workflow --input docs/tour/refund_request.json
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from refund_tools import registry

from proctor.contracts import load_contract
from proctor.gateway import ScriptedModel, Turn
from proctor.runtime import Workflow

CONTRACT = Path(__file__).with_name("refunds.yaml")

INSTRUCTIONS = """\
You handle one refund request. The user message is JSON with customer_id, amount
and reason. Look the customer up with crm.lookup_customer, then refund with
billing.refund. Finish with one sentence saying what you did.
"""

# The n-th model call gets the n-th turn: tool calls as (name, arguments), or a final text.
REFUND_ARGS = {"customer_id": "C-42", "amount": 240.0, "reason": "Charged twice in March"}
REFUND = [
    Turn(calls=[("crm.lookup_customer", {"customer_id": "C-42"})]),
    Turn(calls=[("billing.refund", REFUND_ARGS)]),
    Turn(text="Refunded 240.00 EUR to C-42."),
]

# A model gone wrong: it reaches for a tool the contract forbids.
ROGUE = [
    Turn(calls=[("crm.lookup_customer", {"customer_id": "C-42"})]),
    Turn(calls=[("crm.delete_customer", {"customer_id": "C-42"})]),
    Turn(text="Deleted the customer."),
]


def workflow() -> Workflow:
    """The refunds workflow; ``proctor run refunds:workflow`` calls this."""
    return Workflow(
        name="refunds",
        registry=registry(),
        contract=load_contract(CONTRACT),
        instructions=INSTRUCTIONS,
        default_model="scripted:refund",  # --model picks another: scripted:rogue, openai:...
        scripts={"refund": scripted("refund", REFUND), "rogue": scripted("rogue", ROGUE)},
    )


def scripted(scenario: str, turns: list[Turn]) -> Callable[[], ScriptedModel]:
    """A factory of the scripted model ``scripted:<scenario>``; a fresh one per run."""
    # Priced as a real small model, so traces and `proctor runs` show realistic costs.
    return lambda: ScriptedModel(scenario=scenario, script=turns, priced_as="gpt-4o-mini")
