"""Prices: proctor.yaml first, then the published table (genai-prices); cached, written
and reasoning tokens, and long-context tiers."""

from __future__ import annotations

import sys

import pytest

from proctor.gateway import Price, PriceTable
from proctor.store import Usage


def test_published_prices_cover_current_models_and_yaml_overrides_them() -> None:
    table = PriceTable({"gpt-4o": Price(input_per_million=1.0, output_per_million=2.0)})
    mini = table.price("gpt-4o-mini")
    assert mini is not None
    assert (mini.input_per_million, mini.output_per_million) == (0.15, 0.60)
    assert mini.cached_input_per_million == 0.075
    for model in ("gpt-5", "claude-sonnet-4-5", "o4-mini", "gpt-4.1-nano"):
        assert table.price(model) is not None, model
    assert table.price("gpt-4o") == Price(input_per_million=1.0, output_per_million=2.0)
    assert table.price("my-llama") is None  # unknown: cost unknown, never zero
    assert table.cost("my-llama", Usage(input_tokens=10)) is None


def test_scripted_models_never_load_the_published_table() -> None:
    loaded = "genai_prices" in sys.modules
    assert PriceTable().price("scripted:refunds") is None
    assert ("genai_prices" in sys.modules) == loaded


def test_cached_written_and_reasoning_tokens_are_billed_at_their_rates() -> None:
    price = Price(
        input_per_million=3.0,
        output_per_million=15.0,
        cached_input_per_million=0.3,
        cache_write_per_million=3.75,
    )
    usage = Usage(
        input_tokens=1_000_000,
        cached_input_tokens=500_000,
        cache_write_tokens=200_000,
        output_tokens=100_000,
        reasoning_tokens=60_000,  # among the output tokens: billed as output
    )
    assert price.cost(usage) == pytest.approx(0.3 * 3.0 + 0.5 * 0.3 + 0.2 * 3.75 + 0.1 * 15.0)


def test_a_long_context_tier_bills_every_token_past_its_threshold() -> None:
    sonnet = PriceTable().price("claude-sonnet-4-5")
    assert sonnet is not None
    assert sonnet.cache_write_per_million == 3.75
    assert sonnet.tier is not None
    threshold, above = sonnet.tier
    assert threshold == 200_000
    assert sonnet.cost(Usage(input_tokens=threshold)) == pytest.approx(threshold * 3.0 / 1e6)
    assert sonnet.cost(Usage(input_tokens=threshold + 1)) == pytest.approx(
        (threshold + 1) * above.input_per_million / 1e6
    )
    assert above.input_per_million > sonnet.input_per_million
