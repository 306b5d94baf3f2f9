"""The API fuzzed from its own OpenAPI document (schemathesis) against a real ``proctor
serve`` on a loopback port, with a key of each role: valid and invalid requests to every
operation, on ids (and a workflow) that exist and ids that do not, and every integer
parameter at the edges of 64 bits and beyond. No answer is a 5xx, and the server's log
has no traceback.

Bounded for ``make test`` (``EXAMPLES`` per operation, role and mode, derandomized, so
every run sends the same requests); ``PROCTOR_FUZZ_EXAMPLES=500`` runs it for longer.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok
from schemathesis.schemas import APIOperation

from proctor.examples import invoice
from proctor.server import ROLES, create_api_key
from proctor.store import SQLiteStore

pytestmark = pytest.mark.slow

PROCTOR = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "proctor"
EXAMPLES = int(os.environ.get("PROCTOR_FUZZ_EXAMPLES", "6"))
"""Requests per operation, role, generation mode and id set: about 1,000 in all."""
CONFORMANCE = os.environ.get("PROCTOR_FUZZ_CONFORMANCE") == "1"
"""Also run schemathesis's own checks (statuses, content types, schemas) and report what
they find: a longer look than ``make test`` asserts."""
EDGES = (2**63 - 1, 2**63, 2**64, 2**70, -(2**63) - 1, -(2**70))
"""Integers beyond what the store's columns hold, for every integer parameter."""
SEQ_HEADERS = ("Last-Event-ID",)
"""Headers that carry an integer as text."""
CLIENT_REFUSALS = (requests.exceptions.InvalidHeader, requests.exceptions.InvalidURL)
"""What the client library refuses to send (a header with a newline, say): never sent."""


@dataclass
class Served:
    url: str
    keys: dict[str, str]
    ids: dict[str, str]
    """Path parameters that name stored things: a finished run, its decided approval; and
    a registered workflow, for the body that names one."""
    log: Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _mint(db: Path) -> dict[str, str]:
    store = SQLiteStore(db)
    try:
        return {
            role: (await create_api_key(store, role=role, tenant="fuzz", name=f"fuzz-{role}"))[1]
            for role in ROLES
        }
    finally:
        await store.close()


def _seed(client: httpx2.Client, keys: dict[str, str]) -> dict[str, str]:
    """A run that waited for approval, approved, and finished: ids the fuzzer may use."""
    body = {"workflow": "invoice_reconciliation", "input": invoice.sample_input("over_threshold")}
    started = client.post("/api/v1/runs", json=body, headers=_auth(keys["operator"]))
    assert started.status_code == 202, started.text
    run_id = started.json()["run_id"]
    approval_id = _until(client, keys, run_id, lambda run: run["pending_approval"])
    approved = client.post(
        f"/api/v1/approvals/{approval_id}/approve", json={}, headers=_auth(keys["approver"])
    )
    assert approved.status_code == 200, approved.text
    _until(client, keys, run_id, lambda run: run["status"] == "finished")
    return {"run_id": run_id, "approval_id": approval_id, "workflow": "invoice_reconciliation"}


def _until(client: httpx2.Client, keys: dict[str, str], run_id: str, ready: Any) -> Any:
    for _ in range(1000):
        run = client.get(f"/api/v1/runs/{run_id}", headers=_auth(keys["viewer"])).json()
        if found := ready(run):
            return found
        time.sleep(0.01)
    raise AssertionError(f"run {run_id} did not get there: {run}")


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    home = tmp_path_factory.mktemp("fuzz-home")
    db = home / "fuzz.db"
    keys = asyncio.run(_mint(db))
    port = _free_port()
    log = home / "server.log"
    env = {**os.environ, "PROCTOR_HOME": str(home), "PROCTOR_DB": str(db)}
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(PROCTOR), "serve", "--port", str(port), "--access-log"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx2.Client(base_url=url, timeout=10) as client:
            for _ in range(500):  # a bound on the wait, not a measure
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx2.TransportError:
                    time.sleep(0.02)
            ids = _seed(client, keys)
        yield Served(url=url, keys=keys, ids=ids, log=log)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)


@dataclass
class Tally:
    requests: int = 0
    server_errors: list[str] = field(default_factory=list)
    findings: dict[str, int] = field(default_factory=dict)


def _fuzz(
    operation: APIOperation[Any, Any, Any, Any],
    served: Served,
    key: str,
    mode: GenerationMode,
    ids: dict[str, str] | None,
    session: Any,
    tally: Tally,
) -> None:
    in_path = None if ids is None else {k: v for k, v in ids.items() if k != "workflow"}
    strategy = operation.as_strategy(generation_mode=mode, path_parameters=in_path or None)

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],  # a 5xx is reported as found, not shrunk
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case: schemathesis.Case[Any]) -> None:
        if ids and isinstance(case.body, dict) and "workflow" in case.body:
            case.body["workflow"] = ids["workflow"]  # a run that starts: its input is read
        try:
            response = case.call(base_url=served.url, session=session, headers=_auth(key))
        except CLIENT_REFUSALS:
            return
        tally.requests += 1
        if response.status_code >= 500:
            tally.server_errors.append(f"{response.status_code}: {case.as_curl_command()}")
        if CONFORMANCE:
            try:
                case.validate_response(response, headers=_auth(key))
            except FailureGroup as failed:
                for found in failed.exceptions:
                    label = f"{operation.label}: {str(found).strip().splitlines()[0][:100]}"
                    tally.findings[label] = tally.findings.get(label, 0) + 1
                    if os.environ.get("PROCTOR_FUZZ_SHOW") and tally.findings[label] == 1:
                        print(label, response.status_code, response.text[:200])
                        print("   ", case.as_curl_command()[:400])

    run()


def _edges(
    operation: APIOperation[Any, Any, Any, Any],
    spec: dict[str, Any],
    served: Served,
    key: str,
    ids: dict[str, str],
    session: Any,
    tally: Tally,
) -> None:
    """Each integer query parameter, and each header that carries a seq, at ``EDGES``."""
    declared = spec["paths"][operation.path][operation.method.lower()].get("parameters", [])
    integers = [
        p["name"]
        for p in declared
        if p["in"] == "query" and "integer" in json.dumps(p.get("schema", {}))
    ]
    path_ids = {name: ids[name] for name in ids if f"{{{name}}}" in operation.path}
    for value in EDGES:
        cases = [operation.Case(path_parameters=path_ids, query={name: value}) for name in integers]
        cases += [
            operation.Case(path_parameters=path_ids, headers={name: str(value)})
            for name in SEQ_HEADERS
            if any(p["name"].lower() == name.lower() for p in declared)
        ]
        for case in cases:
            response = case.call(base_url=served.url, session=session, headers=_auth(key))
            tally.requests += 1
            if response.status_code >= 500:
                tally.server_errors.append(f"{response.status_code}: {case.as_curl_command()}")


def test_no_request_the_document_allows_or_forbids_is_a_server_error(served: Served) -> None:
    schema = schemathesis.openapi.from_url(f"{served.url}/openapi.json")
    operations = [found.ok() for found in schema.get_all_operations() if isinstance(found, Ok)]
    assert len(operations) == 19
    tally = Tally()
    spec = httpx2.get(f"{served.url}/openapi.json").json()
    with requests.Session() as session:
        for operation in operations:
            path_ids = {name: served.ids[name] for name in served.ids if name in operation.path}
            if operation.label == "POST /api/v1/runs":
                path_ids = {"workflow": served.ids["workflow"]}
            for role in ROLES:
                key = served.keys[role]
                for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                    for ids in [None, path_ids] if path_ids else [None]:
                        _fuzz(operation, served, key, mode, ids, session, tally)
                _edges(operation, spec, served, key, served.ids, session, tally)
    log = served.log.read_text()
    print(f"fuzz: {tally.requests} requests, {len(tally.server_errors)} server errors")
    for finding, count in sorted(tally.findings.items()):
        print(f"  {count:5d}  {finding}")
    assert tally.server_errors == [], "\n".join(tally.server_errors[:20])
    assert "Traceback" not in log, log[-5000:]
    assert tally.requests >= len(operations) * len(ROLES) * EXAMPLES
