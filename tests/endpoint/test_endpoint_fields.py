"""Nothing is dropped on the way: every request field reaches the upstream, every answer
field reaches the client, content parts pass through, and LangChain's three
structured-output methods work through the gateway."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import BaseModel

from proctor.store import SQLiteStore
from support.fake_openai import Completion, FakeOpenAIServer, FakeToolCall
from support.fake_replies import RawReply
from support.http_endpoint import Endpoint, one_model_config, running_endpoint


@pytest.fixture
async def endpoint(upstream: FakeOpenAIServer, tmp_path: Path) -> AsyncIterator[Endpoint]:
    store = SQLiteStore(tmp_path / "proctor.db")
    try:
        async with running_endpoint(one_model_config(upstream.base_url), store) as running:
            yield running
    finally:
        await store.close()


FIELDS: dict[str, Any] = {
    "tool_choice": "none",
    "response_format": {"type": "json_object"},
    "seed": 7,
    "top_p": 0.5,
    "stop": ["\n\n"],
    "user": "end-user-42",
    "parallel_tool_calls": False,
    "metadata": {"ticket": "T-1"},
    "logprobs": True,
}


async def test_every_request_field_reaches_the_upstream_as_sent(
    endpoint: Endpoint, upstream: FakeOpenAIServer
) -> None:
    upstream.enqueue(Completion(text="{}"))
    tools: Any = [{"type": "function", "function": {"name": "lookup", "parameters": {}}}]
    await endpoint.client().chat.completions.create(
        model="small",
        messages=[{"role": "user", "content": "hi"}],
        tools=tools,
        extra_body={"vendor_knob": {"depth": 2}},  # one no SDK knows: passed through too
        **FIELDS,
    )
    sent = upstream.bodies[-1]
    for name, value in {**FIELDS, "vendor_knob": {"depth": 2}}.items():
        assert sent[name] == value, name


async def test_every_answer_field_reaches_the_client(
    endpoint: Endpoint, upstream: FakeOpenAIServer
) -> None:
    answer = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-mini",
        "system_fingerprint": "fp_123",
        "service_tier": "default",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": None, "refusal": "I cannot."},
                "finish_reason": "stop",
                "logprobs": {"content": []},
            }
        ],
        "usage": {
            "prompt_tokens": 30,
            "completion_tokens": 20,
            "total_tokens": 50,
            "prompt_tokens_details": {"cached_tokens": 10, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 12},
        },
    }
    upstream.enqueue(RawReply(body=orjson.dumps(answer)))
    raw = await endpoint.client().chat.completions.with_raw_response.create(
        model="small", messages=[{"role": "user", "content": "hi"}]
    )
    got = json.loads(raw.content)
    assert got["system_fingerprint"] == "fp_123"
    assert got["service_tier"] == "default"
    choice = got["choices"][0]
    assert choice["message"]["refusal"] == "I cannot."
    assert choice["logprobs"] == {"content": []}
    assert got["usage"]["completion_tokens_details"] == {"reasoning_tokens": 12}
    assert got["usage"]["prompt_tokens_details"] == {"cached_tokens": 10, "audio_tokens": 0}


async def test_every_chunk_field_reaches_a_streaming_client(
    endpoint: Endpoint, upstream: FakeOpenAIServer
) -> None:
    head = {"id": "up", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    extra = {"system_fingerprint": "fp_42", "service_tier": "default", "obfuscation": "xq"}
    chunks = [
        {**head, **extra, "choices": [{"index": 0, "delta": {"role": "assistant"}}]},
        {
            **head,
            **extra,
            "choices": [
                {
                    "index": 0,
                    "delta": {"content": "hi", "refusal": None, "reasoning_content": "hm"},
                    "logprobs": {"content": [{"token": "hi", "logprob": -0.1}]},
                }
            ],
        },
        {**head, **extra, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
    ]
    events = b"".join(b"data: " + orjson.dumps(chunk) + b"\n\n" for chunk in chunks)
    upstream.enqueue(RawReply(body=events + b"data: [DONE]\n\n", content_type="text/event-stream"))
    stream = await endpoint.client().chat.completions.create(
        model="small", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    got = [chunk.model_dump() async for chunk in stream]
    assert [c["system_fingerprint"] for c in got] == ["fp_42"] * 3
    assert {c["service_tier"] for c in got} == {"default"}
    assert got[1]["obfuscation"] == "xq"  # a field the SDK does not know, kept too
    assert got[1]["choices"][0]["logprobs"]["content"][0]["token"] == "hi"
    assert got[1]["choices"][0]["delta"]["reasoning_content"] == "hm"
    assert got[1]["id"] == got[0]["id"] != "up"  # the gateway's own id, as for every answer


async def test_image_parts_pass_through(endpoint: Endpoint, upstream: FakeOpenAIServer) -> None:
    upstream.enqueue(Completion(text="a cat"))
    parts: Any = [
        {"type": "text", "text": "What is this?"},
        {
            "type": "image_url",
            "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"},
        },
    ]
    answer = await endpoint.client().chat.completions.create(
        model="small", messages=[{"role": "user", "content": parts}]
    )
    assert answer.choices[0].message.content == "a cat"
    assert upstream.bodies[-1]["messages"][0]["content"] == parts


async def test_the_sdk_client_sends_the_fields_too(upstream: FakeOpenAIServer) -> None:
    from proctor.gateway import CallSettings, OpenAIModel, UserMessage

    upstream.enqueue(Completion(text="ok"))
    model = OpenAIModel("gpt-4o-mini", base_url=upstream.base_url, api_key="k")
    try:
        await model.complete(
            [UserMessage(content="hi")], [], settings=CallSettings(extra=dict(FIELDS))
        )
    finally:
        await model.aclose()
    sent = upstream.bodies[-1]
    for name, value in FIELDS.items():
        assert sent[name] == value, name


async def test_a_field_the_model_cannot_honour_is_refused_by_name() -> None:
    from proctor.gateway import CallSettings, ModelCallError, ScriptedModel, Turn, UserMessage

    scripted = ScriptedModel(scenario="x", script=[Turn(text="ok")])
    with pytest.raises(ModelCallError, match="seed") as raised:
        await scripted.complete(
            [UserMessage(content="hi")], [], settings=CallSettings(extra={"seed": 3})
        )
    assert raised.value.kind == "bad_request"


class Verdict(BaseModel):
    approve: bool
    reason: str


@pytest.mark.parametrize("method", ["function_calling", "json_mode", "json_schema"])
async def test_langchains_structured_output_methods_work_through_the_gateway(
    endpoint: Endpoint, upstream: FakeOpenAIServer, method: str
) -> None:
    langchain_openai = pytest.importorskip("langchain_openai")
    verdict: dict[str, Any] = {"approve": True, "reason": "within policy"}
    if method == "function_calling":
        call = FakeToolCall(name="Verdict", arguments=json.dumps(verdict), id="call_1")
        upstream.enqueue(Completion(text=None, tool_calls=[call]))
    else:
        upstream.enqueue(Completion(text=json.dumps(verdict)))
    model = langchain_openai.ChatOpenAI(
        model="small", base_url=endpoint.base_url, api_key="unused", max_retries=0
    )
    structured = model.with_structured_output(Verdict, method=method)
    got = await structured.ainvoke("Approve refund R-1 in JSON?")
    assert got == Verdict(**verdict)
    sent = upstream.bodies[-1]
    if method == "function_calling":
        assert sent["tool_choice"]["function"]["name"] == "Verdict"
    elif method == "json_mode":
        assert sent["response_format"] == {"type": "json_object"}
    else:
        assert sent["response_format"]["type"] == "json_schema"
