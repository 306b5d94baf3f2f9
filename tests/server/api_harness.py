"""Driving the HTTP API in tests: a client acting as any seeded key, and runs recorded
with chosen columns.

Tests are synchronous: ``TestClient`` serves the app in a thread of its own, with the
event loop the server's background runs go on in. Store calls made while the client is
open go through that loop too (``Api.call``), never from a second thread at once.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx2
from fastapi.testclient import TestClient

from proctor.contracts import Contract
from proctor.examples import invoice
from proctor.server import create_api_key
from proctor.store import (
    ApiKeyRecord,
    Outcome,
    Store,
)
from support.drift_runs import record_run as record_constructed_run

T = TypeVar("T")

TENANTS = ("acme", "globex")
BASE_URL = "https://testserver"  # session cookies are Secure


@dataclass
class Api:
    """A client of the API, acting as any seeded key: ``api.get(path, role, tenant)``."""

    client: TestClient
    store: Store
    keys: dict[tuple[str, str], str]
    records: dict[tuple[str, str], ApiKeyRecord] = field(default_factory=dict)

    def auth(self, role: str = "admin", tenant: str = "acme") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[tenant, role]}"}

    def get(
        self, path: str, role: str = "admin", tenant: str = "acme", **params: Any
    ) -> httpx2.Response:
        return self.client.get(path, headers=self.auth(role, tenant), params=params)

    def post(
        self, path: str, body: Any = None, role: str = "admin", tenant: str = "acme"
    ) -> httpx2.Response:
        return self.client.post(path, headers=self.auth(role, tenant), json=body)

    def delete(self, path: str, role: str = "admin", tenant: str = "acme") -> httpx2.Response:
        return self.client.delete(path, headers=self.auth(role, tenant))

    def call(self, work: Callable[[], Awaitable[T]]) -> T:
        """Run ``work()`` (a store call) on the server's event loop."""
        portal = self.client.portal
        assert portal is not None, "the client is not open"

        async def run() -> T:
            return await work()

        return portal.call(run)

    def add_key(
        self,
        role: str,
        tenant: str,
        name: str,
        *,
        alias: str | None = None,
        holder: str | None = None,
    ) -> str:
        """Mint one more key while the server runs; then act as it with ``role=alias``
        (default: its name)."""
        record, token = self.call(
            lambda: create_api_key(self.store, role=role, tenant=tenant, name=name, holder=holder)
        )
        self.keys[tenant, alias or name] = token
        self.records[tenant, alias or name] = record
        return token

    def start(
        self,
        sample: str = "clean",
        *,
        role: str = "operator",
        tenant: str = "acme",
        model: str | None = None,
    ) -> str:
        """Start an invoice run through the API; returns its id."""
        body: dict[str, Any] = {
            "workflow": "invoice_reconciliation",
            "input": invoice.sample_input(sample),
        }
        if model is not None:
            body["model"] = model
        response = self.post("/api/v1/runs", body, role=role, tenant=tenant)
        assert response.status_code == 202, response.text
        run_id: str = response.json()["run_id"]
        return run_id

    def settled(self, run_id: str, tenant: str = "acme", timeout_s: float = 10.0) -> Any:
        """The run's summary once it is no longer running (finished or awaiting approval)."""
        deadline = time.monotonic() + timeout_s
        while True:
            summary = self.get(f"/api/v1/runs/{run_id}", role="viewer", tenant=tenant).json()
            if summary["status"] != "running":
                return summary
            assert time.monotonic() < deadline, f"run {run_id} still running: {summary}"
            time.sleep(0.01)


def error_of(response: httpx2.Response, status: int) -> tuple[str, str]:
    """The ``(code, message)`` of an error answer, checking its status and shape."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message"}, body
    assert "Traceback" not in body["error"]["message"]
    return body["error"]["code"], body["error"]["message"]


async def record_run(
    store: Store,
    *,
    tenant: str = "acme",
    started_at: float | None = None,
    workflow: str = "invoice_reconciliation",
    model: str = "scripted:procedure",
    outcome: Outcome | None = "resolved",
    contract: Contract | None = None,
    run_id: str | None = None,
) -> str:
    """A run of the invoice contract recorded as the runtime would (a real hash chain),
    with chosen columns: ``outcome`` None leaves it running."""
    return await record_constructed_run(
        store,
        contract or invoice.contract(),
        outcome=outcome,
        cost=0.0,
        started_at=time.time() - 60 if started_at is None else started_at,
        workflow=workflow,
        tenant=tenant,
        model=model,
        run_id=run_id,
        started_by="seed",
    )


def contract_v2() -> Contract:
    """The invoice contract as another version (label 2, another content hash)."""
    terms = invoice.contract()
    return terms.model_validate({**terms.model_dump(), "version": "2"})
