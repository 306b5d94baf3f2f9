"""``--health-port`` of ``proctor worker`` and ``proctor notify run``: ``/healthz`` while the
process's loop turns, ``/readyz`` while it does its work (reaches the store)."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from cli_harness import PROCTOR, cli_env, one_line_error, proctor_main

from proctor.cli._health import STUCK_S, HealthServer
from proctor.errors import UsageError
from proctor.notifications import Notifier
from proctor.runtime import Worker, WorkerOptions
from proctor.store import PostgresStore, SQLiteStore


def get(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as failed:
        return failed.code, json.loads(failed.read())


def test_the_probes_answer_from_the_loops_tick_and_the_check() -> None:
    now = [100.0]
    reason: list[str | None] = [None]
    health = HealthServer(lambda: reason[0], clock=lambda: now[0])
    assert health.answer("/healthz") == (200, {"status": "ok"})
    assert health.answer("/readyz") == (200, {"status": "ready"})
    reason[0] = "the worker has not reached the store for 40 s"
    assert health.answer("/readyz") == (503, {"status": "unavailable", "reason": reason[0]})
    now[0] += STUCK_S + 1  # the event loop stopped turning: restart the process
    status, body = health.answer("/healthz")
    assert (status, body["status"]) == (503, "stuck")
    health.tick()
    assert health.answer("/healthz")[0] == 200
    assert health.answer("/metrics")[0] == 404


def test_a_failing_check_is_an_answer() -> None:
    def broken() -> str | None:
        raise RuntimeError("boom")

    status, body = HealthServer(broken).answer("/readyz")
    assert (status, body["reason"]) == (503, "the readiness check failed: RuntimeError")


def test_the_probes_are_served_over_http_and_a_taken_port_is_refused() -> None:
    health = HealthServer(lambda: None)
    port = health.serve(0)
    try:
        assert get(f"http://127.0.0.1:{port}/healthz") == (200, {"status": "ok"})
        assert get(f"http://127.0.0.1:{port}/readyz?verbose=1") == (200, {"status": "ready"})
        with pytest.raises(UsageError, match=f"--health-port {port}: cannot listen"):
            HealthServer(lambda: None).serve(port)
    finally:
        health.close()
    on_ipv6 = HealthServer(lambda: None)
    try:
        port = on_ipv6.serve(0, "::1")
    except UsageError:
        pytest.skip("this host has no IPv6 loopback")
    try:
        assert get(f"http://[::1]:{port}/healthz")[0] == 200
    finally:
        on_ipv6.close()


async def test_a_worker_is_ready_once_it_reaches_the_store(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "queue.db")
    worker = Worker(store, WorkerOptions(poll_s=0.05, lease_s=5))
    assert worker.not_ready() == "the worker has not reached the store yet"
    running = asyncio.create_task(worker.run())
    try:
        deadline = time.monotonic() + 5
        while worker.not_ready() is not None:
            assert time.monotonic() < deadline, worker.not_ready()
            await asyncio.sleep(0.02)
        # A store that stopped answering is seen within a lease (here at least 10 s).
        later = time.monotonic() + 11
        assert worker.not_ready(now=later) == "the worker has not reached the store for 11 s"
    finally:
        worker.stop()
        await running
        await store.close()
    assert worker.not_ready() == "the worker is stopping"


async def test_a_worker_whose_database_is_down_is_not_ready(unused_tcp_port: int) -> None:
    store = PostgresStore(f"postgresql://proctor@127.0.0.1:{unused_tcp_port}/proctor")
    worker = Worker(store, WorkerOptions(poll_s=0.05))
    running = asyncio.create_task(worker.run())
    await asyncio.sleep(0.3)  # several claims, each refused
    assert worker.not_ready() == "the worker has not reached the store yet"
    worker.stop()
    await running
    await store.close()


async def test_the_notifier_is_ready_after_a_pass(tmp_path: Path) -> None:
    config = tmp_path / "proctor.yaml"
    config.write_text(
        "notifications:\n  channels: {ops: {webhook: {url: 'http://127.0.0.1:9/'}}}\n"
    )
    store = SQLiteStore(tmp_path / "notify.db")
    notifier = Notifier.for_project(store, str(config))
    assert notifier is not None
    assert notifier.not_ready() == "no pass over the pending approvals has ended yet"
    stop = asyncio.Event()
    running = asyncio.create_task(notifier.run(stop, every_s=0.05))
    try:
        deadline = time.monotonic() + 5
        while notifier.not_ready() is not None:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        later = time.monotonic() + 31  # three intervals, but at least 30 s
        assert "has ended for 31 s" in (notifier.not_ready(now=later) or "")
    finally:
        stop.set()
        await running
        await notifier.close()
        await store.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_notify_run_serves_its_probes(proctor_home: Path, tmp_path: Path) -> None:
    config = tmp_path / "proctor.yaml"
    config.write_text(
        "notifications:\n  channels: {ops: {webhook: {url: 'http://127.0.0.1:9/'}}}\n"
    )
    env = cli_env(proctor_home)
    asyncio.run(SQLiteStore(proctor_home / "proctor.db").close())  # notify reads a store
    port = free_port()
    args = ["--config", str(config), "notify", "run", "--every", "0.2", "--health-port", str(port)]
    notifier = subprocess.Popen(
        [str(PROCTOR), *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                status, body = get(f"http://127.0.0.1:{port}/readyz")
            except urllib.error.URLError:
                status, body = 0, {}
            if status == 200:
                break
            assert notifier.poll() is None, notifier.communicate()
            assert time.monotonic() < deadline, body
            time.sleep(0.1)
        assert body == {"status": "ready"}
        assert get(f"http://127.0.0.1:{port}/healthz")[0] == 200
    finally:
        notifier.terminate()
        notifier.communicate(timeout=20)


def test_health_port_and_once_do_not_go_together(capsys: pytest.CaptureFixture[str]) -> None:
    ran = proctor_main("notify", "run", "--once", "--health-port", "0", capsys=capsys)
    assert "--once makes one pass" in one_line_error(ran, 2)
