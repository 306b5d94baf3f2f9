"""Rough token counts (four characters a token) for where no provider count exists yet.

Used before a call is sent: to project its cost against a budget, to charge a rate
limit, to decide on compaction. Every figure derived from it is flagged as an estimate;
the provider's usage replaces it once the call returns.
"""

from __future__ import annotations

from collections.abc import Sequence

import orjson

from proctor.gateway._types import AssistantMessage, Message, ToolSpec


def message_chars(message: Message) -> int:
    if isinstance(message, AssistantMessage):
        calls = sum(len(c.name) + len(orjson.dumps(c.arguments)) for c in message.tool_calls)
        return len(message.text or "") + calls
    return len(message.content)


def tools_chars(tools: Sequence[ToolSpec]) -> int:
    return sum(len(t.name) + len(t.description) + len(orjson.dumps(t.parameters)) for t in tools)


def chars_to_tokens(chars: int) -> int:
    return (chars + 3) // 4


def estimate_tokens(messages: Sequence[Message], tools: Sequence[ToolSpec]) -> int:
    """The estimated prompt size of ``messages`` with ``tools``: O(size of the prompt)."""
    return chars_to_tokens(sum(message_chars(m) for m in messages) + tools_chars(tools))
