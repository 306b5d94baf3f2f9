"""A workflow for redaction tests: tools that record what they were given, and a scripted
model that remembers every conversation it was sent."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from proctor.contracts import Contract
from proctor.gateway import AssistantMessage, Message, ScriptedModel, Turn
from proctor.runtime import Workflow
from proctor.tools import Registry, tool
from support.planted import PLANTED, planted_text

RESULT = {"profile": planted_text(), "card_on_file": PLANTED["card"], "key": PLANTED["aws"]}
RUN_INPUT = {
    "customer": {key: PLANTED[key] for key in ("email", "phone", "card", "iban", "ssn")},
    "notes": planted_text(),
}
RECEIVED: list[dict[str, Any]] = []


@tool("crm.lookup", idempotent=True)
def lookup(email: str, note: str) -> dict[str, Any]:
    """Look a customer up."""
    RECEIVED.append({"email": email, "note": note})
    return RESULT


@tool("crm.flaky")
def flaky(ssn: str) -> None:
    """Always fails, quoting what it was given."""
    raise RuntimeError(f"backend refused {ssn} for {PLANTED['email']} ({PLANTED['openai']})")


@tool("billing.refund", effect="write", idempotent=True)
def refund(iban: str, amount: float) -> dict[str, Any]:
    """Refund to an account."""
    RECEIVED.append({"iban": iban, "amount": amount})
    return {"refunded": amount}


class Model:
    """A scripted model that remembers every conversation it was sent."""

    def __init__(self, turns: Sequence[Turn]) -> None:
        self.turns = turns
        self.seen: list[list[Message]] = []

    def __call__(self, messages: Sequence[Message]) -> Turn:
        self.seen.append(list(messages))
        return self.turns[sum(isinstance(m, AssistantMessage) for m in messages)]

    def workflow(self, **contract: Any) -> Workflow:
        return Workflow(
            name="redacting",
            registry=Registry([lookup, flaky, refund]),
            contract=Contract.model_validate({"workflow": "redacting", **contract}),
            instructions="Help the customer.",
            default_model="scripted:test",
            scripts={"test": lambda: ScriptedModel(scenario="test", script=self)},
        )
