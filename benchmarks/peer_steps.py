"""A governed step beside pydantic-ai, the OpenAI Agents SDK and DBOS, alternated in one process.

Each contender runs the same loop: a fake model proposes one call of a trivial async tool
per turn, for ``steps`` turns, then answers. The tool stamps the clock when it runs, so a
*step* is the time between two tool calls (the previous call's result recorded, the model
turn, the next call checked and started), measured alike for every contender; a *run* is
the whole loop's wall time.

- **Proctor**: the governed loop as shipped (schema validation, the policy decision with a
  CEL approval condition, the hash-chained, redacted events written to a SQLite file in
  WAL mode with ``synchronous=NORMAL``, cost, the fold into ``RunState``); also with a sync
  tool, which runs in a worker thread.
- **pydantic-ai**: an ``Agent`` on its ``FunctionModel`` (the model function keeps a counter,
  so it never walks the conversation), one ``tool_plain`` async tool, no usage limit.
- **openai-agents**: an ``Agent`` on a minimal ``Model`` subclass returning ready-made
  responses, one ``function_tool`` async tool, tracing off (nothing would be exported).
- **DBOS** (SQLite system database, WAL, ``synchronous=NORMAL``): an async workflow of
  ``steps`` async ``@DBOS.step`` calls, against the same loop of plain awaited calls; its
  *added cost per durable step* is the difference of the two.

Neither pydantic-ai nor the Agents SDK records anything durable; DBOS records each step's
output; Proctor records six events per step, hash-chained, in one or two commits.

    python benchmarks/peer_steps.py [--steps 50] [--rounds 40]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from agents import Agent as SdkAgent
from agents import (
    ModelResponse,
    Runner,
    Usage,
    function_tool,
    set_tracing_disabled,
)
from agents.models.interface import Model
from agents.testing import assistant_message, function_call
from dbos import DBOS
from pydantic_ai import Agent as PydanticAgent
from pydantic_ai.messages import ModelMessage, TextPart, ToolCallPart
from pydantic_ai.messages import ModelResponse as PaiResponse
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.usage import UsageLimits

sys.path.insert(0, str(Path(__file__).parent))
import itertools

from bench_report import Comparison, Figure, pct

from proctor.contracts import Contract
from proctor.gateway import ScriptedModel, Turn
from proctor.runtime import Runner as ProctorRunner
from proctor.runtime import Workflow
from proctor.store import SQLiteStore
from proctor.tools import Registry, tool

STAMPS: list[float] = []


def stamp() -> None:
    STAMPS.append(time.perf_counter())


# --- Proctor -------------------------------------------------------------------------------


@tool("kv.get", idempotent=True)
async def kv_get(key: str) -> dict[str, object]:
    """Read a key."""
    stamp()
    return {"key": key, "value": 42}


@tool("kv.get_sync", idempotent=True)
def kv_get_sync(key: str) -> dict[str, object]:
    """Read a key (a sync tool: runs in a worker thread)."""
    stamp()
    return {"key": key, "value": 42}


def proctor_workflow(tool_name: str, steps: int) -> Workflow:
    turns = [Turn(calls=[(tool_name, {"key": f"k{i}"})]) for i in range(steps)]
    turns.append(Turn(text="done"))
    contract = Contract.model_validate(
        {
            "workflow": "bench",
            "limits": {"max_tool_calls": steps + 1, "max_model_calls": steps + 2},
            "model": {"max_tokens": 200},
            "approvals": [{"tool": tool_name, "when": "args.key == 'never'"}],
            "escalation": {"on_policy_violation": True},
        }
    )
    return Workflow(
        name="bench",
        registry=Registry([kv_get, kv_get_sync]),
        contract=contract,
        instructions="benchmark",
        default_model="scripted:bench",
        scripts={
            "bench": lambda: ScriptedModel(scenario="bench", script=turns, priced_as="gpt-4o-mini")
        },
    )


def proctor_contender(store: SQLiteStore, tool_name: str, steps: int) -> Run:
    runner = ProctorRunner(store, proctor_workflow(tool_name, steps))

    async def run() -> None:
        result = await runner.start({"n": steps})
        assert result.outcome == "resolved", result.outcome

    return run


# --- pydantic-ai ---------------------------------------------------------------------------


def pydantic_ai_contender(steps: int) -> Run:
    turn = 0

    def model(messages: list[ModelMessage], info: AgentInfo) -> PaiResponse:
        nonlocal turn
        turn += 1
        if turn <= steps:
            return PaiResponse(parts=[ToolCallPart("kv_get", {"key": f"k{turn}"}, f"c{turn}")])
        return PaiResponse(parts=[TextPart("done")])

    agent = PydanticAgent(FunctionModel(model), instructions="benchmark")

    @agent.tool_plain
    async def kv_get(key: str) -> dict[str, object]:
        """Read a key."""
        stamp()
        return {"key": key, "value": 42}

    async def run() -> None:
        nonlocal turn
        turn = 0
        result = await agent.run("go", usage_limits=UsageLimits(request_limit=None))
        assert result.output == "done", result.output

    return run


# --- openai-agents -------------------------------------------------------------------------


class FakeModel(Model):
    """Returns ready-made responses in turn: ``steps`` tool calls, then an answer."""

    def __init__(self, steps: int) -> None:
        self.responses = [
            ModelResponse(
                output=[function_call("kv_get", {"key": f"k{i}"}, call_id=f"c{i}")],
                usage=Usage(),
                response_id=None,
            )
            for i in range(steps)
        ] + [ModelResponse(output=[assistant_message("done")], usage=Usage(), response_id=None)]
        self.turn = 0

    async def get_response(self, *args: Any, **kwargs: Any) -> ModelResponse:
        response = self.responses[self.turn]
        self.turn += 1
        return response

    def stream_response(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        raise NotImplementedError("the benchmark does not stream")


def openai_agents_contender(steps: int) -> Run:
    set_tracing_disabled(True)

    @function_tool
    async def kv_get(key: str) -> dict[str, object]:
        """Read a key."""
        stamp()
        return {"key": key, "value": 42}

    model = FakeModel(steps)
    agent = SdkAgent(name="bench", instructions="benchmark", model=model, tools=[kv_get])

    async def run() -> None:
        model.turn = 0
        result = await Runner.run(agent, "go", max_turns=steps + 5)
        assert result.final_output == "done", result.final_output

    return run


# --- DBOS ----------------------------------------------------------------------------------


async def plain_step(i: int) -> int:
    stamp()
    return i


@DBOS.step()  # type: ignore[untyped-decorator]
async def durable_step(i: int) -> int:
    stamp()
    return i


@DBOS.workflow()  # type: ignore[untyped-decorator]
async def durable_loop(steps: int) -> int:
    for i in range(steps):
        await durable_step(i)
    return steps


async def plain_loop(steps: int) -> int:
    for i in range(steps):
        await plain_step(i)
    return steps


def launch_dbos(db: Path) -> None:
    """DBOS on a SQLite system database in WAL mode with ``synchronous=NORMAL``."""
    engine = sa.create_engine(f"sqlite:///{db}")

    @sa.event.listens_for(engine, "connect")  # type: ignore[untyped-decorator]
    def pragmas(conn: Any, _record: Any) -> None:
        conn.isolation_level = "IMMEDIATE"  # as DBOS's own SQLite engine does
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=30000")
        conn.execute("PRAGMA foreign_keys=ON")

    DBOS(config={"name": "proctor-bench", "system_database_engine": engine, "log_level": "ERROR"})
    DBOS.launch()


def dbos_contenders(steps: int) -> tuple[Run, Run]:
    async def durable() -> None:
        assert await durable_loop(steps) == steps

    async def plain() -> None:
        assert await plain_loop(steps) == steps

    return durable, plain


# --- the comparison ------------------------------------------------------------------------

Run = Callable[[], Awaitable[None]]


async def alternate(
    contenders: dict[str, Run], rounds: int, seed: int = 21
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Per-step and per-run milliseconds of each contender, one run each per round, in a
    random order each round (seeded), after one run each not counted."""
    steps_ms: dict[str, list[float]] = {name: [] for name in contenders}
    runs_ms: dict[str, list[float]] = {name: [] for name in contenders}
    order = list(contenders)
    shuffle = random.Random(seed).shuffle
    for counted in [False] + [True] * rounds:
        shuffle(order)
        for name in order:
            STAMPS.clear()
            started = time.perf_counter()
            await contenders[name]()
            elapsed = (time.perf_counter() - started) * 1000
            if counted:
                runs_ms[name].append(elapsed)
                steps_ms[name] += [(b - a) * 1000 for a, b in itertools.pairwise(STAMPS)]
    return steps_ms, runs_ms


def compare(steps: int, rounds: int) -> Comparison:
    """The governed-step comparison, as ``run_all.py`` records it."""
    with tempfile.TemporaryDirectory() as tmp:
        launch_dbos(Path(tmp) / "dbos.sqlite")
        try:
            steps_ms, runs_ms = asyncio.run(_measure(Path(tmp), steps, rounds))
        finally:
            DBOS.destroy()
    comparison = Comparison(
        name="governed step",
        method=f"{rounds} rounds x 1 run of {steps} steps per contender, random order each "
        "round, one process; a step is the time between two tool calls",
    )
    per_run = f"per run of {steps} steps"
    for peer in ("pydantic-ai", "openai-agents"):
        comparison.add(Figure.of(f"{peer}: per step", "ms", steps_ms[peer]))
    for name in ("proctor", "proctor, sync tool"):
        for peer in ("pydantic-ai", "openai-agents"):
            comparison.add(
                Figure.of(f"{name}: per step", "ms", steps_ms[name], baseline=f"{peer}: per step")
            )
    durable, plain = steps_ms["dbos durable"], steps_ms["dbos plain"]
    comparison.add(
        Figure(
            name="dbos: added per durable step",
            unit="ms",
            p50=statistics.median(durable) - statistics.median(plain),
            p99=pct(durable, 0.99) - pct(plain, 0.99),
            n=len(durable),
            note="a durable step minus a plain awaited call",
        )
    )
    comparison.add(
        Figure.of(
            "proctor: per step", "ms", steps_ms["proctor"], baseline="dbos: added per durable step"
        )
    )
    for peer in ("pydantic-ai", "openai-agents"):
        comparison.add(Figure.of(f"{peer}: {per_run}", "ms", runs_ms[peer]))
    for peer in ("pydantic-ai", "openai-agents"):
        comparison.add(
            Figure.of(
                f"proctor: {per_run}", "ms", runs_ms["proctor"], baseline=f"{peer}: {per_run}"
            )
        )
    return comparison


async def _measure(
    folder: Path, steps: int, rounds: int
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    store = SQLiteStore(folder / "proctor.db")
    durable, plain = dbos_contenders(steps)
    contenders = {
        "proctor": proctor_contender(store, "kv.get", steps),
        "proctor, sync tool": proctor_contender(store, "kv.get_sync", steps),
        "pydantic-ai": pydantic_ai_contender(steps),
        "openai-agents": openai_agents_contender(steps),
        "dbos durable": durable,
        "dbos plain": plain,
    }
    try:
        return await alternate(contenders, rounds)
    finally:
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    comparison = compare(args.steps, args.rounds)
    comparison.compute_ratios()
    for figure in comparison.figures:
        ratio = "" if figure.ratio_p50 is None else f"  {figure.ratio_p50:.2f}x {figure.baseline}"
        p99 = "" if figure.p99 is None else f", p99 {figure.p99:.3f}"
        print(f"{figure.name:42} p50 {figure.p50:.3f}{p99} {figure.unit}{ratio}")


if __name__ == "__main__":
    main()
