"""``proctor worker --metrics-port``: runs claimed and ended by outcome, with durations,
served over HTTP by the worker (in process: a worker on a memory store, port 0)."""

from __future__ import annotations

import socket
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from proctor.cli._worker_metrics import WorkerMetrics
from proctor.errors import UsageError
from proctor.examples import invoice
from proctor.runtime import Worker, WorkerOptions, submit
from proctor.store import MemoryStore

REF = "invoice_reconciliation"


async def test_a_worker_counts_what_it_drives_and_serves_it() -> None:
    store = MemoryStore()
    for sample in ("clean", "over_threshold"):  # one resolves, one waits for approval
        await submit(store, REF, invoice.sample_input(sample), submitted_by="cli:al")
    metrics = WorkerMetrics()
    options = WorkerOptions(drain=True, concurrency=2, lease_s=5, poll_s=0.05)
    stats = await Worker(store, options, observer=metrics).run()
    assert (stats.claimed, stats.finished, stats.waiting) == (2, 1, 1)

    port = metrics.serve(0)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
            text = answer.read().decode()
    finally:
        metrics.close()
    found = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    assert found["proctor_worker_runs_claimed_total", (("workflow", REF),)] == 2
    for outcome in ("finished", "waiting"):
        where = (("outcome", outcome), ("workflow", REF))
        assert found["proctor_worker_runs_ended_total", where] == 1
        assert found["proctor_worker_run_duration_seconds_count", where] == 1
        assert found["proctor_worker_run_duration_seconds_sum", where] > 0


def test_a_taken_port_is_a_usage_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(UsageError, match=f"--metrics-port {port}: cannot listen"):
            WorkerMetrics().serve(port)
