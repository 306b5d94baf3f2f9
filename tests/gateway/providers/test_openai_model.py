"""OpenAIModel over real HTTP, through the real ``openai`` client, against a fake server."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator

import pytest

from proctor.errors import ConfigError, ModelError
from proctor.gateway import (
    AssistantMessage,
    Message,
    OpenAIModel,
    SystemMessage,
    ToolMessage,
    ToolSpec,
    UserMessage,
)
from proctor.gateway._errors import ModelCallError
from proctor.gateway._types import CallSettings
from proctor.store import RecordedToolCall, Usage
from support.fake_openai import (
    Completion,
    FakeOpenAIServer,
    FakeToolCall,
)

FETCH_PO = ToolSpec(
    name="erp.fetch_po",
    description="Fetch a purchase order.",
    parameters={"type": "object", "properties": {"po": {"type": "string"}}},
)
HELLO = [UserMessage(content="hello")]


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as fake:
        yield fake


@pytest.fixture
async def model(server: FakeOpenAIServer) -> AsyncIterator[OpenAIModel]:
    async with OpenAIModel("fake-model", base_url=server.base_url, api_key="unused") as m:
        yield m


async def test_text_completion_round_trip(server: FakeOpenAIServer, model: OpenAIModel) -> None:
    server.enqueue(Completion(text="hi there", prompt_tokens=12, completion_tokens=3))

    response = await model.complete(HELLO, [])

    assert response.text == "hi there"
    assert response.tool_calls == ()
    assert response.usage == Usage(input_tokens=12, output_tokens=3)
    assert response.finish_reason == "stop"
    assert response.model == model.name == "fake-model"
    assert response.response_id == "chatcmpl-fake"  # the provider's id of the answer
    (request,) = server.requests
    assert request.headers["authorization"] == "Bearer unused"
    assert request.body["messages"] == [{"role": "user", "content": "hello"}]
    assert "tools" not in request.body


async def test_options_are_sent() -> None:
    with FakeOpenAIServer() as server:
        async with OpenAIModel(
            "m", base_url=server.base_url, api_key="k", max_tokens=50, temperature=0.2
        ) as model:
            await model.complete(HELLO, [])
    (body,) = server.bodies
    assert body["max_tokens"] == 50
    assert body["temperature"] == 0.2


async def test_tool_calls_map_names_and_messages(
    server: FakeOpenAIServer, model: OpenAIModel
) -> None:
    server.enqueue(
        Completion(
            text=None,
            tool_calls=[FakeToolCall(id="c2", name="erp__fetch_po", arguments='{"po": "PO-2"}')],
        )
    )
    history: list[Message] = [
        SystemMessage(content="be careful"),
        UserMessage(content="check PO-1"),
        AssistantMessage(
            tool_calls=(RecordedToolCall(id="c1", name="erp.fetch_po", arguments={"po": "PO-1"}),)
        ),
        ToolMessage(call_id="c1", name="erp.fetch_po", content='{"total": 10}'),
    ]

    response = await model.complete(history, [FETCH_PO])

    assert response.tool_calls == (
        RecordedToolCall(id="c2", name="erp.fetch_po", arguments={"po": "PO-2"}),
    )
    assert response.text is None
    assert response.finish_reason == "tool_calls"
    (body,) = server.bodies
    assert body["messages"] == [
        {"role": "system", "content": "be careful"},
        {"role": "user", "content": "check PO-1"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "erp__fetch_po", "arguments": '{"po": "PO-1"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": '{"total": 10}'},
    ]
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "erp__fetch_po",
                "description": FETCH_PO.description,
                "parameters": FETCH_PO.parameters,
            },
        }
    ]


@pytest.mark.parametrize("raw", ["{not json", "[1, 2]", '"a string"'])
async def test_arguments_that_are_not_a_json_object_are_kept_raw(
    server: FakeOpenAIServer, model: OpenAIModel, raw: str
) -> None:
    server.enqueue(
        Completion(tool_calls=[FakeToolCall(id="c", name="erp__fetch_po", arguments=raw)])
    )

    response = await model.complete(HELLO, [FETCH_PO])

    (call,) = response.tool_calls
    assert call.name == "erp.fetch_po"
    assert call.arguments == {}
    assert call.raw_arguments == raw


async def test_unknown_tool_names_pass_through(
    server: FakeOpenAIServer, model: OpenAIModel
) -> None:
    server.enqueue(Completion(tool_calls=[FakeToolCall(name="made_up", arguments="{}")]))

    (call,) = (await model.complete(HELLO, [FETCH_PO])).tool_calls

    assert call.name == "made_up"


async def test_colliding_tool_names_are_a_config_error(model: OpenAIModel) -> None:
    clash = ToolSpec(name="erp__fetch_po", description="", parameters={})
    with pytest.raises(ConfigError, match="rename one"):
        await model.complete(HELLO, [FETCH_PO, clash])


async def test_connection_refused_names_the_base_url() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    base_url = f"http://127.0.0.1:{port}/v1"
    async with OpenAIModel("fake-model", base_url=base_url, api_key="unused") as model:
        with pytest.raises(ModelError, match="cannot connect") as caught:
            await model.complete(HELLO, [])
    assert base_url in str(caught.value)
    assert "OPENAI_BASE_URL" in str(caught.value)
    assert caught.value.__cause__ is not None
    assert isinstance(caught.value, ModelCallError)
    assert caught.value.kind == "connection"
    assert caught.value.retryable


async def test_timeout(server: FakeOpenAIServer) -> None:
    server.enqueue(Completion(delay_s=5))
    async with OpenAIModel(
        "fake-model", base_url=server.base_url, api_key="unused", timeout_s=0.2
    ) as model:
        with pytest.raises(ModelCallError, match=r"did not answer within 0\.2s") as caught:
            await model.complete(HELLO, [])
    assert "timeout_s" in str(caught.value)
    assert caught.value.kind == "timeout"


def test_missing_api_key_names_the_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MY_LLM_KEY", raising=False)
    with pytest.raises(ConfigError, match="MY_LLM_KEY") as caught:
        OpenAIModel("m", api_key_env="MY_LLM_KEY")
    assert "MY_LLM_KEY=unused" in str(caught.value)


async def test_key_and_base_url_from_the_environment(
    server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_LLM_KEY", "secret")
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    async with OpenAIModel("fake-model", api_key_env="MY_LLM_KEY") as model:
        assert "secret" not in repr(model)
        await model.complete(HELLO, [])
    (request,) = server.requests
    assert request.headers["authorization"] == "Bearer secret"


async def test_one_sdk_client_per_model(server: FakeOpenAIServer, model: OpenAIModel) -> None:
    await model.complete(HELLO, [])
    first = model._client
    await model.complete(HELLO, [])
    assert model._client is first is not None
    await model.aclose()
    assert model._client is None


async def test_settings_override_the_defaults_for_one_call(server: FakeOpenAIServer) -> None:
    async with OpenAIModel(
        "m", base_url=server.base_url, api_key="k", max_tokens=50, temperature=0.2
    ) as model:
        await model.complete(HELLO, [], settings=CallSettings(max_tokens=7, temperature=0.0))
        await model.complete(HELLO, [], settings=CallSettings(timeout_s=30))
    first, second = server.bodies
    assert (first["max_tokens"], first["temperature"]) == (7, 0.0)
    assert (second["max_tokens"], second["temperature"]) == (50, 0.2)


async def test_settings_timeout_overrides_the_model_timeout(server: FakeOpenAIServer) -> None:
    server.enqueue(Completion(delay_s=5))
    async with OpenAIModel("fake-model", base_url=server.base_url, api_key="unused") as model:
        with pytest.raises(ModelCallError, match=r"within 0\.2s") as caught:
            await model.complete(HELLO, [], settings=CallSettings(timeout_s=0.2))
    assert model.timeout_s == 60
    assert caught.value.kind == "timeout"


async def test_malformed_tool_arguments_do_not_fail_the_call(
    server: FakeOpenAIServer, model: OpenAIModel
) -> None:
    server.enqueue(
        Completion(
            text=None,
            tool_calls=[
                FakeToolCall(id="a", name="erp__fetch_po", arguments='{"po": "PO-1"'),
                FakeToolCall(id="b", name="erp__fetch_po", arguments='{"po": "PO-2"}'),
            ],
        )
    )

    bad, good = (await model.complete(HELLO, [FETCH_PO])).tool_calls

    assert (bad.arguments, bad.raw_arguments) == ({}, '{"po": "PO-1"')
    assert (good.arguments, good.raw_arguments) == ({"po": "PO-2"}, None)
