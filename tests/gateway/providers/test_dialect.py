"""What a client of Anthropic's API sent, on its way to an OpenAI-compatible upstream:
translated where it can be, refused (naming the field) where it cannot."""

from __future__ import annotations

from typing import Any

import pytest

from proctor.gateway import (
    AssistantMessage,
    CallSettings,
    ModelCallError,
    OpenAIModel,
    SystemMessage,
    ToolMessage,
    ToolSpec,
    UserMessage,
)
from proctor.gateway.providers.wire import chat_request
from proctor.store import RecordedToolCall

FETCH = ToolSpec(name="erp.fetch_po", description="", parameters={"type": "object"})


def request(messages: Any = (), **extra: Any) -> dict[str, Any]:
    payload, _ = chat_request(
        "m",
        list(messages) or [UserMessage(content="hi")],
        [FETCH],
        max_tokens=None,
        temperature=None,
        extra=extra,
        where="model 'm'",
    )
    return payload


def test_anthropic_fields_are_translated() -> None:
    payload = request(
        stop_sequences=["END"],
        metadata={"user_id": "u-1"},
        tool_choice={"type": "tool", "name": "erp.fetch_po", "disable_parallel_tool_use": True},
        cache_control={"type": "ephemeral"},
        top_k=4,
        **{"anthropic-beta": "x"},
    )
    assert payload["stop"] == ["END"]
    assert payload["user"] == "u-1"
    assert payload["tool_choice"] == {"type": "function", "function": {"name": "erp__fetch_po"}}
    assert payload["parallel_tool_calls"] is False
    assert payload["top_k"] == 4  # vLLM and Ollama take it; OpenAI says so itself
    assert "cache_control" not in payload
    assert "anthropic-beta" not in payload
    assert request(tool_choice={"type": "any"})["tool_choice"] == "required"


@pytest.mark.parametrize("field", ["thinking", "container", "mcp_servers", "output_config"])
def test_anthropic_only_fields_are_refused(field: str) -> None:
    with pytest.raises(ModelCallError, match=f"'{field}'") as raised:
        request(**{field: {}})
    assert raised.value.kind == "bad_request"
    assert "route of an Anthropic model" in str(raised.value)


def test_anthropic_blocks_become_openai_parts() -> None:
    cached = {"type": "text", "text": "rules", "cache_control": {"type": "ephemeral"}}
    image = {"type": "image", "source": {"type": "url", "url": "https://x/a.png"}}
    source = {"type": "base64", "media_type": "application/pdf", "data": "JV"}
    pdf = {"type": "document", "source": source}
    thinking = {"type": "thinking", "thinking": "t", "signature": "s"}
    call = RecordedToolCall(id="c1", name="erp.fetch_po")
    payload = request(
        [
            SystemMessage(content="rules", parts=(cached,)),
            UserMessage(
                content="rules",
                parts=(cached, image, pdf),
            ),
            AssistantMessage(tool_calls=(call,), parts=(thinking,)),
            ToolMessage(
                call_id="c1", name="erp.fetch_po", content="ok", parts=({"type": "tool_result"},)
            ),
        ]
    )
    assert payload["messages"][0] == {"role": "system", "content": "rules"}
    assert payload["messages"][1]["content"] == [
        {"type": "text", "text": "rules"},
        {"type": "image_url", "image_url": {"url": "https://x/a.png"}},
        {
            "type": "file",
            "file": {"filename": "document.pdf", "file_data": "data:application/pdf;base64,JV"},
        },
    ]
    assert "thinking" not in str(payload["messages"][2])  # the turn's text and calls only
    picture = {"type": "image", "source": {"type": "base64"}}
    with pytest.raises(ModelCallError, match="a tool_result holding a 'image' block"):
        request(
            [
                ToolMessage(
                    call_id="c1",
                    name="erp.fetch_po",
                    content="",
                    parts=({"type": "tool_result", "content": [picture]},),
                )
            ]
        )
    with pytest.raises(ModelCallError, match="'search_result' block"):
        request([UserMessage(content="", parts=({"type": "search_result"},))])


def test_the_sdk_client_translates_the_same_way() -> None:
    model = OpenAIModel("m", api_key="k")
    payload, _ = model._request(
        [UserMessage(content="hi")], [], CallSettings(extra={"stop_sequences": ["X"], "seed": 1})
    )
    assert payload["extra_body"] == {"stop": ["X"], "seed": 1}
    with pytest.raises(ModelCallError, match="'thinking'"):
        model._request([UserMessage(content="hi")], [], CallSettings(extra={"thinking": {}}))
