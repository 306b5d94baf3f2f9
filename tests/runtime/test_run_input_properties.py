"""Any JSON-ish run input is recorded and read back equal, or refused with a UsageError.

Threat model: an API key holder or a CLI user sending any body: a value canonical JSON
cannot hold (NaN, integers beyond 64 bits, lone surrogates, deep nesting) is refused at
the edge, never stored as something else (NaN as null) nor failing deep in a write.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proctor.contracts import Contract
from proctor.errors import UsageError
from proctor.gateway import ScriptedModel, Turn
from proctor.runtime import Runner, Workflow, open_queued, submit
from proctor.store import (
    RunStarted,
    SQLiteStore,
    is_sealed_input,
    json_value_problem,
    row_to_event,
)
from proctor.tools import Registry

# Text with every code point, lone surrogates included (hypothesis leaves those out).
text = st.text(st.characters(exclude_categories=()), max_size=8)
scalars = (
    st.none() | st.booleans() | st.integers() | st.floats() | text | st.sampled_from(
        [2**63 - 1, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1, "\ud800", "a\udfffb", -0.0]
    )
)  # fmt: skip
values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(text, children, max_size=3),
    max_leaves=12,
)


def nested(depth: int) -> dict[str, Any]:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return {"deep": value}


inputs = st.dictionaries(text, values, max_size=4) | values | st.integers(120, 135).map(nested)


@pytest.fixture(params=["start", "submit"])
async def record(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[Callable[[Any], Any]]:
    """Record a run's input as ``Runner.start`` does, or as ``submit`` queues it; return
    what the store gives back."""
    store = SQLiteStore(tmp_path / "runs.db")
    flow = Workflow(
        name="echo",
        registry=Registry([]),
        # Redaction off: the record must hold the input exactly as it was sent.
        contract=Contract.model_validate({"workflow": "echo", "redaction": {"enabled": False}}),
        instructions="Answer.",
        default_model="scripted:done",
        scripts={"done": lambda: ScriptedModel(scenario="done", script=[Turn(text="ok")])},
    )
    runner = Runner(store, flow)

    async def started(value: Any) -> Any:
        result = await runner.start(value)
        first = row_to_event((await store.events(result.run_id))[0]).data
        assert isinstance(first, RunStarted)
        return first.input

    async def queued(value: Any) -> Any:
        run_id = await submit(store, "echo", value, load=lambda ref: flow)
        [item] = await store.queue_items(run_ids=[run_id])
        # Queued sealed under the run's own key: what a worker opens is what was sent.
        assert is_sealed_input(item.input)
        return (await open_queued(store, runner.deps.keys, item)).input

    yield started if request.param == "start" else queued
    await store.close()


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(inputs)
async def test_an_input_is_recorded_as_sent_or_refused(
    record: Callable[[Any], Any], value: Any
) -> None:
    if isinstance(value, dict) and json_value_problem(value) is None:
        assert await record(value) == value
    else:
        with pytest.raises(
            UsageError, match=r"a run's input must be a JSON object|cannot be recorded"
        ):
            await record(value)
