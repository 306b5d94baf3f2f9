"""An OpenAI Agents SDK agent under Proctor, offline.

The agent below is ordinary SDK code: function tools, an ``Agent``, ``Runner.run``, and
the SDK's human-in-the-loop loop. One line governs it (``governor.wrap``): every tool
call then goes through the contract in ``openai_agents_refunds.yaml``, a large refund
waits for a person (an SDK interruption, decided in Proctor), and the run is recorded
as a Proctor run. The model is the SDK's own ``ScriptedModel``, so nothing leaves the
machine; it also tries a tool the contract forbids.

    pip install 'proctor[openai-agents]'
    PROCTOR_HOME=$(mktemp -d) python examples/openai_agents_refunds.py
    proctor trace <run id>        # with the same PROCTOR_HOME
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from agents import Agent, Runner, function_tool, set_tracing_disabled
from agents.testing import ScriptedModel, assistant_message, function_call

from proctor.contracts import load_contract
from proctor.integrations.openai_agents import Governor
from proctor.store import open_store, verify_run

CONTRACT = Path(__file__).with_name("openai_agents_refunds.yaml")
REFUNDS: list[dict[str, Any]] = []  # what the billing system really paid


@function_tool
def lookup_customer(customer_id: str) -> dict[str, Any]:
    """Look up a customer in the CRM."""
    return {"customer_id": customer_id, "name": "Ada Lovelace", "plan": "pro"}


@function_tool
def refund(customer_id: str, amount: float, reason: str) -> dict[str, Any]:
    """Refund an amount (EUR) to the customer's card."""
    REFUNDS.append({"customer_id": customer_id, "amount": amount})
    return {"refund_id": f"re_{len(REFUNDS)}", "amount": amount}


@function_tool
def delete_customer(customer_id: str) -> str:
    """Delete a customer and their history."""
    raise AssertionError("the contract forbids this: it never runs")


def scripted_model() -> ScriptedModel:
    """What a model might do, turn by turn (a real one: any SDK model)."""
    charge = {"customer_id": "C-42", "amount": 240.0, "reason": "Charged twice in March"}
    return ScriptedModel(
        [
            [function_call("lookup_customer", {"customer_id": "C-42"}, call_id="call_1")],
            [function_call("delete_customer", {"customer_id": "C-42"}, call_id="call_2")],
            [function_call("refund", charge, call_id="call_3")],
            [assistant_message("Refunded 240.00 EUR to C-42.")],
        ]
    )


def build_agent() -> Agent[Any]:
    return Agent(
        name="refunds desk",
        instructions="Look the customer up, then refund what they were overcharged.",
        tools=[lookup_customer, refund, delete_customer],
        model=scripted_model(),
    )


async def main() -> str:
    """Run the agent once; returns the Proctor run's id."""
    set_tracing_disabled(True)  # offline: no traces exported to OpenAI
    store = open_store()
    governor = Governor(store, load_contract(CONTRACT), started_by="support-bot")
    agent = governor.wrap(build_agent())  # the one line that governs the agent

    result = await Runner.run(agent, "C-42 was charged twice in March: refund 240 EUR.")
    while result.interruptions:  # the SDK's human-in-the-loop, decided in Proctor
        state = result.to_state()
        for item in result.interruptions:
            print(f"waiting: {item.name} {item.arguments} (approval {governor.approval_id(item)})")
            await governor.approve(state, item, by="ada@example.com")
            print("approved by ada@example.com")
        result = await Runner.run(agent, state)

    run_id = governor.run_id
    assert run_id is not None
    record = await store.get_run(run_id)
    chain = await verify_run(store, run_id)
    print(f"agent: {result.final_output}")
    print(f"refunds paid: {REFUNDS}")
    print(f"run {run_id}: {record.outcome if record else '?'}, chain ok: {chain.ok}")
    print(f"see it: proctor trace {run_id}")
    await store.close()
    return run_id


if __name__ == "__main__":
    asyncio.run(main())
