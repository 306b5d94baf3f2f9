"""Streamed answers: deltas assembled into a ``ModelResponse``, and a response cut into deltas.

A streamed call must end as a non-streamed one does (priced, cached, its rate limits
settled), so the deltas relayed to the caller are also gathered here into the complete
answer; a complete answer that was never streamed (a cache hit, a client that cannot
stream) is cut into deltas the same way the endpoint always sent it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from proctor.errors import ModelError
from proctor.gateway._errors import ErrorKind
from proctor.gateway._types import AssistantMessage, ModelDelta, ModelResponse, ToolCallDelta
from proctor.gateway.providers.wire import call_arguments, tool_call
from proctor.store import Usage


class StreamInterrupted(ModelError):
    """A stream broke after its first chunk was relayed: the answer is incomplete.

    ``kind`` says how: ``truncated`` (it ended without a finish reason), ``connection``,
    ``timeout``, ``invalid_response`` (a chunk that could not be read).
    """

    def __init__(self, message: str, *, kind: ErrorKind) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind


@dataclass(slots=True)
class _CallParts:
    id: str = ""
    name: list[str] = field(default_factory=list)
    arguments: list[str] = field(default_factory=list)


class DeltaAssembler:
    """Gathers a stream's deltas: text pieces, tool calls merged by index, finish, usage."""

    __slots__ = ("_calls", "_text", "finish_reason", "model", "usage")

    def __init__(self, model: str) -> None:
        self.model = model
        self._text: list[str] = []
        self._calls: dict[int, _CallParts] = {}
        self.finish_reason: str | None = None
        self.usage: Usage | None = None

    def add(self, delta: ModelDelta) -> None:
        if delta.text:
            self._text.append(delta.text)
        for call in delta.tool_calls:
            parts = self._calls.get(call.index)
            if parts is None:
                parts = self._calls[call.index] = _CallParts()
            if call.id:
                parts.id = call.id
            if call.name:
                parts.name.append(call.name)
            if call.arguments:
                parts.arguments.append(call.arguments)
        if delta.finish_reason is not None:
            self.finish_reason = delta.finish_reason
        if delta.usage is not None:
            self.usage = delta.usage

    def response(self, prompt_tokens: Callable[[], int]) -> ModelResponse:
        """The answer so far; without the provider's usage, it is estimated (and flagged).

        ``prompt_tokens`` estimates the prompt, called only when the usage is missing.
        """
        text = "".join(self._text) or None
        calls = tuple(
            tool_call(parts.id, "".join(parts.name), "".join(parts.arguments))
            for _, parts in sorted(self._calls.items())
        )
        usage, estimated = self.usage, False
        if usage is None:
            from proctor.gateway._tokens import estimate_tokens

            answer = AssistantMessage(text=text, tool_calls=calls)
            usage = Usage(input_tokens=prompt_tokens(), output_tokens=estimate_tokens([answer], []))
            estimated = True
        return ModelResponse(
            model=self.model,
            text=text,
            tool_calls=calls,
            usage=usage,
            finish_reason=self.finish_reason or ("tool_calls" if calls else "stop"),
            usage_estimated=estimated,
        )


_PIECES = re.compile(r"\s*\S+\s*|\s+")


def whole_deltas(response: ModelResponse, *, pieces: bool = False) -> Iterator[ModelDelta]:
    """A complete answer as the deltas of a stream: an opening chunk, the text (in
    word-sized ``pieces`` or whole), each tool call whole, the finish, the usage."""
    yield ModelDelta(text="")
    if response.text:
        for piece in _PIECES.findall(response.text) if pieces else (response.text,):
            yield ModelDelta(text=piece)
    for index, call in enumerate(response.tool_calls):
        arguments = call_arguments(call)
        whole = ToolCallDelta(index=index, id=call.id, name=call.name, arguments=arguments)
        yield ModelDelta(tool_calls=(whole,))
    yield ModelDelta(finish_reason=response.finish_reason)
    yield ModelDelta(usage=response.usage)
