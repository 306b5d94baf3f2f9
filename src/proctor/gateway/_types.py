"""What goes into a model and what comes out, independent of any provider."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeAlias

from proctor.store import RecordedToolCall, Usage


@dataclass(frozen=True, kw_only=True, slots=True)
class SystemMessage:
    content: str
    role: Literal["system"] = "system"


@dataclass(frozen=True, kw_only=True, slots=True)
class UserMessage:
    content: str
    role: Literal["user"] = "user"


@dataclass(frozen=True, kw_only=True, slots=True)
class AssistantMessage:
    text: str | None = None
    tool_calls: tuple[RecordedToolCall, ...] = ()
    role: Literal["assistant"] = "assistant"


@dataclass(frozen=True, kw_only=True, slots=True)
class ToolMessage:
    call_id: str
    name: str
    content: str
    role: Literal["tool"] = "tool"


Message: TypeAlias = SystemMessage | UserMessage | AssistantMessage | ToolMessage


@dataclass(frozen=True, kw_only=True, slots=True)
class ToolSpec:
    """A tool as the model sees it: name, description, JSON Schema of its arguments."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class ModelResponse:
    """One completion: text and/or tool calls, with usage."""

    model: str
    text: str | None = None
    tool_calls: tuple[RecordedToolCall, ...] = ()
    usage: Usage = field(default_factory=Usage)
    finish_reason: str = "stop"


class ModelClient(Protocol):
    """Anything that completes a conversation with optional tool calls."""

    @property
    def name(self) -> str:
        """The model name shown in traces and used to look up its price."""
        ...

    async def complete(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec]
    ) -> ModelResponse: ...
