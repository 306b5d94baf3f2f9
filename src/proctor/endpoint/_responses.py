"""OpenAI's Responses API as a ``WireApi`` (``POST /v1/responses``).

Requests are translated by ``_responses_wire``. An answer is a ``response`` object: a
``message`` item with the text (``output_text``, or ``refusal``) and a ``function_call``
item per tool call, usage in the Responses API's words. A stream is its typed events,
each with its ``sequence_number``: ``response.created`` and ``response.in_progress``, then
per item ``response.output_item.added``, its content or arguments as deltas and their
``.done`` events, ``response.output_item.done``; then ``response.completed`` (or
``response.incomplete``, cut short by ``max_output_tokens``). A stream that breaks off
after its first event ends with an ``error`` event and ``response.failed``.

Items are streamed one after the other, as OpenAI does: an item is done before the next
is added (clients such as LangChain number their content blocks by that order).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.responses import Response

from proctor.endpoint._api import Parsed
from proctor.endpoint._errors import ApiError
from proctor.endpoint._responses_wire import Echo, parse_responses
from proctor.gateway import GatewayResult, ModelDelta, ModelResponse
from proctor.gateway.providers.wire import call_arguments
from proctor.store import Usage

# Chat completions' finish reasons that leave a response incomplete, and why.
_INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


class OpenAIResponses:
    """``response`` objects, their typed stream events, OpenAI's errors."""

    id_prefix = "resp_"
    forwarded_headers: tuple[str, ...] = ()

    def parse(self, body: bytes) -> Parsed:
        call = parse_responses(body)
        return Parsed(
            route=call.route,
            messages=call.messages,
            tools=call.tools,
            settings=call.settings,
            stream=call.stream,
            echo=call.echo,
        )

    def answer(self, result: GatewayResult, parsed: Parsed, answer_id: str) -> bytes:
        response = result.response
        suffix = answer_id.removeprefix(self.id_prefix)
        items = _output(response, suffix)
        status, incomplete = _status(response.finish_reason)
        body = _response(answer_id, response.model, parsed.echo, status=status, output=items)
        body["incomplete_details"] = incomplete
        body["usage"] = usage_object(response.usage)
        service_tier = (response.extra or {}).get("response", {}).get("service_tier")
        if service_tier is not None:
            body["service_tier"] = service_tier
        return orjson.dumps(body)

    def stream(self, parsed: Parsed, answer_id: str, model: str) -> ResponsesStream:
        return ResponsesStream(answer_id=answer_id, model=model, echo=parsed.echo)

    def error(self, failure: ApiError, request_id: str | None) -> Response:
        return failure.response(request_id)


def usage_object(usage: Usage) -> dict[str, Any]:
    """Usage in the Responses API's words."""
    return {
        "input_tokens": usage.input_tokens,
        "input_tokens_details": {
            "cached_tokens": usage.cached_input_tokens,
            "cache_write_tokens": usage.cache_write_tokens,
        },
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": usage.total,
    }


def _status(finish_reason: str | None) -> tuple[str, dict[str, str] | None]:
    reason = _INCOMPLETE.get(finish_reason or "")
    return ("completed", None) if reason is None else ("incomplete", {"reason": reason})


def _response(
    answer_id: str, model: str, echo: Echo, *, status: str, output: list[dict[str, Any]]
) -> dict[str, Any]:
    """A ``response`` object, without usage: what it repeats of its request, its output."""
    now = time.time()
    return {
        "id": answer_id,
        "object": "response",
        "created_at": int(now),
        "completed_at": int(now) if status == "completed" else None,
        "status": status,
        "background": False,
        "error": None,
        "incomplete_details": None,
        "instructions": echo.instructions,
        "max_output_tokens": echo.max_output_tokens,
        "metadata": echo.metadata,
        "model": model,
        "output": output,
        "parallel_tool_calls": echo.parallel_tool_calls,
        "previous_response_id": None,
        "reasoning": echo.reasoning or {"effort": None, "summary": None},
        "store": False,
        "temperature": echo.temperature,
        "text": echo.text,
        "tool_choice": echo.tool_choice,
        "tools": echo.tools,
        "top_p": echo.top_p,
        "truncation": "disabled",
        "usage": None,
        "user": echo.user,
    }


def _output(response: ModelResponse, suffix: str) -> list[dict[str, Any]]:
    message = (response.extra or {}).get("message", {})
    content: list[dict[str, Any]] = []
    if response.text:
        annotations = [_annotation(a) for a in message.get("annotations") or ()]
        content.append(_text_part(response.text, [a for a in annotations if a is not None]))
    if message.get("refusal"):
        content.append({"type": "refusal", "refusal": message["refusal"]})
    items: list[dict[str, Any]] = []
    status = _status(response.finish_reason)[0]
    if content:
        items.append(_message_item(f"msg_{suffix}", content, status))
    for index, call in enumerate(response.tool_calls):
        items.append(
            _call_item(
                f"fc_{suffix}_{index}", call.id, call.name, call_arguments(call), "completed"
            )
        )
    return items


def _text_part(text: str, annotations: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": annotations or [], "logprobs": []}


def _message_item(item_id: str, content: list[dict[str, Any]], status: str) -> dict[str, Any]:
    return {
        "type": "message",
        "id": item_id,
        "status": status,
        "role": "assistant",
        "content": content,
    }


def _call_item(
    item_id: str, call_id: str, name: str, arguments: str, status: str
) -> dict[str, Any]:
    return {
        "type": "function_call",
        "id": item_id,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": status,
    }


def _annotation(annotation: Any) -> dict[str, Any] | None:
    """A chat completion's ``url_citation`` annotation in the Responses API's shape."""
    if not isinstance(annotation, dict) or annotation.get("type") != "url_citation":
        return None
    citation = annotation.get("url_citation") or {}
    keys = ("start_index", "end_index", "title", "url")
    return {"type": "url_citation", **{k: citation.get(k) for k in keys}}


# Streams ----------------------------------------------------------------------------------


@dataclass(slots=True)
class _Item:
    """A streamed item: a message (``call_id`` ``None``) or a function call; ``parts`` its
    text or arguments so far."""

    id: str
    output_index: int = 0
    call_id: str | None = None
    name: str = ""
    parts: list[str] = field(default_factory=list)

    def wire(self, status: str) -> dict[str, Any]:
        text = "".join(self.parts)
        if self.call_id is None:
            return _message_item(self.id, [_text_part(text)], status)
        return _call_item(self.id, self.call_id, self.name, text, status)


@dataclass(slots=True)
class ResponsesStream:
    """One streamed answer's events (a ``StreamFormat``)."""

    answer_id: str
    model: str
    echo: Echo
    sequence: int = 0
    started: bool = False
    items: list[_Item] = field(default_factory=list)
    """Every item opened, in output order."""
    current: _Item | None = None
    calls: dict[int, _Item] = field(default_factory=dict)
    """The chat stream's tool-call index -> its item."""

    def delta(self, delta: ModelDelta) -> bytes | None:
        events = self._start()
        if delta.text:
            if self.current is None or self.current.call_id is not None:
                messages = sum(1 for item in self.items if item.call_id is None)
                suffix = self._suffix if not messages else f"{self._suffix}_{messages}"
                events += self._open(_Item(id=f"msg_{suffix}"))
            assert self.current is not None
            self.current.parts.append(delta.text)
            events += self._event(
                "response.output_text.delta",
                item_id=self.current.id,
                output_index=self.current.output_index,
                content_index=0,
                delta=delta.text,
                logprobs=[],
            )
        for fragment in delta.tool_calls:
            item = self.calls.get(fragment.index)
            if item is None:
                number = len(self.calls)
                item = _Item(
                    id=f"fc_{self._suffix}_{number}",
                    call_id=fragment.id or f"call_{self._suffix}_{number}",
                    name=fragment.name or "",
                )
                self.calls[fragment.index] = item
                events += self._open(item)
            if fragment.arguments:
                # A fragment of a call already done (an upstream that interleaves calls)
                # still counts: its arguments reach the final response.
                item.parts.append(fragment.arguments)
                events += self._event(
                    "response.function_call_arguments.delta",
                    item_id=item.id,
                    output_index=item.output_index,
                    delta=fragment.arguments,
                )
        return events or None

    def finish(self, result: GatewayResult) -> bytes:
        response = result.response
        events = self._start() + self._close()
        status, incomplete = _status(response.finish_reason)
        item_status = "completed" if status == "completed" else "incomplete"
        output = [item.wire(item_status) for item in self.items]
        body = _response(self.answer_id, self.model, self.echo, status=status, output=output)
        body["incomplete_details"] = incomplete
        body["usage"] = usage_object(response.usage)
        kind = "response.completed" if status == "completed" else "response.incomplete"
        return events + self._event(kind, response=body)

    def failed(self, failure: ApiError) -> bytes:
        code = failure.code or failure.kind
        events = self._start()
        events += self._event("error", code=code, message=failure.message, param=None)
        output = [item.wire("incomplete") for item in self.items]
        body = _response(self.answer_id, self.model, self.echo, status="failed", output=output)
        # The response's error speaks OpenAI's closed set of codes; the event said which kind.
        closed = "rate_limit_exceeded" if failure.status == 429 else "server_error"
        body["error"] = {"code": closed, "message": failure.message}
        return events + self._event("response.failed", response=body)

    @property
    def _suffix(self) -> str:
        return self.answer_id.removeprefix("resp_")

    def _event(self, kind: str, **fields: Any) -> bytes:
        data = orjson.dumps({"type": kind, "sequence_number": self.sequence, **fields})
        self.sequence += 1
        return b"event: " + kind.encode() + b"\ndata: " + data + b"\n\n"

    def _start(self) -> bytes:
        if self.started:
            return b""
        self.started = True
        body = _response(self.answer_id, self.model, self.echo, status="in_progress", output=[])
        created = self._event("response.created", response=body)
        return created + self._event("response.in_progress", response=body)

    def _open(self, item: _Item) -> bytes:
        """Finish the current item, add ``item``: an item is done before the next is added."""
        events = self._close()
        item.output_index = len(self.items)
        self.items.append(item)
        self.current = item
        # A message is added empty: its part comes with its own event.
        added = _message_item(item.id, [], "in_progress") if item.call_id is None else None
        events += self._event(
            "response.output_item.added",
            output_index=item.output_index,
            item=added or item.wire("in_progress"),
        )
        if item.call_id is None:
            events += self._event(
                "response.content_part.added",
                item_id=item.id,
                output_index=item.output_index,
                content_index=0,
                part=_text_part(""),
            )
        return events

    def _close(self) -> bytes:
        """The events that finish the current item, if any."""
        item, self.current = self.current, None
        if item is None:
            return b""
        text = "".join(item.parts)
        where: dict[str, Any] = {"item_id": item.id, "output_index": item.output_index}
        if item.call_id is None:
            part = _text_part(text)
            events = self._event(
                "response.output_text.done", **where, content_index=0, text=text, logprobs=[]
            )
            events += self._event("response.content_part.done", **where, content_index=0, part=part)
        else:
            events = self._event(
                "response.function_call_arguments.done", **where, name=item.name, arguments=text
            )
        done = item.wire("completed")
        return events + self._event(
            "response.output_item.done", output_index=item.output_index, item=done
        )
