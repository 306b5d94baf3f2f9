"""``proctor worker --metrics-port``: the worker's Prometheus metrics over HTTP.

Counted as the worker claims and ends runs (``WorkerObserver``), on a registry of its
own, and served by prometheus_client's HTTP server in a thread (``/metrics``; any path
answers the same). Labels are workflow names and outcomes: nothing of a run's content.
"""

from __future__ import annotations

from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

from proctor.errors import UsageError
from proctor.runtime import WorkerObserver, WorkerOutcome

DURATION_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
"""Seconds a worker drives a run for (to its end, or until it waits or is handed back)."""


class WorkerMetrics(WorkerObserver):
    """Runs claimed, runs ended by outcome, and how long each was driven."""

    def __init__(self) -> None:
        self._server: WSGIServer | None = None
        self.registry = CollectorRegistry()
        self.claimed_runs = Counter(
            "proctor_worker_runs_claimed",
            "Runs this worker claimed from the queue, by workflow.",
            ["workflow"],
            registry=self.registry,
        )
        self.ended_runs = Counter(
            "proctor_worker_runs_ended",
            "Runs this worker stopped driving, by workflow and outcome (finished, waiting, "
            "requeued, failed, given_up).",
            ["workflow", "outcome"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "proctor_worker_run_duration_seconds",
            "Time this worker drove a run, by workflow and outcome.",
            ["workflow", "outcome"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )

    def claimed(self, workflow: str) -> None:
        self.claimed_runs.labels(workflow).inc()

    def ended(self, workflow: str, outcome: WorkerOutcome, seconds: float) -> None:
        self.ended_runs.labels(workflow, outcome).inc()
        self.duration.labels(workflow, outcome).observe(seconds)

    def serve(self, port: int, host: str = "127.0.0.1") -> int:
        """Serve ``/metrics`` on ``host:port`` in a daemon thread; returns the port bound
        (``port`` 0 picks a free one). Raises ``UsageError`` if the port is taken."""
        try:
            server, _ = start_http_server(port, addr=host, registry=self.registry)
        except OSError as exc:
            raise UsageError(
                f"--metrics-port {port}: cannot listen on {host}:{port} ({exc.strerror or exc}). "
                "Fix: pick a free port, or stop what holds it"
            ) from None
        self._server = server
        return int(server.server_port)

    def close(self) -> None:
        """Stop serving (a worker that exits stops with its daemon thread anyway)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
