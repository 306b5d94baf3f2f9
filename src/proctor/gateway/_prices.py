"""USD prices per million tokens, and the cost of a call (``PriceTable``, in
``_price_table``, finds a model's price)."""

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

    def cost_of(self, input_tokens: int, output_tokens: int) -> float:
        """USD of plain input and output tokens (no cache): a projection's cost."""
        if self.tier is not None and input_tokens > self.tier[0]:
            return self.tier[1].cost_of(input_tokens, output_tokens)
        return (
            input_tokens * self.input_per_million + output_tokens * self.output_per_million
        ) / 1_000_000

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
