"""The official ``openai`` Node client through the endpoint: one round trip of every shape.

``node/roundtrip.mjs`` (the client from ``node/package-lock.json``; ``make test`` installs
it) runs once against an in-process endpoint in front of a ``FakeOpenAIServer`` and prints
what it got as JSON. Without ``node`` or the installed client the test is skipped here and
fails in CI (``CI=true``), as the PostgreSQL and Redis tests do.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from proctor.store import SQLiteStore
from support.fake_openai import Completion, ErrorReply, FakeOpenAIServer, FakeToolCall
from support.http_endpoint import one_model_config, running_endpoint

NODE_DIR = Path(__file__).parent / "node"
SCRIPT = NODE_DIR / "roundtrip.mjs"
TOOL_CHOICE = {"type": "function", "function": {"name": "fetch_po"}}


def node_or_skip() -> str:
    """The ``node`` executable with the client installed; else skip (fail on CI)."""
    node = shutil.which("node")
    if node is None:
        reason = "node is not installed (the openai Node client test needs Node.js 20+)"
    elif not (NODE_DIR / "node_modules" / "openai" / "package.json").exists():
        reason = f"the openai Node client is not installed: npm ci --prefix {NODE_DIR}"
        node = None
    else:
        return node
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI must run this test", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def upstream(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAIServer]:
    monkeypatch.setenv("FAKE_UPSTREAM_KEY", "upstream-secret")
    monkeypatch.setenv("NODE_KEY", "sk-node")
    with FakeOpenAIServer() as server:
        yield server


async def run_node(node: str, base_url: str) -> dict[str, Any]:
    """Run the script without blocking the loop the endpoint serves on."""
    env = {**os.environ, "BASE_URL": base_url, "API_KEY": "sk-node"}
    proc = await asyncio.create_subprocess_exec(
        node, str(SCRIPT), env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        async with asyncio.timeout(30):
            out, err = await proc.communicate()
    except TimeoutError:
        proc.kill()  # not left running past the test
        await proc.wait()
        raise
    assert proc.returncode == 0, err.decode()
    result: dict[str, Any] = json.loads(out)
    return result


async def test_openai_node_client_round_trip(upstream: FakeOpenAIServer, db: SQLiteStore) -> None:
    node = node_or_skip()
    upstream.enqueue(
        Completion(
            text=None, tool_calls=[FakeToolCall(name="fetch_po", arguments='{"po":"PO-1"}')]
        ),
        Completion(text='{"total": 42.5}'),
        Completion(text="three streamed words"),
        ErrorReply(status=500, message="upstream down", type="server_error"),
    )
    config = one_model_config(
        upstream.base_url,
        keys=[{"name": "node", "key_env": "NODE_KEY", "rpm": 600, "tpm": 100_000}],
        retry={"max_retries": 0},  # the gateway's own attempts: one, so any retry is the SDK's
    )
    async with running_endpoint(config, db) as endpoint:
        got = await run_node(node, endpoint.base_url)

    tools, structured, streamed, failed = upstream.bodies
    assert got["tools"] == {
        "finish_reason": "tool_calls",
        "tool_calls": [{"name": "fetch_po", "arguments": {"po": "PO-1"}}],
        "ratelimit_limit_requests": "600",
    }
    assert tools["tool_choice"] == TOOL_CHOICE
    assert tools["seed"] == 7
    assert tools["tools"][0]["function"]["name"] == "fetch_po"

    assert got["json_schema"] == {"total": 42.5}
    assert structured["response_format"]["type"] == "json_schema"
    assert structured["response_format"]["json_schema"]["name"] == "invoice_total"
    assert structured["seed"] == 7

    assert got["stream"]["text"] == "three streamed words"
    assert got["stream"]["usage"]["total_tokens"] == 15
    assert streamed["stream"] is True
    assert streamed["stream_options"] == {"include_usage": True}

    assert got["models"] == {"listed": ["small"], "retrieved": "small"}

    assert got["bad_key"] == {
        "class": "AuthenticationError",
        "isAuthenticationError": True,
        "status": 401,
        "code": "invalid_api_key",
        "shouldRetry": "false",
    }
    # The SDK retries a 5xx twice by default; x-should-retry: false stops it, so the
    # upstream saw the failing call once (and the bad key's call not at all).
    assert got["upstream_error"] == {
        "class": "InternalServerError",
        "isAuthenticationError": False,
        "status": 502,
        "code": "server_error",
        "shouldRetry": "false",
    }
    assert failed["messages"][0]["content"] == "the upstream fails this one"
    assert len(upstream.bodies) == 4
