"""``POST /v1/responses`` over real HTTP with the official ``openai`` client: a text answer,
function tools and a ``function_call_output`` turn, structured output, a budgeted key,
and what is refused (with the field and the fix). Streams: ``test_endpoint_responses_stream``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import openai
import pytest
from openai.types.responses import FunctionToolParam
from pydantic import BaseModel

from proctor.store import SQLiteStore
from support.fake_openai import Completion, FakeOpenAIServer, FakeToolCall
from support.http_endpoint import Endpoint, one_model_config, running_endpoint

FETCH_PO: FunctionToolParam = {
    "type": "function",
    "name": "erp.fetch_po",
    "description": "Fetch a purchase order.",
    "parameters": {"type": "object", "properties": {"po": {"type": "string"}}},
    "strict": True,
}
KEYS = [
    {"name": "alice", "key_env": "ALICE_KEY"},
    {"name": "carol", "key_env": "CAROL_KEY", "budget_usd": 0.001},
]


@pytest.fixture
async def endpoint(upstream: FakeOpenAIServer, db: SQLiteStore) -> AsyncIterator[Endpoint]:
    config = one_model_config(upstream.base_url, keys=KEYS, cache={"backend": "none"})
    async with running_endpoint(config, db) as running:
        yield running


async def test_a_text_answer(endpoint: Endpoint, upstream: FakeOpenAIServer) -> None:
    upstream.enqueue(Completion(text="hello there", prompt_tokens=12, completion_tokens=3))
    raw = await endpoint.client().responses.with_raw_response.create(
        model="small",
        input="hi",
        instructions="be brief",
        max_output_tokens=50,
        temperature=0.2,
        top_p=0.9,
        metadata={"ticket": "T-1"},
        store=False,
        user="u-1",
    )
    answer = raw.parse()
    assert answer.id.startswith("resp_")
    assert answer.id == raw.headers["x-request-id"]
    assert (answer.object, answer.status, answer.model) == ("response", "completed", "gpt-4o-mini")
    assert answer.output_text == "hello there"
    [message] = answer.output
    assert message.type == "message"
    assert message.id.startswith("msg_")
    assert (message.role, message.status) == ("assistant", "completed")
    assert answer.usage is not None
    assert (answer.usage.input_tokens, answer.usage.output_tokens) == (12, 3)
    assert answer.usage.total_tokens == 15
    assert answer.usage.input_tokens_details.cached_tokens == 0
    assert answer.usage.output_tokens_details.reasoning_tokens == 0
    assert (answer.metadata, answer.instructions) == ({"ticket": "T-1"}, "be brief")
    assert raw.http_response.json()["store"] is False
    assert (answer.max_output_tokens, answer.temperature, answer.top_p) == (50, 0.2, 0.9)
    assert raw.headers["x-proctor-deployment"] == "small"
    sent = upstream.bodies[0]
    assert sent["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
    ]
    assert (sent["max_tokens"], sent["temperature"], sent["top_p"], sent["user"]) == (
        50,
        0.2,
        0.9,
        "u-1",
    )
    # Kept by the gateway and echoed: chat completions take metadata only with store.
    assert "metadata" not in sent
    assert "store" not in sent


async def test_function_tools_and_a_function_call_output_turn(
    endpoint: Endpoint, upstream: FakeOpenAIServer
) -> None:
    wanted = FakeToolCall(name="erp__fetch_po", id="call_1", arguments='{"po": "PO-1"}')
    upstream.enqueue(Completion(text=None, tool_calls=[wanted]), Completion(text="PO-1 is paid"))
    client = endpoint.client()
    first = await client.responses.create(
        model="small", input="is PO-1 paid?", tools=[FETCH_PO], tool_choice="required"
    )
    [call] = first.output
    assert call.type == "function_call"
    assert call.id is not None
    assert call.id.startswith("fc_")
    assert (call.call_id, call.name, json.loads(call.arguments)) == (
        "call_1",
        "erp.fetch_po",
        {"po": "PO-1"},
    )
    assert first.tools[0].type == "function"
    sent = upstream.bodies[0]
    assert sent["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "erp__fetch_po",
                "description": "Fetch a purchase order.",
                "parameters": FETCH_PO["parameters"],
                "strict": True,
            },
        }
    ]
    assert sent["tool_choice"] == "required"

    history: list[Any] = [  # the SDK's input types, as a client sends them back
        {"role": "user", "content": "is PO-1 paid?"},
        *[item.model_dump(exclude_none=True) for item in first.output],
        {"type": "function_call_output", "call_id": "call_1", "output": '{"paid": true}'},
    ]
    second = await client.responses.create(model="small", input=history, tools=[FETCH_PO])
    assert second.output_text == "PO-1 is paid"
    assert upstream.bodies[1]["messages"] == [
        {"role": "user", "content": "is PO-1 paid?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "erp__fetch_po", "arguments": '{"po": "PO-1"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"paid": true}'},
    ]


async def test_content_parts_and_tool_choice_map_to_chat_completions(
    endpoint: Endpoint, upstream: FakeOpenAIServer
) -> None:
    image = "data:image/png;base64,iVBORw0KGgo="
    lookup: FunctionToolParam = {**FETCH_PO, "name": "lookup"}
    conversation: list[Any] = [
        {"role": "developer", "content": [{"type": "input_text", "text": "terse"}]},
        {
            "role": "user",
            "content": [
                {"type": "input_text", "text": "what is it?"},
                {"type": "input_image", "image_url": image, "detail": "low"},
                {
                    "type": "input_file",
                    "file_data": "data:application/pdf;base64,JVBE",
                    "filename": "a.pdf",
                },
            ],
        },
        {
            "role": "assistant",
            "content": [{"type": "output_text", "text": "a cat", "annotations": []}],
        },
        {"role": "user", "content": "sure?"},
    ]
    await endpoint.client().responses.create(
        model="small",
        input=conversation,
        tools=[lookup],
        tool_choice={"type": "function", "name": "lookup"},
        parallel_tool_calls=False,
        reasoning={"effort": "low"},
        text={"verbosity": "low"},
    )
    sent = upstream.bodies[0]
    assert sent["messages"] == [
        {"role": "system", "content": "terse"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "what is it?"},
                {"type": "image_url", "image_url": {"url": image, "detail": "low"}},
                {
                    "type": "file",
                    "file": {"file_data": "data:application/pdf;base64,JVBE", "filename": "a.pdf"},
                },
            ],
        },
        {"role": "assistant", "content": "a cat"},
        {"role": "user", "content": "sure?"},
    ]
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "lookup"}}
    assert (sent["parallel_tool_calls"], sent["reasoning_effort"], sent["verbosity"]) == (
        False,
        "low",
        "low",
    )


class Verdict(BaseModel):
    approve: bool
    reason: str


async def test_structured_output_is_chat_completions_response_format(
    endpoint: Endpoint, upstream: FakeOpenAIServer
) -> None:
    upstream.enqueue(Completion(text='{"approve": true, "reason": "within policy"}'))
    parsed = await endpoint.client().responses.parse(
        model="small", input="R-1?", text_format=Verdict
    )
    assert parsed.output_parsed == Verdict(approve=True, reason="within policy")
    response_format = upstream.bodies[0]["response_format"]
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["name"] == "Verdict"
    assert response_format["json_schema"]["strict"] is True
    assert response_format["json_schema"]["schema"]["required"] == ["approve", "reason"]


async def test_an_answer_cut_by_max_output_tokens_is_incomplete(
    endpoint: Endpoint, upstream: FakeOpenAIServer
) -> None:
    upstream.enqueue(Completion(text="it was a dark and", finish_reason="length"))
    answer = await endpoint.client().responses.create(
        model="small", input="a story", max_output_tokens=16
    )
    assert answer.status == "incomplete"
    assert answer.incomplete_details is not None
    assert answer.incomplete_details.reason == "max_output_tokens"
    assert answer.output_text == "it was a dark and"


async def test_a_budgeted_key_and_the_ledger(
    endpoint: Endpoint, upstream: FakeOpenAIServer, db: SQLiteStore
) -> None:
    upstream.enqueue(Completion(text="long", prompt_tokens=10_000, completion_tokens=10_000))
    client = endpoint.client("sk-carol")
    await client.responses.create(model="small", input="hi")  # $0.0075 of $0.001
    with pytest.raises(openai.RateLimitError) as refused:
        await client.responses.create(model="small", input="hi")
    assert refused.value.code == "budget_exceeded"
    assert len(upstream.bodies) == 1
    await endpoint.stop()  # drains the ledger's queue
    rows = list(reversed(await db.gateway_calls()))
    assert [(r.key_name, r.route, r.status, r.error) for r in rows] == [
        ("carol", "small", 200, None),
        ("carol", "small", 429, "budget_exceeded"),
    ]
    assert rows[0].cost_usd == pytest.approx(0.0075)


REFUSED: list[tuple[dict[str, Any], str]] = [
    ({"store": True}, "store: true is not supported"),
    ({"previous_response_id": "resp_1"}, "previous_response_id: this gateway keeps no responses"),
    ({"conversation": "conv_1"}, "conversation:"),
    ({"background": True}, "background:"),
    ({"include": ["reasoning.encrypted_content"]}, "include: reasoning.encrypted_content"),
    ({"truncation": "auto"}, "truncation: auto"),
    ({"tools": [{"type": "web_search"}]}, "tools.0.type: 'web_search' is a tool hosted by OpenAI"),
    (
        {"input": [{"type": "reasoning", "id": "rs_1", "summary": []}]},
        "input.0.type: 'reasoning' items",
    ),
    ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input.0.type: 'item_reference'"),
    (
        {"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "f"}]}]},
        "image by file_id",
    ),
    ({"input": [{"type": "function_call", "call_id": "c"}]}, "input.0.name"),
    ({"reasoning": {"summary": "detailed"}}, "reasoning.summary"),
    ({"tool_choice": {"type": "web_search"}}, "tool_choice:"),
    ({"max_output_tokens": 0}, "max_output_tokens"),
    ({"seed": float("nan")}, "seed is nan"),
]


async def test_what_cannot_be_served_is_a_400_naming_the_field_and_the_fix(
    endpoint: Endpoint, upstream: FakeOpenAIServer
) -> None:
    async with httpx2.AsyncClient(headers={"authorization": "Bearer sk-alice"}) as http:
        for fields, says in REFUSED:
            body = json.dumps({"model": "small", "input": "hi", **fields})  # NaN as JSON5 has it
            answer = await http.post(f"{endpoint.base_url}/responses", content=body)
            assert answer.status_code == 400, fields
            error = answer.json()["error"]
            assert says in error["message"], (fields, error["message"])
            assert error["type"] == "invalid_request_error"
            assert answer.headers["x-should-retry"] == "false"
        for stateful in ({"store": True}, {"previous_response_id": "resp_1"}):
            answer = await http.post(
                f"{endpoint.base_url}/responses", json={"model": "small", "input": "hi", **stateful}
            )
            assert "Fix: send" in answer.json()["error"]["message"]
            assert "the whole conversation as input" in answer.json()["error"]["message"]
    assert upstream.bodies == []


async def test_errors_come_in_openais_shape(endpoint: Endpoint) -> None:
    with pytest.raises(openai.NotFoundError) as missing:
        await endpoint.client().responses.create(model="nope", input="hi")
    assert missing.value.code == "model_not_found"
    with pytest.raises(openai.AuthenticationError):
        await endpoint.client("sk-wrong").responses.create(model="small", input="hi")
