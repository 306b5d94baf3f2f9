"""OpenAI's chat completions as a ``WireApi`` (``POST /v1/chat/completions``)."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.responses import Response

from proctor.endpoint._api import Parsed
from proctor.endpoint._errors import ApiError
from proctor.endpoint._stream import DONE, ChunkWriter, error_event
from proctor.endpoint._wire import completion, error, now_s, parse_request
from proctor.gateway import GatewayResult, ModelDelta


class ChatCompletions:
    """``chat.completion`` objects, ``chat.completion.chunk`` events, OpenAI's errors."""

    id_prefix = "chatcmpl-"
    forwarded_headers: tuple[str, ...] = ()

    def parse(self, body: bytes) -> Parsed:
        request = parse_request(body)
        include_usage = request.stream_options is not None and request.stream_options.include_usage
        return Parsed(
            route=request.model,
            messages=request.to_messages(),
            tools=request.to_tools(),
            settings=request.settings(),
            stream=bool(request.stream),
            echo=include_usage,
        )

    def answer(self, result: GatewayResult, parsed: Parsed, answer_id: str) -> bytes:
        return completion(result.response, answer_id, now_s())

    def stream(self, parsed: Parsed, answer_id: str, model: str) -> _ChatStream:
        return _ChatStream(ChunkWriter(answer_id, now_s(), model), include_usage=parsed.echo)

    def error(self, failure: ApiError, request_id: str | None) -> Response:
        return failure.response(request_id)


@dataclass(slots=True)
class _ChatStream:
    writer: ChunkWriter
    include_usage: bool

    def delta(self, delta: ModelDelta) -> bytes | None:
        return self.writer.delta(delta)

    def finish(self, result: GatewayResult) -> bytes:
        # The usage chunk only when asked for (stream_options.include_usage).
        if self.include_usage:
            return self.writer.usage(result.response.usage) + DONE
        return DONE

    def failed(self, failure: ApiError) -> bytes:
        return error_event(error(failure.message, failure.kind, failure.code))
