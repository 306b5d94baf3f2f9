"""``AnthropicModel`` against the fake Messages API: requests, answers, streams, errors."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from proctor.errors import ConfigError
from proctor.gateway import (
    AnthropicModel,
    AssistantMessage,
    CallSettings,
    Gateway,
    GatewayConfig,
    ModelCallError,
    SystemMessage,
    ToolMessage,
    ToolSpec,
    UserMessage,
)
from proctor.gateway._stream import DeltaAssembler
from proctor.store import RecordedToolCall, Usage
from support.fake_anthropic import FakeAnthropic, FakeError, FakeMessage

HI = [UserMessage(content="hi")]
WAIT_3 = {"retry-after": "3"}
FETCH = ToolSpec(
    name="erp.fetch_po",
    description="Fetch a PO.",
    parameters={"type": "object", "properties": {"po": {"type": "string"}}},
)


@pytest.fixture
def fake() -> FakeAnthropic:
    return FakeAnthropic()


@pytest.fixture
async def model(fake: FakeAnthropic) -> AsyncIterator[AnthropicModel]:
    client = fake.model()
    try:
        yield client
    finally:
        await client.aclose()


async def test_a_text_answer_and_what_was_sent(fake: FakeAnthropic, model: AnthropicModel) -> None:
    fake.enqueue(FakeMessage(text="hello", input_tokens=7, output_tokens=3))

    answer = await model.complete(
        [SystemMessage(content="be brief"), *HI], [], settings=CallSettings(temperature=0.2)
    )

    assert answer.text == "hello"
    assert answer.finish_reason == "stop"
    assert answer.usage == Usage(input_tokens=7, output_tokens=3)
    assert answer.response_id == "msg_fake1"
    sent = fake.requests[0]
    assert sent.headers["x-api-key"] == "sk-ant-test"
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.body == {
        "model": "claude-sonnet-4",
        "max_tokens": 4096,  # required by the API: the documented default
        "system": "be brief",
        "messages": [{"role": "user", "content": "hi"}],
        "temperature": 0.2,
    }


async def test_cache_reads_and_writes_count_as_input(
    fake: FakeAnthropic, model: AnthropicModel
) -> None:
    fake.enqueue(FakeMessage(input_tokens=20, output_tokens=4, cache_read=1000, cache_creation=50))

    answer = await model.complete(HI, [])

    assert answer.usage == Usage(
        input_tokens=1070, output_tokens=4, cached_input_tokens=1000, cache_write_tokens=50
    )
    price = Gateway.single(model).prices.price("claude-sonnet-4")
    assert price is not None
    # 20 at $3, 1000 at $0.30, 50 at $3.75, 4 at $15 (per million)
    assert price.cost(answer.usage) == pytest.approx((60 + 300 + 187.5 + 60) / 1e6)


async def test_tool_use_round_trip(fake: FakeAnthropic, model: AnthropicModel) -> None:
    fake.enqueue(
        FakeMessage(text="Looking.", tool_uses=[("toolu_1", "erp__fetch_po", {"po": "7"})])
    )

    answer = await model.complete(HI, [FETCH])

    assert answer.finish_reason == "tool_calls"
    assert answer.tool_calls == (
        RecordedToolCall(id="toolu_1", name="erp.fetch_po", arguments={"po": "7"}),
    )
    assert fake.requests[0].body["tools"] == [
        {"name": "erp__fetch_po", "input_schema": FETCH.parameters, "description": "Fetch a PO."}
    ]

    turn = AssistantMessage(text=answer.text, tool_calls=answer.tool_calls)
    result = ToolMessage(call_id="toolu_1", name="erp.fetch_po", content='{"total": 5}')
    await model.complete([*HI, turn, result, UserMessage(content="and?")], [FETCH])

    assert fake.requests[1].body["messages"][1:] == [
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Looking."},
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "erp__fetch_po",
                    "input": {"po": "7"},
                },
            ],
        },
        {  # the tool result and the user's next words are one user turn, the result first
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": '{"total": 5}'},
                {"type": "text", "text": "and?"},
            ],
        },
    ]


async def test_a_streamed_answer_with_a_tool_call(
    fake: FakeAnthropic, model: AnthropicModel
) -> None:
    fake.enqueue(
        FakeMessage(
            text="Let me check.",
            thinking="hmm",
            tool_uses=[("toolu_1", "erp__fetch_po", {"po": "7"}), ("toolu_2", "erp__fetch_po", {})],
            input_tokens=5,
            cache_read=100,
            output_tokens=9,
        )
    )
    assembler = DeltaAssembler(model.name)
    deltas = [delta async for delta in model.stream(HI, [FETCH])]
    for delta in deltas:
        assembler.add(delta)

    answer = assembler.response(lambda: 0)
    assert deltas[0].text == ""  # the opening chunk
    assert answer.text == "Let me check."
    assert answer.tool_calls == (
        RecordedToolCall(id="toolu_1", name="erp.fetch_po", arguments={"po": "7"}),
        RecordedToolCall(id="toolu_2", name="erp.fetch_po", arguments={}),
    )
    assert answer.finish_reason == "tool_calls"
    assert answer.usage == Usage(input_tokens=105, output_tokens=9, cached_input_tokens=100)
    assert not answer.usage_estimated
    assert fake.requests[0].body["stream"] is True
    assert fake.requests[0].headers["accept"] == "text/event-stream"


async def test_thinking_is_kept_beside_the_answer(
    fake: FakeAnthropic, model: AnthropicModel
) -> None:
    fake.enqueue(FakeMessage(text="4", thinking="2 + 2"))

    answer = await model.complete(HI, [], settings=CallSettings(extra={"stop": "never"}))

    assert answer.extra == {
        "message": {
            "reasoning_content": "2 + 2",
            "thinking_blocks": [{"type": "thinking", "thinking": "2 + 2", "signature": "sig-1"}],
        }
    }
    assert fake.requests[0].body["stop_sequences"] == ["never"]  # OpenAI's stop, translated


@pytest.mark.parametrize(
    ("reply", "kind", "after"),
    [
        (FakeError(status=429, type="rate_limit_error", headers=WAIT_3), "rate_limited", 3),
        (FakeError(status=529, type="overloaded_error", headers=WAIT_3), "server_error", 3),
        (FakeError(status=500, type="api_error"), "server_error", None),
        (FakeError(status=401, type="authentication_error"), "auth", None),
        (FakeError(status=404, type="not_found_error", message="model: x"), "not_found", None),
        (
            FakeError(status=400, message="prompt is too long: 208310 tokens > 200000 maximum"),
            "context_length",
            None,
        ),
        (FakeError(status=400, message="temperature: range 0..1"), "bad_request", None),
    ],
)
async def test_errors_as_kinds_a_router_acts_on(
    fake: FakeAnthropic, model: AnthropicModel, reply: FakeError, kind: str, after: float | None
) -> None:
    async def streamed() -> None:
        async for _ in model.stream(HI, []):
            pass

    for call in (lambda: model.complete(HI, []), streamed):
        fake.enqueue(reply)
        with pytest.raises(ModelCallError) as raised:
            await call()
        assert raised.value.kind == kind
        assert raised.value.status == reply.status
        assert raised.value.retry_after_s == after
        assert reply.message in str(raised.value)
        assert "claude-sonnet-4" in str(raised.value)


async def test_an_error_event_mid_stream(fake: FakeAnthropic) -> None:
    async def broken(scope: object, receive: object, send: object) -> None:
        del scope, receive
        head = [(b"content-type", b"text/event-stream")]
        await send({"type": "http.response.start", "status": 200, "headers": head})  # type: ignore[operator]
        body = (
            b'event: message_start\ndata: {"type":"message_start","message":{"usage":{}}}\n\n'
            b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error",'
            b'"message":"Overloaded"}}\n\n'
        )
        await send({"type": "http.response.body", "body": body})  # type: ignore[operator]

    import httpx2

    transport = httpx2.ASGITransport(app=broken)
    model = AnthropicModel("c", base_url="http://x", api_key="k", transport=transport)
    stream = model.stream(HI, [])
    assert (await anext(stream)).text == ""
    with pytest.raises(ModelCallError, match="Overloaded") as raised:
        await anext(stream)
    assert raised.value.kind == "server_error"
    await model.aclose()


async def test_extra_fields_are_forwarded_and_openai_only_ones_refused(
    fake: FakeAnthropic, model: AnthropicModel
) -> None:
    extra = {
        "top_k": 5,
        "metadata": {"user_id": "u-1"},
        "tool_choice": "required",
        "parallel_tool_calls": False,
        "anthropic-beta": "interleaved-thinking-2025-05-14",
    }
    await model.complete(HI, [FETCH], settings=CallSettings(extra=extra))

    body = fake.requests[0].body
    assert body["top_k"] == 5
    assert body["metadata"] == {"user_id": "u-1"}
    assert body["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    assert "anthropic-beta" not in body
    assert fake.requests[0].headers["anthropic-beta"] == "interleaved-thinking-2025-05-14"

    with pytest.raises(ModelCallError, match="'response_format'") as raised:
        await model.complete(HI, [], settings=CallSettings(extra={"response_format": {}}))
    assert raised.value.kind == "bad_request"
    assert len(fake.requests) == 1  # refused before sending


PDF = "data:application/pdf;base64,JVB"


async def test_openai_content_parts_are_translated(
    fake: FakeAnthropic, model: AnthropicModel
) -> None:
    parts = (
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
        {"type": "file", "file": {"filename": "a.pdf", "file_data": PDF}},
    )
    await model.complete([UserMessage(content="what is this?", parts=parts)], [])

    assert fake.requests[0].body["messages"][0]["content"] == [
        {"type": "text", "text": "what is this?"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
        {
            "type": "document",
            "source": {"type": "base64", "media_type": "application/pdf", "data": "JVB"},
        },
    ]
    audio = ({"type": "input_audio", "input_audio": {"data": "x", "format": "wav"}},)
    with pytest.raises(ModelCallError, match="'input_audio'"):
        await model.complete([UserMessage(content="", parts=audio)], [])


async def test_anthropic_blocks_pass_as_they_came(
    fake: FakeAnthropic, model: AnthropicModel
) -> None:
    cached = {"type": "text", "text": "long rules", "cache_control": {"type": "ephemeral"}}
    thinking = {"type": "thinking", "thinking": "t", "signature": "s"}
    use = {"type": "tool_use", "id": "toolu_1", "name": "erp__fetch_po", "input": {}}
    result = {"type": "tool_result", "tool_use_id": "toolu_1", "content": "x", "is_error": True}
    call = RecordedToolCall(id="toolu_1", name="erp.fetch_po")
    await model.complete(
        [
            SystemMessage(content="long rules", parts=(cached,)),
            *HI,
            AssistantMessage(tool_calls=(call,), parts=(thinking, use)),
            ToolMessage(call_id="toolu_1", name="erp.fetch_po", content="x", parts=(result,)),
        ],
        [FETCH],
    )

    body = fake.requests[0].body
    assert body["system"] == [cached]
    assert body["messages"][1:] == [
        {"role": "assistant", "content": [thinking, use]},
        {"role": "user", "content": [result]},
    ]


def test_config_defaults_for_anthropic(monkeypatch: pytest.MonkeyPatch) -> None:
    config = GatewayConfig.model_validate(
        {"models": {"claude": {"provider": "anthropic", "model": "claude-sonnet-4"}}}
    )
    assert config.models["claude"].api_key_env == "ANTHROPIC_API_KEY"
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    with pytest.raises(ConfigError, match="ANTHROPIC_API_KEY"):
        Gateway.from_config(config)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant")
    client = Gateway.from_config(config).deployments["claude"].client
    assert isinstance(client, AnthropicModel)
    assert client.base_url == "https://api.anthropic.com"
    assert "sk-ant" not in repr(client)


def test_a_base_url_with_v1_is_accepted() -> None:
    model = AnthropicModel("c", base_url="http://127.0.0.1:9/v1/", api_key="k")
    assert model.base_url == "http://127.0.0.1:9"
