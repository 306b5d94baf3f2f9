"""Embeddings: what an embeddings call sends and gets back, and the clients that can make one.

Embedding is an optional capability of a model client (``EmbeddingClient``): the
OpenAI-compatible clients have it, a scripted model does not. ``Gateway.embed`` routes
an ``EmbedRequest`` to the deployments of a route that can embed (``_embed``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeAlias, runtime_checkable

from proctor.gateway._tokens import count_text
from proctor.gateway._types import RateLimits
from proctor.store import EventData, Usage

EmbeddingInput: TypeAlias = str | Sequence[str] | Sequence[int] | Sequence[Sequence[int]]
"""A text, texts, a token array or token arrays: OpenAI's ``input``, sent as given."""

Vector: TypeAlias = list[float] | str
"""One embedding: floats, or the upstream's base64 string (``encoding_format: base64``),
passed on untouched."""


@dataclass(frozen=True, kw_only=True, slots=True)
class EmbedSettings:
    """Per-call options of an embeddings request; ``None`` leaves the upstream's default."""

    dimensions: int | None = None
    encoding_format: Literal["float", "base64"] | None = None
    user: str | None = None
    timeout_s: float | None = None
    extra: dict[str, Any] | None = None
    """Other request fields (a vendor's own), sent to the upstream as they are."""


@dataclass(frozen=True, kw_only=True)
class Embeddings:
    """An upstream's answer: one vector per input, in input order, and its usage."""

    vectors: list[Vector]
    usage: Usage
    model: str


@runtime_checkable
class EmbeddingClient(Protocol):
    """A model client that can also embed (``POST {base_url}/embeddings``).

    Failures raise ``ModelCallError`` with the kinds ``complete`` uses, so routing,
    retries and cooldown treat them alike.
    """

    @property
    def name(self) -> str: ...

    async def embed(
        self, inputs: EmbeddingInput, *, settings: EmbedSettings | None = None
    ) -> Embeddings: ...


@dataclass(frozen=True, kw_only=True)
class EmbedRequest:
    """One embeddings request to a route; ``budget_usd``, ``scope`` and ``limits`` as in
    ``ModelRequest``."""

    inputs: EmbeddingInput
    route: str | None = None
    settings: EmbedSettings | None = None
    budget_usd: float | None = None
    scope: str | None = None
    limits: RateLimits | None = None


@dataclass(frozen=True, kw_only=True)
class EmbedResult:
    """The vectors, who made them, what they cost, and what happened on the way."""

    embeddings: Embeddings
    deployment: str
    cost_usd: float | None
    events: tuple[EventData, ...] = ()
    upstream_ms: float = 0.0


def input_tokens(inputs: EmbeddingInput) -> int:
    """The estimated tokens of ``inputs`` (a token array counts its length)."""
    if isinstance(inputs, str):
        return count_text(inputs)
    total = 0
    for item in inputs:
        if isinstance(item, str):
            total += count_text(item)
        elif isinstance(item, int):
            total += 1
        else:
            total += len(item)
    return total
