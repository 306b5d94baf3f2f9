"""The fake OpenAI server's answers to ``POST /v1/embeddings`` (see ``fake_openai``).

``Embedding`` honours the request: one vector per input (a text, texts, token arrays),
``dimensions`` long (default 4), as floats or, for ``encoding_format: base64``, as
little-endian float32 in base64, as OpenAI sends them. The vector of an input is a
function of its position and size, so tests can compute what to expect (``vector``).
"""

from __future__ import annotations

import base64
import struct
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from support.fake_replies import RecordedRequest, Reply, send_json

DEFAULT_DIMENSIONS = 4


def vector(index: int, dimensions: int = DEFAULT_DIMENSIONS) -> list[float]:
    """The fake's embedding of the input at ``index``: exact in float32."""
    return [(index + 1) + j / 4 for j in range(dimensions)]


def inputs_of(body: Any) -> list[Any]:
    """The request's inputs as a list (a single text or token array is one input)."""
    value = body.get("input")
    if isinstance(value, str) or (isinstance(value, list) and value and isinstance(value[0], int)):
        return [value]
    return list(value or [])


def tokens_of(item: Any) -> int:
    """A fake token count: words of a text, length of a token array."""
    return len(item.split()) if isinstance(item, str) else len(item)


@dataclass(frozen=True, kw_only=True)
class Embedding(Reply):
    """An embeddings answer for the request's inputs; ``model`` defaults to the requested."""

    model: str | None = None
    delay_s: float = 0.0

    def write(self, handler: BaseHTTPRequestHandler, request: RecordedRequest) -> None:
        body = request.body if isinstance(request.body, dict) else {}
        inputs = inputs_of(body)
        dimensions = body.get("dimensions") or DEFAULT_DIMENSIONS
        data = []
        for index, _ in enumerate(inputs):
            floats = vector(index, dimensions)
            embedding: Any = floats
            if body.get("encoding_format") == "base64":
                packed = struct.pack(f"<{len(floats)}f", *floats)
                embedding = base64.b64encode(packed).decode()
            data.append({"object": "embedding", "index": index, "embedding": embedding})
        tokens = sum(tokens_of(item) for item in inputs)
        send_json(
            handler,
            200,
            {
                "object": "list",
                "data": data[::-1],  # out of order on purpose: readers sort by index
                "model": self.model or body.get("model") or "fake-embedding",
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            },
        )
