"""OpenAI's embeddings wire format (``POST /embeddings``), shared by both OpenAI clients.

Vectors are read as the upstream sent them: floats as floats, and a base64 string
(``encoding_format: base64``) as the string, never decoded and re-encoded.
"""

from __future__ import annotations

from typing import Any

import orjson

from proctor.gateway._embeddings import EmbeddingInput, Embeddings, EmbedSettings, Vector
from proctor.gateway._errors import ModelCallError
from proctor.store import Usage


def embeddings_request(
    model: str, inputs: EmbeddingInput, settings: EmbedSettings
) -> dict[str, Any]:
    """The request body; options the caller left out are left out (the upstream's defaults)."""
    payload: dict[str, Any] = {"model": model, "input": inputs}
    if settings.dimensions is not None:
        payload["dimensions"] = settings.dimensions
    if settings.encoding_format is not None:
        payload["encoding_format"] = settings.encoding_format
    if settings.user is not None:
        payload["user"] = settings.user
    for key, value in (settings.extra or {}).items():
        payload.setdefault(key, value)
    return payload


def embeddings_of(raw: bytes, *, model: str, where: str) -> Embeddings:
    """An embeddings answer as ours, vectors in input order (by their ``index``).

    Raises ``ModelCallError`` (``invalid_response``) for a body of another shape.
    """
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ModelCallError(
            f"{where} answered embeddings with a body that is not valid JSON: check that the "
            "base URL points at an OpenAI-compatible API (usually ending in /v1)",
            kind="invalid_response",
        ) from exc
    try:
        items = sorted(data["data"], key=lambda item: item.get("index", 0))
        vectors: list[Vector] = []
        for item in items:
            vector = item["embedding"]
            if not isinstance(vector, list | str):
                raise TypeError(f"an embedding is a {type(vector).__name__}")
            vectors.append(vector)
        usage = data.get("usage") or {}
        prompt = usage.get("prompt_tokens") or usage.get("total_tokens") or 0
        return Embeddings(vectors=vectors, usage=Usage(input_tokens=prompt), model=model)
    except (KeyError, TypeError, AttributeError) as exc:
        raise ModelCallError(
            f"{where} answered JSON that is not an embeddings list ({exc!r}): check that the "
            "server is OpenAI-compatible and that the model is an embedding model",
            kind="invalid_response",
        ) from exc
