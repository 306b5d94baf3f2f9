"""USD prices per million tokens, and the cost of a call.

Prices come from ``proctor.yaml`` (``prices:``, a model's ``price:``) first, then from the
published list prices of ``genai-prices`` (``_published``). A model neither knows has an
unknown cost, never zero.
"""

from __future__ import annotations

from dataclasses import dataclass

from proctor.store import Usage


@dataclass(frozen=True, kw_only=True, slots=True)
class Price:
    input_per_million: float
    output_per_million: float
    cached_input_per_million: float | None = None
    """Prompt tokens served from the provider's cache (default: the input price)."""
    cache_write_per_million: float | None = None
    """Prompt tokens written to the provider's cache (default: the input price)."""
    tier: tuple[int, Price] | None = None
    """A long-context tier: a prompt of more input tokens than this bills every token at
    that price (Anthropic's and Google's rule for their largest context windows)."""

    def cost(self, usage: Usage) -> float:
        """USD of ``usage``. Cached and cache-written tokens are counted among the input
        tokens, reasoning tokens among the output tokens, as providers report them."""
        if self.tier is not None and usage.input_tokens > self.tier[0]:
            return self.tier[1].cost(usage)
        cached = min(usage.cached_input_tokens, usage.input_tokens)
        written = min(usage.cache_write_tokens, usage.input_tokens - cached)
        base = self.input_per_million
        read_price = (
            base if self.cached_input_per_million is None else self.cached_input_per_million
        )
        write_price = base if self.cache_write_per_million is None else self.cache_write_per_million
        return (
            (usage.input_tokens - cached - written) * base
            + cached * read_price
            + written * write_price
            + usage.output_tokens * self.output_per_million
        ) / 1_000_000


class PriceTable:
    """Looks up a model's price: ``prices`` first, then the published list prices; an
    unknown model's cost is ``None``, never zero."""

    def __init__(self, prices: dict[str, Price] | None = None) -> None:
        self._prices = dict(prices or {})

    def price(self, model: str, *, provider: str | None = None) -> Price | None:
        """``model``'s price (``provider`` narrows the published table's search)."""
        price = self._prices.get(model)
        if price is not None:
            return price
        from proctor.gateway._published import published_price

        return published_price(model, provider)

    def cost(self, model: str, usage: Usage) -> float | None:
        price = self.price(model)
        return None if price is None else price.cost(usage)
