"""``proctor serve``'s Prometheus metrics, at ``GET /metrics`` (no API key, like /healthz).

``HttpMetrics`` (ASGI middleware) counts every request by method, route template
(``/api/v1/runs/{run_id}``, never the path a client typed) and status, with its latency,
into plain dicts: a scrape turns them into metric families through a collector on the
app's own ``CollectorRegistry``. The gauges are read from the store at scrape time with
queries it answers anyway: runs that are not finished, pending approvals, queue items by
state, each counted up to ``COUNT_CAP``. Nothing carries a tenant, a run id or a key:
the figures are the whole server's.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Iterable, Iterator

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
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from proctor.store import QueueState, RunFilter, Store

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
"""Upper bounds (seconds) of the request latency histogram."""
UNMATCHED = "(unmatched)"
"""The route label of requests no route answered (404s, refusals before routing)."""
COUNT_CAP = 10_000
"""Gauges count rows up to this many (a scrape must stay cheap)."""
LIVE_STATUSES = ("running", "awaiting_approval")
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
"""Methods counted by name; any other a client sends is ``OTHER`` (no series without bound)."""
QUEUE_STATES: tuple[QueueState, ...] = ("queued", "claimed", "waiting")


class _Latency:
    __slots__ = ("count", "counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKETS) + 1)
        self.total = 0.0
        self.count = 0


class ServerMetrics(Collector):
    """The server's request counters, and the collector reporting them with the gauges."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.requests: dict[tuple[str, str, int], int] = {}
        self.latency: dict[tuple[str, str], _Latency] = {}
        self._gauges: dict[str, list[tuple[str, float]]] = {}
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        self.requests[key] = self.requests.get(key, 0) + 1
        series = self.latency.get((method, route))
        if series is None:
            series = self.latency[method, route] = _Latency()
        series.counts[bisect_left(BUCKETS, seconds)] += 1
        series.total += seconds
        series.count += 1

    async def refresh(self) -> None:
        """Read the gauges from the store (a failing store fails the scrape: 500)."""
        store = self.store
        runs = [
            (status, (await store.run_totals(RunFilter(status=status), cap=COUNT_CAP)).runs)
            for status in LIVE_STATUSES
        ]
        pending = await store.count_approvals("pending", cap=COUNT_CAP)
        queue = [
            (state, len(await store.queue_items(state=state, limit=COUNT_CAP)))
            for state in QUEUE_STATES
        ]
        self._gauges = {
            "runs": [(s, float(n)) for s, n in runs],
            "approvals": [("", float(pending))],
            "queue": [(s, float(n)) for s, n in queue],
        }

    async def page(self, request: Request) -> Response:
        """``GET /metrics``: the text format Prometheus asks for (or OpenMetrics)."""
        await self.refresh()
        encoder, content_type = choose_encoder(request.headers.get("accept", ""))
        return Response(encoder(self.registry), 200, {"content-type": content_type})

    def collect(self) -> Iterable[Metric]:
        requests = CounterMetricFamily(
            "proctor_http_requests",
            "HTTP requests answered, by method, route template and status.",
            labels=["method", "route", "status"],
        )
        for (method, route, status), count in sorted(self.requests.items()):
            requests.add_metric([method, route, str(status)], count)
        latency = HistogramMetricFamily(
            "proctor_http_request_duration_seconds",
            "Time to answer a request (an event stream: until it closes), by method and route.",
            labels=["method", "route"],
        )
        bounds = [*(f"{b:g}" for b in BUCKETS), "+Inf"]
        for (method, route), series in sorted(self.latency.items()):
            cumulative, buckets = 0, []
            for bound, count in zip(bounds, series.counts, strict=True):
                cumulative += count
                buckets.append((bound, cumulative))
            latency.add_metric([method, route], buckets, sum_value=series.total)
        yield requests
        yield latency
        yield from self._gauge_families()

    def _gauge_families(self) -> Iterator[Metric]:
        runs = GaugeMetricFamily(
            "proctor_runs",
            f"Runs not finished, by status (counted up to {COUNT_CAP:,}).",
            labels=["status"],
        )
        for status, count in self._gauges.get("runs", []):
            runs.add_metric([status], count)
        yield runs
        for _, count in self._gauges.get("approvals", []):
            yield GaugeMetricFamily(
                "proctor_approvals_pending", "Approval requests waiting for a person.", count
            )
        queue = GaugeMetricFamily(
            "proctor_queue_items",
            f"Run queue items by state (counted up to {COUNT_CAP:,}); queued is the depth.",
            labels=["state"],
        )
        for state, count in self._gauges.get("queue", []):
            queue.add_metric([state], count)
        yield queue


class HttpMetrics:
    """ASGI middleware: each HTTP request counted once it is answered."""

    def __init__(self, app: ASGIApp, *, metrics: ServerMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the server answers if the app raises before it starts a response

        async def sent(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sent)
        finally:
            # The router leaves the route it matched in the scope: its template, not the path.
            route = getattr(scope.get("route"), "path", None) or UNMATCHED
            method = scope["method"] if scope["method"] in METHODS else "OTHER"
            self.metrics.observe(method, route, status, time.perf_counter() - started)
