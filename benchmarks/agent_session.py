"""Per-call overhead of governing an outside agent's calls (``AgentSession.call``).

Each call of an outside agent (an MCP client, a framework's loop) becomes a model turn of
a Proctor run: validation, policy, the durable record (SQLite, WAL), redaction. The tool
does no work, so the figure is what governing one call costs.

    python benchmarks/agent_session.py [--calls 300] [--sessions 10]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from proctor.contracts import Contract
from proctor.integrations import AgentSession
from proctor.runtime import Workflow
from proctor.store import SQLiteStore
from proctor.tools import Registry, tool


@tool("kv.get", idempotent=True)
async def kv_get(key: str) -> dict[str, object]:
    """Read a key."""
    return {"key": key, "value": 42}


def workflow(calls: int) -> Workflow:
    contract = Contract.model_validate(
        {"workflow": "bench", "limits": {"max_tool_calls": calls + 1, "max_model_calls": calls + 2}}
    )
    return Workflow(
        name="bench",
        registry=Registry([kv_get]),
        contract=contract,
        instructions="benchmark",
        default_model="agent:bench",
    )


async def measure(calls: int, sessions: int, db: Path) -> list[float]:
    store = SQLiteStore(db)
    flow = workflow(calls)
    per_call: list[float] = []
    try:
        for index in range(sessions + 1):
            session = await AgentSession.start(store, flow, agent="bench")
            started = time.perf_counter()
            for n in range(calls):
                outcome = await session.call("kv.get", {"key": f"k{n}"})
                assert outcome.status == "ok", outcome
            elapsed = time.perf_counter() - started
            await session.close()
            if index:  # the first session warms up
                per_call.append(elapsed / calls * 1000)
    finally:
        await store.close()
    return per_call


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--sessions", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        samples = asyncio.run(measure(args.calls, args.sessions, Path(tmp) / "runs.db"))
    p50 = statistics.median(samples)
    print(
        f"governed outside-agent call (AgentSession.call): p50 {p50:.3f} ms, min "
        f"{min(samples):.3f} ms ({args.sessions} sessions x {args.calls} calls; SQLite WAL)"
    )
    print(
        f"  vs openai-agents 1.6 ms/step: {p50 / 1.6:.2f}x; vs pydantic-ai 2.2 ms/step: "
        f"{p50 / 2.2:.2f}x"
    )


if __name__ == "__main__":
    main()
