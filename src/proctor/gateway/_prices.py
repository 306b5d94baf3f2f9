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
}


def _claude(input_usd: float, output_usd: float) -> Price:
    # Anthropic bills cache reads at 0.1x the input price, 5-minute cache writes at 1.25x.
    return Price(
        input_per_million=input_usd,
        output_per_million=output_usd,
        cached_input_per_million=round(input_usd * 0.1, 6),
        cache_write_per_million=round(input_usd * 1.25, 6),
    )


# Claude models, by their ids and their dated snapshots' (Anthropic's list prices).
for _ids, _price in (
    (("claude-3-5-haiku", "claude-3-5-haiku-latest", "claude-3-5-haiku-20241022"), _claude(0.8, 4)),
    (("claude-haiku-4-5", "claude-haiku-4-5-20251001"), _claude(1, 5)),
    (("claude-sonnet-4", "claude-sonnet-4-0", "claude-sonnet-4-20250514"), _claude(3, 15)),
    (("claude-sonnet-4-5", "claude-sonnet-4-5-20250929"), _claude(3, 15)),
    (("claude-opus-4-1", "claude-opus-4-1-20250805"), _claude(15, 75)),
):
    DEFAULT_PRICES.update(dict.fromkeys(_ids, _price))


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
