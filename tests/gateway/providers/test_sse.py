"""Cutting a ``text/event-stream`` body into events, however the network splits it."""

from __future__ import annotations

import pytest

from proctor.gateway._errors import ModelCallError
from proctor.gateway._types import ModelDelta, ToolCallDelta
from proctor.gateway.providers._connection import EventSplitter
from proctor.gateway.providers.wire import delta_of
from proctor.store import Usage

BODY = (
    b'data: {"a": 1}\n\n'
    b": a comment, skipped\n"
    b"event: message\r\n"
    b'data: {"b":\r\n'
    b"data: 2}\r\n"
    b"\r\n"
    b"data:[DONE]\n\n"
    b"data: never finished"
)
EVENTS = [b'{"a": 1}', b'{"b":\n2}', b"[DONE]"]


def test_events_come_out_whole_wherever_the_body_is_cut() -> None:
    for cut in range(len(BODY) + 1):
        splitter = EventSplitter()
        splitter.feed(BODY[:cut])
        splitter.feed(BODY[cut:])
        assert list(splitter.events) == EVENTS, cut


def test_byte_by_byte() -> None:
    splitter = EventSplitter()
    for i in range(len(BODY)):
        splitter.feed(BODY[i : i + 1])
    assert list(splitter.events) == EVENTS


def test_chunks_become_deltas_with_our_tool_names() -> None:
    names = {"erp__fetch_po": "erp.fetch_po"}
    call = {"index": 1, "id": "c", "type": "function", "function": {"name": "erp__fetch_po"}}
    chunk = {"choices": [{"index": 0, "delta": {"tool_calls": [call]}, "finish_reason": None}]}
    assert delta_of(chunk, names, "m") == ModelDelta(
        tool_calls=(ToolCallDelta(index=1, id="c", name="erp.fetch_po"),)
    )
    usage = {"prompt_tokens": 3, "completion_tokens": 2, "prompt_tokens_details": None}
    assert delta_of({"choices": [], "usage": usage}, names, "m") == ModelDelta(
        usage=Usage(input_tokens=3, output_tokens=2)
    )


@pytest.mark.parametrize(
    "chunk",
    [{"error": {"message": "overloaded"}}, {"choices": [{"delta": {"tool_calls": [{}]}}]}, []],
)
def test_other_shapes_are_invalid_responses(chunk: object) -> None:
    with pytest.raises(ModelCallError) as invalid:
        delta_of(chunk, {}, "model 'm'")
    assert invalid.value.kind == "invalid_response"
