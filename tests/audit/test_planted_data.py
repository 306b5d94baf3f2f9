"""The planted-data suite: every kind of personal data and secret, planted in every place
a run takes in (its queued input, a tool's result and error, the model's arguments and
answer, an approval's reason, the approver's name), is found in none of the places a
run's record reaches: the store's bytes (SQLite's file, WAL and shared memory, or every
row of every PostgreSQL table), the CLI's exports, the HTTP API, the log, the OTLP body.

Meanwhile the run itself works with the real values: the approved refund to the planted
IBAN is paid, after a resume, to that IBAN.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from typer.testing import CliRunner

from proctor.cli import app
from proctor.gateway import Turn
from proctor.runtime import Runner, decide_approval, open_queued, submit
from proctor.server import create_api_key
from proctor.server._serve import build_app
from proctor.store import PostgresStore, SQLiteStore, Store, ToolFinished, row_to_event
from proctor.telemetry import run_spans
from proctor.telemetry._otel import readable
from support.planted import PLANTED, leaks, planted_text
from support.redacting import RECEIVED, RUN_INPUT, Model
from support.stores import drop_schema, new_schema_url

APPROVER = PLANTED["email"]
"""The approver signs in with an e-mail address: a name field holding personal data."""


@pytest.fixture(params=["sqlite", "postgres"])
async def location(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield str(tmp_path / "runs.db")
        return
    server = request.getfixturevalue("postgres_server")
    schema, url = new_schema_url(server)
    yield url
    await drop_schema(server, schema)


def open_at(location: str) -> Store:
    return PostgresStore(location, max_size=2) if "://" in location else SQLiteStore(location)


async def stored_bytes(store: Store, location: str) -> bytes:
    """Everything the store holds, as bytes: SQLite's files, or PostgreSQL's rows."""
    if isinstance(store, SQLiteStore):
        return await _files(location)
    assert isinstance(store, PostgresStore)
    tables = await store._fetch(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
    )
    rows = [await store._fetch(f"SELECT CAST(t AS TEXT) FROM {name} t") for (name,) in tables]
    return repr(rows).encode()


async def cli(location: str, *args: str) -> str:
    """``proctor --db LOCATION ARGS`` in-process (on a thread: the CLI runs its own loop)."""
    result = await asyncio.to_thread(CliRunner().invoke, app, ["--db", location, *args])
    assert result.exit_code == 0, result.output
    return result.output


async def test_planted_values_reach_no_record_while_the_run_uses_them(
    location: str, tmp_path: Path, proctor_home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    RECEIVED.clear()
    model = Model(
        [
            Turn(calls=[("crm.lookup", {"email": PLANTED["email"], "note": planted_text()})]),
            Turn(calls=[("crm.flaky", {"ssn": PLANTED["ssn"]})]),
            Turn(calls=[("billing.refund", {"iban": PLANTED["iban"], "amount": 10})]),
            Turn(text="Done. " + planted_text()),
        ]
    )
    workflow = model.workflow(approvals=[{"tool": "billing.refund", "reason": "refunds"}])
    store = open_at(location)
    runner = Runner(store, workflow)

    # Queued, then claimed and started as a worker does.
    run_id = await submit(
        store, "redacting", RUN_INPUT, submitted_by="cli:alice", load=lambda ref: workflow
    )
    [item] = await store.claim_runs("w1", now=time.time(), lease_s=60, limit=1)
    queued = await open_queued(store, runner.deps.keys, item)
    assert queued.input == RUN_INPUT
    waiting = await runner.start(queued.input, started_by=queued.submitted_by, run_id=run_id)
    assert waiting.status == "awaiting_approval"
    (pending,) = await store.list_approvals()
    await decide_approval(
        store,
        pending.approval_id,
        approved=True,
        by=APPROVER,
        reason=f"checked: {planted_text()}",
        redactor=runner.redactor,
    )
    done = await runner.resume(run_id)

    # The run worked with the real values: the refund went to the planted IBAN.
    assert done.outcome == "resolved"
    assert done.final_text == "Done. " + planted_text()
    assert {"iban": PLANTED["iban"], "amount": 10} in RECEIVED
    finished = [
        row_to_event(row).data for row in await store.events(run_id) if row.type == "tool_finished"
    ]
    assert [f.ok for f in finished if isinstance(f, ToolFinished)] == [True, False, True]

    # Nothing planted is in the store: every table, the write-ahead log, the queue.
    found = {"store": leaks(await stored_bytes(store, location))}
    recorded = await store.get_approval(pending.approval_id)
    assert recorded is not None
    assert recorded.decided_by is not None
    assert recorded.decided_by.startswith("[email:sha256:")

    # Nor in what the HTTP API answers.
    _, token = await create_api_key(store, role="admin", tenant="default", name="auditor")
    served = await asyncio.to_thread(_api_bodies, location, proctor_home, token, run_id)
    found["api"] = leaks(served)

    # Nor in the OTLP body an exporter sends (prompts and results included).
    spans = await run_spans(store, run_id, capture_content=True)
    found["otlp"] = leaks(encode_spans([readable(span) for span in spans]).SerializeToString())
    await store.close()
    if location.endswith("runs.db"):
        found["store files, closed"] = leaks(await _files(location))

    # Nor in any export of the CLI, nor in the log.
    exports = [
        await cli(location, "trace", run_id, "--json"),
        await cli(location, "trace", run_id),
        await cli(location, "runs", "--json"),
        await cli(location, "approvals", "--all"),
        await cli(location, "queue"),
        await cli(location, "eval", "capture", run_id),
    ]
    for kind in ("json", "html"):
        receipt = tmp_path / f"receipt.{kind}"
        await cli(location, "audit", "export", run_id, "--format", kind, "-o", str(receipt))
        exports.append(receipt.read_text())
    found["exports"] = leaks("\n".join(exports).encode())
    found["log"] = leaks(caplog.text.encode())
    assert found == {name: [] for name in found}


def _api_bodies(location: str, home: Path, token: str, run_id: str) -> bytes:
    store = open_at(location)  # the server's own, on its own event loop
    app_ = build_app(store, home=home, allowed_hosts=["testserver"])
    headers = {"Authorization": f"Bearer {token}"}
    bodies: list[bytes] = []
    with TestClient(app_, base_url="https://testserver") as client:
        for path in (
            "/api/v1/runs",
            f"/api/v1/runs/{run_id}",
            f"/api/v1/runs/{run_id}/events",
            "/api/v1/approvals?status=all",
        ):
            response = client.get(path, headers=headers)
            assert response.status_code == 200, (path, response.text)
            bodies.append(response.content)
        assert client.portal is not None
        client.portal.call(store.close)
    return b"\n".join(bodies)


async def _files(location: str) -> bytes:
    return b"".join(path.read_bytes() for path in sorted(Path(location).parent.glob("runs.db*")))
