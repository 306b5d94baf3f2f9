"""Arize Phoenix as the real OTLP/HTTP receiver the end-to-end export test sends spans to.

``make test`` installs Phoenix into ``.tools/phoenix`` (its own virtual environment: it is
a server the tests start, not a library they import). ``PROCTOR_TEST_PHOENIX`` may name
another ``phoenix`` executable. A test that cannot start it is skipped on a developer
machine and fails in CI (``CI=true``), where it must run.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn
from urllib.error import URLError

import pytest

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 120.0


def phoenix_executable() -> Path | None:
    """``$PROCTOR_TEST_PHOENIX``, else the one ``make test`` installs, else ``phoenix`` on PATH."""
    named = os.environ.get("PROCTOR_TEST_PHOENIX")
    if named:
        return Path(named)
    local = REPO / ".tools" / "phoenix" / "bin" / "phoenix"
    if local.exists():
        return local
    found = shutil.which("phoenix")
    return Path(found) if found else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def unavailable(reason: str) -> NoReturn:
    """Skip (a developer machine) or fail (CI) a test that needs Phoenix."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}: CI must run the OpenTelemetry end-to-end test")
    pytest.skip(reason)


@dataclass(frozen=True)
class Phoenix:
    """A running Phoenix: where to send spans, and how to read them back."""

    url: str

    def spans(self, project: str) -> list[dict[str, Any]]:
        """Every span of ``project``, as Phoenix's REST API returns them."""
        spans: list[dict[str, Any]] = []
        cursor = ""
        while True:
            query = f"?limit=1000{'&cursor=' + cursor if cursor else ''}"
            try:
                with urllib.request.urlopen(
                    f"{self.url}/v1/projects/{project}/spans{query}", timeout=10
                ) as answer:
                    page = json.loads(answer.read())
            except URLError as exc:
                if getattr(exc, "code", None) == 404:  # no span has arrived yet
                    return []
                raise
            spans.extend(page["data"])
            cursor = page.get("next_cursor") or ""
            if not cursor:
                return spans

    def graphql(self, query: str, **variables: Any) -> dict[str, Any]:
        """The ``data`` of a query to Phoenix's GraphQL API (what its UI reads)."""
        body = json.dumps({"query": query, "variables": variables}).encode()
        request = urllib.request.Request(
            f"{self.url}/graphql", data=body, headers={"content-type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            reply = json.loads(answer.read())
        assert not reply.get("errors"), reply["errors"]
        data: dict[str, Any] = reply["data"]
        return data

    def wait_for(self, project: str, count: int, timeout_s: float = 30.0) -> list[dict[str, Any]]:
        """The project's spans once at least ``count`` have arrived (ingestion is async)."""
        deadline = time.monotonic() + timeout_s
        while True:
            spans = self.spans(project)
            if len(spans) >= count or time.monotonic() > deadline:
                return spans
            time.sleep(0.25)


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=2) as answer:
            return bool(answer.status == 200)
    except (URLError, OSError):
        return False


@contextmanager
def running_phoenix(workdir: Path) -> Iterator[Phoenix]:
    """Start Phoenix on free loopback ports with its data in ``workdir``; stop it after."""
    executable = phoenix_executable()
    if executable is None or not executable.exists():
        unavailable(
            "Arize Phoenix is not installed: `make test` installs it into .tools/phoenix "
            "(or set PROCTOR_TEST_PHOENIX to a phoenix executable)"
        )
    port = free_port()
    env = {
        **os.environ,
        "PHOENIX_WORKING_DIR": str(workdir),
        "PHOENIX_HOST": "127.0.0.1",
        "PHOENIX_PORT": str(port),
        "PHOENIX_GRPC_PORT": str(free_port()),
        "PHOENIX_TELEMETRY_ENABLED": "false",
    }
    log = workdir / "phoenix.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(executable), "serve"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _healthy(url):
            if process.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-2000:]
                unavailable(f"Phoenix did not start at {url} ({executable}):\n{tail}")
            time.sleep(0.25)
        yield Phoenix(url)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
