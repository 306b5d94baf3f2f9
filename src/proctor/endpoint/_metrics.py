"""The endpoint's Prometheus metrics, served at ``GET /metrics`` without a key.

Every call is counted once, where its ledger row is built (``observe``): plain integer
and float additions into dicts of this app's own, a few microseconds per call, with no
lock (the endpoint runs on one event loop, and so does a scrape). A scrape turns them
into metric families through a collector on the app's own ``CollectorRegistry`` (never
the process-global one: tests build many apps), and computes the gauges then: each
circuit breaker's state, each budgeted key's remaining budget, the unwritten ledger rows.

Label values are key names (``keys[].name``), route and deployment names of
``proctor.yaml`` and HTTP statuses: never a key's secret, nor what a client typed as a
model (a name that is not a route is counted as ``(unknown)``, so a caller cannot make
series without bound).
"""

from __future__ import annotations

import logging
from bisect import bisect_left
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response

from proctor.endpoint._keys import ApiKey
from proctor.gateway import Gateway
from proctor.store import GatewayCallRecord, Usage

logger = logging.getLogger("proctor.gateway.metrics")

__all__ = ["LATENCY_BUCKETS", "UNKNOWN_ROUTE", "BudgetLeft", "EndpointMetrics"]

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
"""Upper bounds (seconds) of the latency histogram: from a cache hit to a long answer."""
TOKEN_TYPES = ("input", "output", "cached", "cache_write", "reasoning")
UNKNOWN_ROUTE = "(unknown)"
"""The route label of calls that named no route of this gateway."""
BREAKER_STATES = ("closed", "open", "half_open")

BudgetLeft = Callable[[ApiKey], Awaitable[float]]
"""USD a budgeted key may still spend in its period, read at scrape time."""


class _Calls:
    """What one key spent on one route."""

    __slots__ = ("cache_hits", "cost", "statuses", "tokens")

    def __init__(self) -> None:
        self.statuses: dict[int, int] = {}
        self.tokens = [0, 0, 0, 0, 0]  # in TOKEN_TYPES order
        self.cost = 0.0
        self.cache_hits = 0


class _Latency:
    """One route's histogram; ``counts`` per bucket (not cumulative) plus +Inf."""

    __slots__ = ("count", "counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * (len(LATENCY_BUCKETS) + 1)
        self.total = 0.0
        self.count = 0


class EndpointMetrics(Collector):
    """The endpoint's counters, and the collector that reports them with the gauges.

    ``budget_left`` is asked at scrape time for each key with a budget; ``pending``
    says how many ledger rows wait unwritten.
    """

    def __init__(
        self,
        gateway: Gateway,
        keys: Sequence[ApiKey],
        *,
        budget_left: BudgetLeft,
        pending: Callable[[], int],
    ) -> None:
        self.gateway = gateway
        self.budgeted = [key for key in keys if key.budget_usd is not None]
        self.budget_left = budget_left
        self.pending = pending
        self._routes = frozenset(gateway.routes)
        self._calls: dict[tuple[str, str], _Calls] = {}
        self._latency: dict[str, _Latency] = {}
        self._left: dict[str, float] = {}
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)

    def observe(self, call: GatewayCallRecord, usage: Usage | None) -> None:
        """Count one call (the hot path: keep it to additions)."""
        route = call.route if call.route in self._routes else UNKNOWN_ROUTE
        series = self._calls.get((call.key_name, route))
        if series is None:
            series = self._calls[(call.key_name, route)] = _Calls()
        statuses = series.statuses
        statuses[call.status] = statuses.get(call.status, 0) + 1
        if usage is not None:
            tokens = series.tokens
            tokens[0] += usage.input_tokens
            tokens[1] += usage.output_tokens
            tokens[2] += usage.cached_input_tokens
            tokens[3] += usage.cache_write_tokens
            tokens[4] += usage.reasoning_tokens
        if call.cost_usd:
            series.cost += call.cost_usd
        if call.cache_hit:
            series.cache_hits += 1
        latency = self._latency.get(route)
        if latency is None:
            latency = self._latency[route] = _Latency()
        seconds = call.latency_ms / 1000
        latency.counts[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        latency.total += seconds
        latency.count += 1

    async def refresh(self) -> None:
        """Read what a scrape reports that only the ledger knows: budgets left."""
        left: dict[str, float] = {}
        for key in self.budgeted:
            try:
                left[key.name] = await self.budget_left(key)
            except Exception as exc:  # the store failing: report the rest, say why once here
                logger.warning("metrics: the budget left of key %r is unknown: %r", key.name, exc)
        self._left = left

    async def page(self, request: Request) -> Response:
        """``GET /metrics``: the text format Prometheus asks for (or OpenMetrics)."""
        await self.refresh()
        encoder, content_type = choose_encoder(request.headers.get("accept", ""))
        return Response(encoder(self.registry), 200, {"content-type": content_type})

    def collect(self) -> Iterable[Metric]:
        yield from self._counters()
        yield self._histogram()
        yield from self._gauges()

    def _counters(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "proctor_gateway_requests",
            "Calls answered, by API key, route and HTTP status.",
            labels=["key", "route", "status"],
        )
        tokens = CounterMetricFamily(
            "proctor_gateway_tokens",
            "Tokens of answered calls, by key, route and type (cached and cache_write are "
            "part of input, reasoning part of output).",
            labels=["key", "route", "type"],
        )
        cost = CounterMetricFamily(
            "proctor_gateway_cost_usd",
            "Cost in USD of the calls, by key and route (unknown costs count 0).",
            labels=["key", "route"],
        )
        hits = CounterMetricFamily(
            "proctor_gateway_cache_hits",
            "Calls answered from the response cache, by key and route.",
            labels=["key", "route"],
        )
        for (key, route), series in sorted(self._calls.items()):
            for status, count in sorted(series.statuses.items()):
                requests.add_metric([key, route, str(status)], count)
            for kind, count in zip(TOKEN_TYPES, series.tokens, strict=True):
                tokens.add_metric([key, route, kind], count)
            cost.add_metric([key, route], series.cost)
            hits.add_metric([key, route], series.cache_hits)
        return iter((requests, tokens, cost, hits))

    def _histogram(self) -> Metric:
        latency = HistogramMetricFamily(
            "proctor_gateway_request_duration_seconds",
            "Time from a call's arrival to its answer (a stream: to its end), by route.",
            labels=["route"],
        )
        bounds = [*(f"{b:g}" for b in LATENCY_BUCKETS), "+Inf"]
        for route, series in sorted(self._latency.items()):
            cumulative, buckets = 0, []
            for bound, count in zip(bounds, series.counts, strict=True):
                cumulative += count
                buckets.append((bound, cumulative))
            latency.add_metric([route], buckets, sum_value=series.total)
        return latency

    def _gauges(self) -> Iterator[Metric]:
        breaker = self.gateway.router.breaker
        state = GaugeMetricFamily(
            "proctor_gateway_circuit_state",
            "Circuit breaker of each deployment: 1 for its current state, 0 for the others.",
            labels=["deployment", "state"],
        )
        failures = GaugeMetricFamily(
            "proctor_gateway_circuit_failures",
            "Failed attempts in a row of each deployment since its last success.",
            labels=["deployment"],
        )
        for name in sorted(self.gateway.deployments):
            now = breaker.state(name)
            for option in BREAKER_STATES:
                state.add_metric([name, option], 1.0 if option == now else 0.0)
            failures.add_metric([name], breaker.failures(name))
        left = GaugeMetricFamily(
            "proctor_gateway_budget_remaining_usd",
            "USD each key with a budget may still spend in its current period.",
            labels=["key"],
        )
        budget = GaugeMetricFamily(
            "proctor_gateway_budget_usd",
            "The budget of each key that has one, per period.",
            labels=["key"],
        )
        for key in self.budgeted:
            assert key.budget_usd is not None
            budget.add_metric([key.name], key.budget_usd)
            if key.name in self._left:
                left.add_metric([key.name], self._left[key.name])
        unwritten = GaugeMetricFamily(
            "proctor_gateway_ledger_unwritten_calls",
            "Calls recorded in memory and not yet written to the store's call ledger.",
            value=self.pending(),
        )
        return iter((state, failures, left, budget, unwritten))
