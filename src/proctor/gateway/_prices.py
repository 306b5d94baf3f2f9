"""USD prices per million tokens, and the cost of a call."""

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

    def cost(self, usage: Usage) -> float:
        """USD of ``usage``. Cached and cache-written tokens are counted among the input
        tokens, reasoning tokens among the output tokens, as providers report them."""
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


# Public list prices (USD per million tokens), as published by each vendor.
DEFAULT_PRICES: dict[str, Price] = {
    "gpt-4o": Price(
        input_per_million=2.50, output_per_million=10.00, cached_input_per_million=1.25
    ),
    "gpt-4o-mini": Price(
        input_per_million=0.15, output_per_million=0.60, cached_input_per_million=0.075
    ),
    "gpt-4.1": Price(input_per_million=2.00, output_per_million=8.00),
    "gpt-4.1-mini": Price(input_per_million=0.40, output_per_million=1.60),
    "gpt-4.1-nano": Price(input_per_million=0.10, output_per_million=0.40),
    "o4-mini": Price(input_per_million=1.10, output_per_million=4.40),
    "claude-3-5-haiku": Price(input_per_million=0.80, output_per_million=4.00),
    "claude-sonnet-4": Price(input_per_million=3.00, output_per_million=15.00),
    # Embedding models: input tokens only.
    "text-embedding-3-small": Price(input_per_million=0.02, output_per_million=0.0),
    "text-embedding-3-large": Price(input_per_million=0.13, output_per_million=0.0),
    "text-embedding-ada-002": Price(input_per_million=0.10, output_per_million=0.0),
}


class PriceTable:
    """Looks up a model's price; an unknown model's cost is ``None``, never zero."""

    def __init__(self, prices: dict[str, Price] | None = None) -> None:
        self._prices = dict(DEFAULT_PRICES)
        if prices:
            self._prices.update(prices)

    def price(self, model: str) -> Price | None:
        return self._prices.get(model)

    def cost(self, model: str, usage: Usage) -> float | None:
        price = self._prices.get(model)
        return None if price is None else price.cost(usage)
