"""OpenAI's streamed chat completions on the wire: server-sent events to ``ModelDelta``.

``EventSplitter`` cuts a ``text/event-stream`` body into the payloads of its ``data:``
fields as bytes arrive, however the network splits them; ``delta_of`` turns one
``chat.completion.chunk`` (parsed JSON) into a ``ModelDelta``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

from proctor.gateway._errors import ModelCallError
from proctor.gateway._types import ModelDelta, ToolCallDelta
from proctor.store import Usage

DONE = b"[DONE]"


class EventSplitter:
    """The ``data`` of each complete event, in order (``events``); partial lines wait.

    Only what OpenAI-compatible servers send is kept: ``data:`` lines (several in one
    event are joined by a newline, as the SSE spec says); comments, ``event:``, ``id:``
    and ``retry:`` fields are skipped.
    """

    __slots__ = ("_data", "_partial", "events")

    def __init__(self) -> None:
        self.events: deque[bytes] = deque()
        self._partial = b""
        self._data: list[bytes] = []

    def feed(self, chunk: bytes) -> None:
        if self._partial:
            chunk = self._partial + chunk
        lines = chunk.split(b"\n")
        self._partial = lines.pop()
        for line in lines:
            if line.endswith(b"\r"):
                line = line[:-1]
            if not line:
                if self._data:
                    self.events.append(b"\n".join(self._data))
                    self._data = []
            elif line.startswith(b"data:"):
                self._data.append(line[6:] if line[5:6] == b" " else line[5:])


def delta_of(chunk: Any, names: Mapping[str, str], where: str) -> ModelDelta:
    """One parsed ``chat.completion.chunk`` as a delta; tool names back to ours via ``names``.

    Raises ``ModelCallError`` (``invalid_response``) for an error event or a chunk of
    another shape.
    """
    try:
        error = chunk.get("error")
        if error:
            message = error.get("message") if isinstance(error, dict) else None
            # The SDK's words for the same event, so both clients report it alike.
            raise ModelCallError(
                f"{where} failed: {message or 'An error occurred during streaming'}",
                kind="invalid_response",
            )
        usage = chunk.get("usage")
        choices = chunk.get("choices")
        if not choices:
            return ModelDelta(usage=None if usage is None else usage_of(usage))
        choice = choices[0]
        delta = choice.get("delta") or {}
        calls = delta.get("tool_calls")
        return ModelDelta(
            text=delta.get("content"),
            tool_calls=() if not calls else tuple(_call_delta(call, names) for call in calls),
            finish_reason=choice.get("finish_reason"),
            usage=None if usage is None else usage_of(usage),
        )
    except (AttributeError, TypeError, KeyError, IndexError) as exc:
        raise ModelCallError(
            f"{where} streamed a chunk that is not a chat-completion chunk ({exc!r}): check "
            "that the server is OpenAI-compatible",
            kind="invalid_response",
        ) from exc


def _call_delta(call: dict[str, Any], names: Mapping[str, str]) -> ToolCallDelta:
    function = call.get("function") or {}
    name = function.get("name")
    return ToolCallDelta(
        index=call["index"],
        id=call.get("id"),
        name=None if name is None else names.get(name, name),
        arguments=function.get("arguments") or "",
    )


def usage_of(usage: dict[str, Any]) -> Usage:
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
    return Usage(
        input_tokens=usage.get("prompt_tokens") or 0,
        output_tokens=usage.get("completion_tokens") or 0,
        cached_input_tokens=cached,
    )
