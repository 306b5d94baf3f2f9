"""A pydantic-ai refund agent under a Proctor contract: one added line governs it.

The agent below is ordinary pydantic-ai code; ``capabilities=[governor]`` is the only
Proctor line in it. Its model is pydantic-ai's ``FunctionModel`` replaying what a real
model would do (look the customer up, try to delete them, refund 500), so this runs
offline:

    pip install 'proctor[pydantic-ai]'
    python examples/pydantic_ai_refunds.py

The contract forbids deleting customers (the model is told, the tool never runs) and asks
a person to approve refunds over 100: the first agent run ends with pydantic-ai's
``DeferredToolRequests``, Bob approves in Proctor, and the run given the results refunds
once. Both agent runs are one Proctor run: verified, with a trace, a receipt, replay.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

from pydantic_ai import Agent, DeferredToolRequests, DeferredToolResults
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from proctor.contracts import Contract
from proctor.integrations.pydantic_ai import Governor
from proctor.runtime import decide_approval
from proctor.store import SQLiteStore, ToolFinished, row_to_event, verify_run

CONTRACT = Contract.model_validate(
    {
        "workflow": "refund_desk",
        "tools": {"lookup_customer": {"effect": "read"}, "refund": {"risk": "high"}},
        "forbidden_tools": ["delete_customer"],
        "approvals": [{"tool": "refund", "when": "args.amount > 100"}],
        "limits": {"max_tool_calls": 10},
    }
)

REFUNDS: list[dict[str, Any]] = []


def model_turns(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """What a real model might answer, one response per request of the run."""
    asked = sum(isinstance(m, ModelResponse) for m in messages)
    if asked == 0:
        calls = [
            ToolCallPart("lookup_customer", {"customer": "c-42"}),
            ToolCallPart("delete_customer", {"customer": "c-42"}),
        ]
        return ModelResponse(parts=calls)
    if asked == 1:
        return ModelResponse(parts=[ToolCallPart("refund", {"customer": "c-42", "amount": 500})])
    return ModelResponse(parts=[TextPart("Refunded 500 to c-42.")])


def build_agent(governor: Governor) -> Agent[None, str | DeferredToolRequests]:
    """The existing agent: only ``capabilities=[governor]`` is Proctor's."""
    agent: Agent[None, str | DeferredToolRequests] = Agent(
        FunctionModel(model_turns),
        output_type=[str, DeferredToolRequests],  # approvals end a run as deferred calls
        instructions="You handle refund requests.",
        name="refund-desk",
        capabilities=[governor],
    )

    @agent.tool_plain
    def lookup_customer(customer: str) -> dict[str, Any]:
        """Find a customer's account."""
        return {"customer": customer, "tier": "gold", "balance": 1200}

    @agent.tool_plain
    def delete_customer(customer: str) -> str:
        """Delete a customer's account."""
        raise AssertionError("never runs: the contract forbids it")

    @agent.tool_plain
    def refund(customer: str, amount: float) -> dict[str, Any]:
        """Refund a customer."""
        REFUNDS.append({"customer": customer, "amount": amount})
        return {"refunded": amount}

    return agent


async def main(db: Path | None = None) -> dict[str, Any]:
    """Run the agent, approve its refund as Bob, finish; what happened, for the tests."""
    folder = tempfile.mkdtemp(prefix="proctor-pydantic-ai-")
    store = SQLiteStore(db or Path(folder) / "runs.db")
    governor = Governor(store, CONTRACT, started_by="support-bot")
    agent = build_agent(governor)
    try:
        first = await agent.run("Customer c-42 wants 500 back and their account closed.")
        requests = first.output
        assert isinstance(requests, DeferredToolRequests)
        (call,) = requests.approvals
        approval_id = requests.metadata[call.tool_call_id]["proctor_approval_id"]
        print(f"waiting: {call.tool_name} {call.args} needs approval {approval_id}")

        # A person decides in Proctor (the web UI, `proctor approve`, or this call) ...
        await decide_approval(store, approval_id, approved=True, by="bob", reason="loyal")
        # ... and the agent goes on from where it stopped.
        results = DeferredToolResults(approvals={call.tool_call_id: True})
        second = await agent.run(
            message_history=first.all_messages(), deferred_tool_results=results
        )
        print("agent:", second.output)

        run_id = governor.runs[first.run_id]
        assert governor.runs[second.run_id] == run_id  # one Proctor run for both
        record = await store.get_run(run_id)
        assert record is not None
        events = [row_to_event(row).data for row in await store.events(run_id)]
        ran = [e.tool for e in events if isinstance(e, ToolFinished) and e.ok]
        verified = (await verify_run(store, run_id)).ok
        print(f"proctor run {run_id}: {record.outcome}, tools run: {ran}, verified: {verified}")
        print(f"see it: proctor --db {store.path} trace {run_id}")
        return {"run_id": run_id, "outcome": record.outcome, "ran": ran, "verified": verified}
    finally:
        await store.close()


if __name__ == "__main__":
    asyncio.run(main())
