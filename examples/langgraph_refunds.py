"""A LangChain agent whose refunds need a person: Proctor governs its tool calls.

Runs offline (LangChain's fake chat model plays the model):

    pip install 'proctor[langgraph]'
    python examples/langgraph_refunds.py

The agent is ordinary LangChain 1.x code, plus one line: the Proctor middleware. A
refund over 100 pauses the graph (a LangGraph interrupt, kept by the checkpointer) until
a person approves it, then the graph resumes and the refund runs once. The thread is one
Proctor run in the store ($PROCTOR_DB, else .proctor/proctor.db here): see it with
``proctor trace RUN_ID`` and check its chain with ``proctor audit verify``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from langchain.agents import create_agent
from langchain_core.language_models import LanguageModelInput
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from proctor.contracts import parse_contracts
from proctor.integrations.langgraph import ProctorMiddleware
from proctor.runtime import decide_approval
from proctor.store import open_store, verify_run

CONTRACT = """
workflow: refunds
tools:                        # what the agent's tools do
  lookup_order: {effect: read}
  refund: {effect: write, idempotent: true}
forbidden_tools: [close_account]
approvals:
  - tool: refund
    when: args.amount > 100
    reason: Refunds over 100 need a person.
limits: {max_tool_calls: 20}
"""

REFUNDS: list[dict[str, Any]] = []


@tool
def lookup_order(order: str) -> dict[str, Any]:
    """Look an order up."""
    return {"order": order, "customer": "c-42", "total": 250.0}


@tool
def refund(customer: str, amount: float) -> str:
    """Refund a customer."""
    REFUNDS.append({"customer": customer, "amount": amount})
    return f"Refunded {amount:g} to {customer}."


class FakeModel(GenericFakeChatModel):
    """LangChain's fake chat model, which ignores the tools it is given."""

    def bind_tools(
        self, tools: Sequence[Any], *, tool_choice: str | None = None, **kwargs: Any
    ) -> Runnable[LanguageModelInput, AIMessage]:
        return self


def scripted_model() -> FakeModel:
    def call(number: int, name: str, args: dict[str, Any]) -> AIMessage:
        return AIMessage("", tool_calls=[{"name": name, "args": args, "id": f"call-{number}"}])

    return FakeModel(
        messages=iter(
            [
                call(1, "lookup_order", {"order": "o-7"}),
                call(2, "refund", {"customer": "c-42", "amount": 250.0}),
                AIMessage("Order o-7 is refunded: 250 to c-42."),
            ]
        )
    )


async def main() -> dict[str, Any]:
    store = open_store()
    contract = parse_contracts(CONTRACT)["refunds"]
    thread: RunnableConfig = {"configurable": {"thread_id": "order-o-7"}}
    async with ProctorMiddleware(store, contract, started_by="support-bot") as proctor:
        agent = create_agent(
            scripted_model(),
            [lookup_order, refund],
            middleware=[proctor],  # the wrapping line
            checkpointer=InMemorySaver(),
        )
        paused = await agent.ainvoke({"messages": [HumanMessage("Refund order o-7")]}, thread)
        question = paused["__interrupt__"][0].value
        print(f"paused: {question['message']}")

        # A person decides (in the web UI, or `proctor approve ID --as bob@example.com`).
        await decide_approval(store, question["approval_id"], approved=True, by="bob@example.com")
        state = await agent.ainvoke(Command(resume="approved"), thread)
        answer = state["messages"][-1].content
        print(f"agent: {answer}")
        (run_id,) = proctor.runs("order-o-7")
    verified = (await verify_run(store, run_id)).ok
    await store.close()
    print(f"Proctor run {run_id}: chain verified={verified}; see it with `proctor trace {run_id}`")
    return {
        "approval": question,
        "refunds": list(REFUNDS),
        "answer": answer,
        "run_id": run_id,
        "verified": verified,
    }


if __name__ == "__main__":
    asyncio.run(main())
