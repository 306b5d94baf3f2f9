"""What one API shape (chat completions, Anthropic's messages, OpenAI's responses) gives
the endpoint: how a body becomes a gateway request, and how answers, streams and
failures go back in that API's words.

The endpoint's pipeline is the same for every shape: the key, its routes, budget and
limits, the governor, the gateway, the call ledger, the headers. A ``WireApi`` is only
the translation at both ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from starlette.responses import Response

from proctor.endpoint._errors import ApiError
from proctor.gateway import CallSettings, GatewayResult, Message, ModelDelta, ToolSpec


@dataclass(kw_only=True, slots=True)
class Parsed:
    """A request body in the gateway's terms."""

    route: str
    messages: list[Message]
    tools: list[ToolSpec]
    settings: CallSettings | None
    stream: bool = False
    echo: Any = None
    """What the API's answer needs from its request (stream options, instructions, ...)."""


class StreamFormat(Protocol):
    """One streamed answer's events, in the API's words."""

    def delta(self, delta: ModelDelta) -> bytes | None:
        """The event(s) of one delta; ``None`` when it carries nothing the caller sees."""
        ...

    def finish(self, result: GatewayResult) -> bytes:
        """The events that close a stream that ended well (usage, stop markers)."""
        ...

    def failed(self, failure: ApiError) -> bytes:
        """The event that ends a stream broken off after its first chunk."""
        ...


class WireApi(Protocol):
    """One API shape the endpoint speaks."""

    id_prefix: str
    """Of the ids of answers (``chatcmpl-``, ``msg_``, ``resp_``)."""
    forwarded_headers: tuple[str, ...]
    """Request headers sent on to the upstream (through ``CallSettings.extra``)."""

    def parse(self, body: bytes) -> Parsed:
        """The request, or ``WireError``/``ApiError`` saying what is wrong with it."""
        ...

    def answer(self, result: GatewayResult, parsed: Parsed, answer_id: str) -> bytes:
        """The whole answer's body."""
        ...

    def stream(self, parsed: Parsed, answer_id: str, model: str) -> StreamFormat:
        """The format of one streamed answer."""
        ...

    def error(self, failure: ApiError, request_id: str | None) -> Response:
        """A failure as this API's clients expect it (status, body, headers)."""
        ...
