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


@dataclass(frozen=True, kw_only=True, slots=True)
class CallSettings:
    """Per-call sampling and limits; ``None`` leaves the client's own default."""

    max_tokens: int | None = None
    temperature: float | None = None
    timeout_s: float | None = None


class ModelClient(Protocol):
    """Anything that completes a conversation with optional tool calls."""

    @property
    def name(self) -> str:
        """The model name shown in traces and used to look up its price."""
        ...

    async def complete(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        *,
        settings: CallSettings | None = None,
    ) -> ModelResponse: ...


class ResponseCache(Protocol):
    """Bytes by key with a time to live: the Proctor store, Redis, or memory."""

    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl_s: float) -> None: ...


@dataclass(frozen=True, kw_only=True, slots=True)
class RateLimits:
    """Requests and tokens per minute; ``None`` means unlimited."""

    rpm: int | None = None
    tpm: int | None = None


class RateLimiter(Protocol):
    """Token buckets per scope (a deployment, an API key), shared by whoever holds them."""

    async def acquire(
        self, scope: str, limits: RateLimits, *, tokens: int, max_wait_s: float
    ) -> float:
        """Take one request and ``tokens`` from the buckets, waiting up to ``max_wait_s``.

        Returns the seconds waited; raises ``RateLimitExceeded`` if capacity would take
        longer than that.
        """
        ...

    async def settle(self, scope: str, limits: RateLimits, *, tokens_delta: int) -> None:
        """Correct the token bucket once the real usage is known (estimate -> actual)."""
        ...
