"""Runs whose model turns a test compares with what the model was sent: a reader that
fetches three long documents (compacted under a small context budget) and a clerk whose
input holds an e-mail address (redacted in the record). Their scripted models keep every
prompt they are sent (``seen``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

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
    Turn,
    UserMessage,
)
from proctor.runtime import Runner, Workflow
from proctor.runtime._compaction import SUMMARY_INSTRUCTIONS
from proctor.store import Store
from proctor.tools import Registry, tool

DOC = "lorem ipsum " * 250  # 3,000 characters: a result compaction shortens
EMAIL = "jane.doe@example.com"


@tool("docs.fetch", idempotent=True)
def fetch(doc: str) -> str:
    """Fetch a long document."""
    return f"{doc}: {DOC}"


@tool("crm.lookup", idempotent=True)
def lookup(email: str) -> dict[str, Any]:
    """Find a customer by e-mail."""
    return {"customer": "C-17", "email": email, "tier": "gold"}


class Reader:
    """Fetches three documents, then answers; records every prompt it is sent."""

    def __init__(self) -> None:
        self.seen: list[list[Message]] = []

    def __call__(self, messages: Sequence[Message]) -> Turn:
        if isinstance(messages[0], SystemMessage) and messages[0].content == SUMMARY_INSTRUCTIONS:
            return Turn(text="Fetched documents a and b; both are lorem ipsum.")
        self.seen.append(list(messages))
        step = len(self.seen)
        if step <= 3:
            return Turn(calls=[("docs.fetch", {"doc": "abc"[step - 1]})])
        return Turn(text="done")


class Clerk:
    """Looks the customer up by the e-mail in its input, then answers with it."""

    def __init__(self) -> None:
        self.seen: list[list[Message]] = []

    def __call__(self, messages: Sequence[Message]) -> Turn:
        self.seen.append(list(messages))
        if len(self.seen) == 1:
            first = messages[1]
            assert isinstance(first, UserMessage)
            given = json.loads(first.content)
            return Turn(calls=[("crm.lookup", {"email": given["email"]})])
        return Turn(text=f"Customer C-17 ({EMAIL}) is gold.")


def runner(db: Store, registry: Registry, script: Any, model: dict[str, Any]) -> Runner:
    contract = Contract.model_validate(
        {"workflow": "w", "limits": {"max_tool_calls": 10, "max_model_calls": 10}, "model": model}
    )
    flow = Workflow(
        name="w",
        registry=registry,
        contract=contract,
        instructions="Do the task.",
        default_model="small",
    )
    gateway = Gateway(
        deployments={
            "small": Deployment(
                name="small",
                client=ScriptedModel(scenario="small", script=script),
                model="scripted:small",
                price=Price(input_per_million=1, output_per_million=2),
            )
        },
        routes={},
        default_route="small",
        router=Router(RetryConfig(max_retries=0), CooldownConfig()),
    )
    return Runner(db, flow, gateway=gateway)


def reader_runner(db: Store, reader: Reader, context_tokens: int | None = None) -> Runner:
    """The reader's workflow, with a context budget of ``context_tokens`` if given."""
    model: dict[str, Any] = {"default": "small"}
    if context_tokens is not None:
        model["context_tokens"] = context_tokens
    return runner(db, Registry([fetch]), reader, model)


def clerk_runner(db: Store, clerk: Clerk) -> Runner:
    return runner(db, Registry([lookup]), clerk, {"default": "small"})
