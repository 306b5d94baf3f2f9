"""``store._dump.split`` gives exactly what ``model_dump(mode="json")`` gives, fast or not."""

from __future__ import annotations

import datetime
import enum
import uuid
from typing import Any

import orjson
import pytest

from proctor.store import (
    ModelCalled,
    PolicyDecided,
    RecordedToolCall,
    RunFinished,
    ToolFinished,
    ToolProposed,
    ToolStarted,
    Totals,
    Usage,
)
from proctor.store._dump import _plan, split
from proctor.store._events import _Data


class Color(enum.Enum):
    red = "red"


class Level(enum.StrEnum):
    high = "high"


class MyUsage(Usage):
    extra_field: int = 7


def typed(value: Any) -> Any:
    """``value`` with each scalar's exact type beside it: 1, 1.0 and True differ."""
    if isinstance(value, dict):
        return [(type(k).__name__, k, typed(v)) for k, v in value.items()]
    if isinstance(value, list | tuple):
        return (type(value).__name__, [typed(v) for v in value])
    return (type(value).__name__, repr(value))


def expected(data: _Data) -> tuple[dict[str, Any], dict[str, Any]]:
    meta = data.model_dump(mode="json")
    return meta, {name: meta.pop(name) for name in data.content_fields}


def assert_same(data: _Data) -> None:
    parts = split(data, data.content_fields)
    meta, content = expected(data)
    assert typed(parts.meta) == typed(meta)
    assert typed(parts.content) == typed(content)
    if parts.meta_json is not None:
        assert parts.meta_json == orjson.dumps(meta)
    if parts.content_json is not None:
        assert parts.content_json == orjson.dumps(content)


CALL = RecordedToolCall(id="c1", name="crm.lookup", arguments={"email": "a@b.io", "n": 3})

PLAIN = [
    ModelCalled(
        model="openai:gpt-4o-mini",
        turn=3,
        messages_digest="m" * 64,
        usage=Usage(input_tokens=10, output_tokens=2),
        cost_usd=0.5,
        latency_ms=12.0,
        tool_call_count=1,
        tool_calls=[CALL],
        text="hello",
    ),
    ModelCalled(
        model="m", turn=0, messages_digest="", usage=Usage(), cost_usd=None, latency_ms=1.5
    ),
    ToolProposed(
        call_id="c1",
        step=1,
        tool="t",
        args_digest="d",
        arguments={"a": [1, 2.5, None, True, {"b": "é"}], "z": -0.0, "big": 2**63 - 1},
    ),
    PolicyDecided(call_id="c1", tool="t", decision="deny", rule="r", reason="no"),
    ToolStarted(call_id="c1", tool="t", idempotency_key="k"),
    ToolFinished(call_id="c1", tool="t", ok=True, latency_ms=3.25, result=[1, "two", 3.0]),
    ToolFinished(call_id="c1", tool="t", ok=False, latency_ms=1.0, error="boom"),
    RunFinished(outcome="resolved", reason="done", totals=Totals(cost_usd=None, duration_s=2.0)),
]


@pytest.mark.parametrize("data", PLAIN, ids=lambda d: d.type)
def test_plain_events_take_the_fast_way_and_match_model_dump(data: _Data) -> None:
    assert _plan(type(data)) is not None
    parts = split(data, data.content_fields)
    assert parts.meta_json is not None  # made here, not by the serializer
    assert_same(data)


UNUSUAL: list[Any] = [
    (1, 2),  # a tuple: the serializer makes it a list
    {"when": datetime.datetime(2026, 1, 2, 3, 4, 5)},
    {"id": uuid.UUID(int=5)},
    {"color": Color.red},
    {"n": float("nan")},
    {"inf": [float("inf")]},
    {"usage": Usage(input_tokens=1)},  # a model inside Any
    {1: "non-text key"},
    {"huge": 2**70},
]


@pytest.mark.parametrize("value", UNUSUAL, ids=repr)
def test_values_orjson_would_write_otherwise_take_the_serializer(value: Any) -> None:
    data = ToolFinished(call_id="c", tool="t", ok=True, latency_ms=1.0, result=value)
    parts = split(data, data.content_fields)
    assert parts.content_json is None
    assert_same(data)


def test_numbers_of_the_wrong_type_take_the_serializer() -> None:
    # Only model_construct can leave an int in a float field, or a bool in an int one;
    # the serializer converts them, so the fast way must not pass them through.
    data = ModelCalled.model_construct(
        model="m",
        turn=True,
        messages_digest="",
        usage=Usage.model_construct(input_tokens=1, output_tokens=2.0),
        cost_usd=1,
        latency_ms=2,
        tool_calls=[],
        text=None,
        cache_hit=False,
        finish_reason="stop",
        tool_call_count=0,
    )
    with pytest.warns(UserWarning, match="serializ"):  # the serializer says it converted
        assert_same(data)


def test_a_model_subclass_in_a_model_field_is_serialized_as_the_field_type() -> None:
    data = ModelCalled.model_construct(
        **{
            **dict(PLAIN[1].__dict__),
            "usage": MyUsage(input_tokens=4),
        }
    )
    assert_same(data)


def test_enum_members_in_content_are_stored_as_their_values() -> None:
    data = ToolFinished(call_id="c", tool="t", ok=True, latency_ms=1.0, result=[Level.high])
    parts = split(data, data.content_fields)
    assert type(parts.content["result"][0]) is str  # the JSON's, as the serializer gives
    assert_same(data)


def test_every_event_type_has_a_fast_plan_or_says_why_not() -> None:
    # The closed set of event types: each either dumps fast or is a known exception.
    kinds = _event_types()
    slow = {kind.__name__ for kind in kinds if _plan(kind) is None}
    # RunStarted leaves out an empty session (its own serializer, so logs of runs without
    # one hash as before): once per run, it takes pydantic's way.
    assert slow <= {"CredentialIssued", "LimitReached", "RunStarted"}, slow


def _event_types() -> list[type[_Data]]:
    from proctor.store import _events

    return [
        value
        for value in vars(_events).values()
        if isinstance(value, type) and issubclass(value, _Data) and value is not _Data
    ]
