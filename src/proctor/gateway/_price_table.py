"""The price table: ``proctor.yaml``'s prices first, then the published list prices of
the ``genai-prices`` package (maintained by Pydantic: thousands of models from every
major provider, updated with each release). A model neither knows has an unknown cost,
never zero.

Importing it and reading its snapshot takes most of a second, so it is loaded on the
first model whose price ``proctor.yaml`` does not give, and each model is looked up once
per process. Upgrading the package (``pip install -U genai-prices``) updates the prices.
"""

from __future__ import annotations

import functools
import logging
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from proctor.gateway._prices import Price
from proctor.store import Usage

logger = logging.getLogger("proctor.gateway.prices")

# Names of Proctor's own test doubles, replayed recordings (priced as the model they
# recorded, if at all) and agent turns: never a published model.
_INTERNAL_PREFIXES = ("scripted", "recorded:", "agent:", "fake-")
_SPOKEN = ("openai", "anthropic")


@functools.lru_cache(maxsize=1024)
def published_price(model: str, provider: str | None = None) -> Price | None:
    """The list price of ``model`` today (``provider``: ``openai``, ``anthropic``, ... when
    known), or ``None`` if ``genai-prices`` does not know it."""
    if not model or model.startswith(_INTERNAL_PREFIXES):
        return None
    # Without a provider the table matches only some providers' names (it misses OpenAI's
    # embedding models): then ask the providers whose APIs Proctor speaks too.
    tried = [provider] if provider in _SPOKEN else []
    for candidate in (*tried, None, *(p for p in _SPOKEN if p not in tried)):
        found = _lookup(model, candidate)
        if found is not None:
            return found
    return None


def _lookup(model: str, provider: str | None) -> Price | None:
    try:
        from genai_prices import data_snapshot
    except ImportError:  # pragma: no cover - a core dependency
        return None
    try:
        _, info = data_snapshot.get_snapshot().find_provider_model(model, None, provider, None)
        prices = info.get_prices(datetime.now(UTC))
    except LookupError:
        return None
    except Exception:  # a bug in the table must not fail a call: the cost stays unknown
        logger.exception("genai-prices failed to look up %r", model)
        return None
    return _price(prices)


def _price(prices: Any) -> Price | None:
    rates = {
        name: getattr(prices, name, None)
        for name in ("input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok")
    }
    if rates["input_mtok"] is None and rates["output_mtok"] is None:
        return None  # priced by something else (requests, images): not a token price
    starts = sorted({t.start for rate in rates.values() for t in getattr(rate, "tiers", ())})
    tier = None
    if starts:  # a cliff: past the threshold every token is billed at the tier's rate
        tier = (starts[0], _rates(rates, starts[0]))
    return Price(**_fields(rates, None), tier=tier)


def _rates(rates: dict[str, Any], start: int) -> Price:
    return Price(**_fields(rates, start))


def _fields(rates: dict[str, Any], start: int | None) -> dict[str, Any]:
    def at(rate: Any) -> float | None:
        if rate is None:
            return None
        if isinstance(rate, Decimal | int | float):
            return float(rate)
        value = rate.base
        for tier in rate.tiers:
            if start is not None and tier.start <= start:
                value = tier.price
        return float(value)

    return {
        "input_per_million": at(rates["input_mtok"]) or 0.0,
        "output_per_million": at(rates["output_mtok"]) or 0.0,
        "cached_input_per_million": at(rates["cache_read_mtok"]),
        "cache_write_per_million": at(rates["cache_write_mtok"]),
    }


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
        return published_price(model, provider)

    def cost(self, model: str, usage: Usage) -> float | None:
        price = self.price(model)
        return None if price is None else price.cost(usage)
