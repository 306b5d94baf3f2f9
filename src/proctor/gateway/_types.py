"""What goes into a model and what comes out, independent of any provider."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeAlias, runtime_checkable

from proctor.store import RecordedToolCall, Usage


@dataclass(frozen=True, kw_only=True, slots=True)
class SystemMessage:
    content: str
    role: Literal["system"] = "system"
    parts: tuple[dict[str, Any], ...] | None = None
    """The instructions' blocks as the client sent them (Anthropic's ``system`` blocks with
    ``cache_control``): sent as they are to an upstream of that API; ``content`` is their text."""


@dataclass(frozen=True, kw_only=True, slots=True)
class UserMessage:
    content: str
    role: Literal["user"] = "user"
    parts: tuple[dict[str, Any], ...] | None = None
    """The message's content parts as the client sent them (images, audio, files), when
    it is more than text: sent upstream as they are; ``content`` is their text."""


@dataclass(frozen=True, kw_only=True, slots=True)
class AssistantMessage:
    text: str | None = None
    tool_calls: tuple[RecordedToolCall, ...] = ()
    role: Literal["assistant"] = "assistant"
    parts: tuple[dict[str, Any], ...] | None = None
    """The turn's content blocks as the client sent them, when they hold more than text and
    tool calls (Anthropic's ``thinking`` blocks, ``cache_control``): sent as they are to an
    upstream of that API, which needs them back; other upstreams get ``text`` and
    ``tool_calls``."""


@dataclass(frozen=True, kw_only=True, slots=True)
class ToolMessage:
    call_id: str
    name: str
    content: str
    role: Literal["tool"] = "tool"
    parts: tuple[dict[str, Any], ...] | None = None
    """The result's block as the client sent it, when it is more than text (Anthropic's
    ``tool_result`` with images, ``is_error`` or ``cache_control``); ``content`` is its text."""


Message: TypeAlias = SystemMessage | UserMessage | AssistantMessage | ToolMessage


@dataclass(frozen=True, kw_only=True, slots=True)
class ToolSpec:
    """A tool as the model sees it: name, description, JSON Schema of its arguments."""

    name: str
    description: str
    parameters: dict[str, Any]
    strict: bool | None = None
    """The client's ``strict`` (arguments held to the schema exactly), sent as given;
    ``None`` leaves it out."""


@dataclass(frozen=True, kw_only=True)
class ModelResponse:
    """One completion: text and/or tool calls, with usage."""

    model: str
    text: str | None = None
    tool_calls: tuple[RecordedToolCall, ...] = ()
    usage: Usage = field(default_factory=Usage)
    finish_reason: str = "stop"
    usage_estimated: bool = False
    """The provider sent no usage (a stream without its usage chunk): ``usage`` is estimated."""
    extra: dict[str, Any] | None = None
    """Answer fields Proctor does not act on, as the provider sent them, by where they
    were: ``response`` (``system_fingerprint``, ``service_tier``), ``choice``
    (``logprobs``), ``message`` (``refusal``, ``annotations``), ``usage`` (token details)."""
    response_id: str | None = None
    """The provider's id of this answer (OpenAI's ``chatcmpl-...``, Anthropic's
    ``msg_...``), when it sent one; a cached or streamed answer has none."""


@dataclass(frozen=True, kw_only=True, slots=True)
class ToolCallDelta:
    """A fragment of the tool call at ``index``: the first names it, the rest add arguments."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class ModelDelta:
    """One chunk of a streamed completion, as the provider sent it.

    ``text`` is a piece of the answer (``""`` in a chunk that only opens the message);
    ``finish_reason`` comes with the last choice chunk, ``usage`` usually with a chunk of
    its own after it.
    """

    text: str | None = None
    tool_calls: tuple[ToolCallDelta, ...] = ()
    finish_reason: str | None = None
    usage: Usage | None = None
    extra: dict[str, Any] | None = None
    """Chunk fields Proctor does not act on, as the provider sent them, by where they
    were: ``chunk`` (``system_fingerprint``, ``service_tier``), ``choice`` (``logprobs``),
    ``delta`` (``refusal``, a vendor's ``reasoning_content``)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class CallSettings:
    """Per-call sampling and limits; ``None`` leaves the client's own default."""

    max_tokens: int | None = None
    temperature: float | None = None
    timeout_s: float | None = None
    extra: dict[str, Any] | None = None
    """Request fields Proctor does not act on (``tool_choice``, ``response_format``,
    ``seed``, ...), sent to an OpenAI-compatible upstream as they are; a provider that
    cannot honour them refuses the call (``ModelCallError``, ``bad_request``)."""


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


@runtime_checkable
class StreamingModelClient(ModelClient, Protocol):
    """A client that can also stream: the endpoint relays its chunks as they arrive.

    ``stream`` is an async generator of the answer's chunks. Whatever fails before the
    first chunk is raised as ``complete`` would raise it (same ``ModelCallError`` kinds),
    so routing treats it alike; a failure after that raises ``ModelCallError`` from the
    iteration. Closing the generator early closes the connection (never reused).
    """

    def stream(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        *,
        settings: CallSettings | None = None,
    ) -> AsyncGenerator[ModelDelta, None]: ...


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

    def levels(self, scope: str, limits: RateLimits) -> BucketLevels | None:
        """What ``scope``'s buckets held when this process last saw them (for the
        ``x-ratelimit-*`` headers); ``None`` if it has not seen them."""
        ...


@dataclass(frozen=True, kw_only=True, slots=True)
class BucketLevels:
    """A scope's buckets: requests and tokens left (``None``: unlimited), and the seconds
    until each is full again."""

    requests: float | None
    tokens: float | None
    requests_full_in_s: float = 0.0
    tokens_full_in_s: float = 0.0
