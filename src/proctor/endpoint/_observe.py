"""What ``/metrics`` and the call spans read beside the calls themselves.

``budget_left`` is the one place that says how much a key may still spend, for the
``proctor_gateway_budget_remaining_usd`` gauge: when budgets move to reservations, this
is the function to re-point (``EndpointMetrics`` only awaits it at scrape time).
"""

from __future__ import annotations

from proctor.endpoint._keys import ApiKey
from proctor.endpoint._ledger import CallLedger
from proctor.endpoint._metrics import BudgetLeft
from proctor.gateway import Gateway, GatewayConfig


def budget_left(ledger: CallLedger) -> BudgetLeft:
    """USD ``key`` may still spend in its current period, as its budget check sees it."""

    async def left(key: ApiKey) -> float:
        assert key.budget_usd is not None  # asked only of keys with a budget
        return key.budget_usd - await ledger.spent(key.name, key.period)

    return left


def providers(gateway: Gateway, config: GatewayConfig) -> dict[str, str]:
    """The configured provider of each deployment, and of each route (its first
    deployment's, for calls refused before any deployment answered)."""
    found: dict[str, str] = {name: model.provider for name, model in config.models.items()}
    for route, chain in gateway.routes.items():
        if chain and chain[0] in found:
            found.setdefault(route, found[chain[0]])
    return found
