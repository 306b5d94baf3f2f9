"""MCP: a real upstream server (the SDK's, over stdio and streamable HTTP), its tools
imported and governed, and ``proctor mcp proxy`` in front of it for a real MCP client."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mcp", reason="the mcp extra is not installed")

import mcp_types
from mcp import Client, StdioServerParameters

from proctor.contracts import Contract
from proctor.integrations import McpProxy, McpServer, McpTools
from proctor.runtime import decide_approval
from proctor.store import (
    MemoryStore,
    ModelCalled,
    RunFilter,
    SQLiteStore,
    ToolFinished,
    row_to_event,
    verify_run,
)

UPSTREAM = str(Path(__file__).parents[1] / "support" / "mcp_upstream.py")
CONTRACT = {
    "workflow": "desk",
    "tools": {"desk.lookup": {"effect": "read"}, "desk.refund": {"effect": "write"}},
    "forbidden_tools": ["desk.admin_reset"],
    "approvals": [{"tool": "desk.refund", "when": "args.amount > 100"}],
}


def desk(ledger: Path) -> McpServer:
    return McpServer(
        name="desk", command=(sys.executable, UPSTREAM), env={"DESK_LEDGER": str(ledger)}
    )


def text(result: mcp_types.CallToolResult) -> str:
    block = result.content[0]
    assert isinstance(block, mcp_types.TextContent)
    return block.text


@contextlib.asynccontextmanager
async def governed(
    ledger: Path, store: Any, **options: Any
) -> AsyncIterator[tuple[McpProxy, McpTools]]:
    contract = Contract.model_validate(CONTRACT)
    async with McpTools([desk(ledger)], contract=contract) as tools:
        proxy = McpProxy(store, contract, tools, **options)
        try:
            yield proxy, tools
        finally:
            await proxy.close()


async def test_imported_tools_take_their_schemas_from_the_server_and_effects_from_the_contract(
    tmp_path: Path,
) -> None:
    async with governed(tmp_path / "ledger", MemoryStore()) as (_, tools):
        assert sorted(tools.registry.names) == [
            "desk.admin_reset",  # "admin/reset" upstream: a name Proctor can hold
            "desk.crash",
            "desk.lookup",
            "desk.refund",
        ]
        lookup, crash = tools.registry.get("desk.lookup"), tools.registry.get("desk.crash")
        assert lookup is not None
        assert crash is not None
        assert lookup.effect == "read"
        assert crash.effect == "write"  # undeclared: counts as a write
        assert lookup.parameters["required"] == ["customer"]
        assert tools.imported["desk.admin_reset"].name == "admin/reset"


async def test_the_proxy_governs_each_call_and_records_the_session_as_a_run(
    tmp_path: Path,
) -> None:
    ledger = tmp_path / "ledger"
    store = MemoryStore()
    async with governed(ledger, store) as (proxy, _), Client(proxy.server) as client:
        listed = [tool.name for tool in (await client.list_tools()).tools]
        assert listed == ["desk.lookup", "desk.refund", "desk.crash"]  # not the forbidden

        found = await client.call_tool("desk.lookup", {"customer": "c-1"})
        assert not found.is_error
        assert found.structured_content == {"customer": "c-1", "tier": "gold"}
        forbidden = await client.call_tool("desk.admin_reset", {})
        assert forbidden.is_error
        assert "forbidden" in text(forbidden)
        invalid = await client.call_tool("desk.refund", {"customer": "c-1"})
        assert invalid.is_error
        assert "amount" in text(invalid)
        failed = await client.call_tool("desk.lookup", {"customer": "nobody"})
        assert failed.is_error
        assert "no such customer" in text(failed)

        big = {"customer": "c-1", "amount": 500}
        pending = await client.call_tool("desk.refund", big)
        assert pending.is_error
        assert "proctor approve ap_" in text(pending)
        approval_id = text(pending).split("proctor approve ")[1].split("`")[0]
        assert not ledger.exists()
        await decide_approval(store, approval_id, approved=True, by="bob")
        paid = await client.call_tool("desk.refund", big)
        assert not paid.is_error, text(paid)
        assert ledger.read_text() == "c-1 500.0\n"

        crashed = await client.call_tool("desk.crash", {})
        assert crashed.is_error
        assert "desk" in text(crashed)
        after = await client.call_tool("desk.lookup", {"customer": "c-2"})
        assert after.is_error  # the server is gone; the session carries on recording

    runs = await store.list_runs(RunFilter())
    assert len(runs) == 1
    run_id = runs[0].run_id
    assert runs[0].model.startswith("agent:")
    assert runs[0].outcome == "resolved"
    assert (await verify_run(store, run_id)).ok
    events = [row_to_event(row).data for row in await store.events(run_id)]
    calls = [c.name for e in events if isinstance(e, ModelCalled) for c in e.tool_calls]
    assert calls == [
        "desk.lookup",
        "desk.admin_reset",
        "desk.refund",
        "desk.lookup",
        "desk.refund",
        "desk.crash",
        "desk.lookup",
    ]
    finished = [(e.tool, e.ok) for e in events if isinstance(e, ToolFinished)]
    assert finished == [
        ("desk.lookup", True),
        ("desk.lookup", False),
        ("desk.refund", True),
        ("desk.crash", False),
        ("desk.lookup", False),
    ]


async def test_an_approval_is_asked_in_the_client_and_the_person_recorded(
    tmp_path: Path,
) -> None:
    ledger = tmp_path / "ledger"
    store = MemoryStore()
    asked: list[str] = []

    async def answer(context: Any, params: Any) -> mcp_types.ElicitResult:
        asked.append(params.message)
        approve = "500" in params.message
        return mcp_types.ElicitResult(
            action="accept", content={"approve": approve, "reason": "checked"}
        )

    async with governed(ledger, store, approver="user:carol") as (proxy, _):  # noqa: SIM117
        async with Client(proxy.server, elicitation_callback=answer) as client:
            paid = await client.call_tool("desk.refund", {"customer": "c-1", "amount": 500})
            assert not paid.is_error, text(paid)
            refused = await client.call_tool("desk.refund", {"customer": "c-2", "amount": 900})
            assert refused.is_error
            assert "Proctor denied" in text(refused)
    assert len(asked) == 2
    assert "desk.refund" in asked[0]
    assert ledger.read_text() == "c-1 500.0\n"
    decided = [a for a in await store.list_approvals(status=None) if a.status != "pending"]
    assert sorted((a.status, a.decided_by) for a in decided) == [
        ("approved", "user:carol"),
        ("denied", "user:carol"),
    ]


async def test_an_idle_client_gets_a_new_run(tmp_path: Path) -> None:
    now = [0.0]
    store = MemoryStore()
    async with (
        governed(tmp_path / "ledger", store, idle_gap_s=60, clock=lambda: now[0]) as (
            proxy,
            _,
        ),
        Client(proxy.server) as client,
    ):
        await client.call_tool("desk.lookup", {"customer": "c-1"})
        now[0] = 30.0
        await client.call_tool("desk.lookup", {"customer": "c-2"})
        now[0] = 200.0
        await client.call_tool("desk.lookup", {"customer": "c-3"})
    runs = sorted(await store.list_runs(RunFilter()), key=lambda run: run.started_at)
    assert [run.outcome for run in runs] == ["resolved", "resolved"]
    assert [run.tool_calls for run in runs] == [2, 1]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def http_upstream(tmp_path: Path) -> Iterator[str]:
    port = _free_port()
    env = {**os.environ, "DESK_LEDGER": str(tmp_path / "ledger")}
    process = subprocess.Popen(
        [sys.executable, UPSTREAM, "--http", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            time.sleep(0.1)
        else:
            pytest.fail("the upstream MCP server did not start listening")
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        process.wait(timeout=10)


async def test_the_cli_proxy_in_front_of_an_upstream_over_streamable_http(
    http_upstream: str, tmp_path: Path
) -> None:
    contract = tmp_path / "desk.yaml"
    contract.write_text("workflow: desk\ntools: {desk.lookup: {effect: read}}\n")
    db = tmp_path / "runs.db"
    proctor = str(Path(sys.executable).with_name("proctor"))
    args = ["--db", str(db), "mcp", "proxy", "--contract", str(contract)]
    server = StdioServerParameters(
        command=proctor,
        args=[*args, "--url", http_upstream, "--name", "desk"],
        env=dict(os.environ),
    )
    async with Client(server) as client:
        found = await client.call_tool("desk.lookup", {"customer": "c-9"})
        assert found.structured_content == {"customer": "c-9", "tier": "gold"}
        small = await client.call_tool("desk.refund", {"customer": "c-9", "amount": 5})
        assert not small.is_error
    assert (tmp_path / "ledger").read_text() == "c-9 5.0\n"
    store = SQLiteStore(db)
    try:
        assert (await store.list_runs(RunFilter()))[0].tool_calls == 2
    finally:
        await store.close()


async def test_the_cli_proxy_serves_a_real_client_over_stdio(tmp_path: Path) -> None:
    contract = tmp_path / "desk.yaml"
    contract.write_text(
        "workflow: desk\n"
        "tools: {desk.lookup: {effect: read}}\n"
        "forbidden_tools: [desk.admin_reset]\n"
        "approvals: [{tool: desk.refund, when: 'args.amount > 100'}]\n"
    )
    db = tmp_path / "runs.db"
    proctor = str(Path(sys.executable).with_name("proctor"))
    env = {**os.environ, "DESK_LEDGER": str(tmp_path / "ledger")}
    command = ["--db", str(db), "mcp", "proxy", "--contract", str(contract), "--name", "desk"]
    server = StdioServerParameters(
        command=proctor, args=[*command, "--", sys.executable, UPSTREAM], env=env
    )
    async with Client(server) as client:
        listed = sorted(tool.name for tool in (await client.list_tools()).tools)
        assert listed == ["desk.crash", "desk.lookup", "desk.refund"]
        found = await client.call_tool("desk.lookup", {"customer": "c-1"})
        assert found.structured_content == {"customer": "c-1", "tier": "gold"}
        refund = await client.call_tool("desk.refund", {"customer": "c-1", "amount": 5})
        assert not refund.is_error
        pending = await client.call_tool("desk.refund", {"customer": "c-1", "amount": 500})
        assert pending.is_error
        assert "proctor approve" in text(pending)
    await asyncio.sleep(0)
    store = SQLiteStore(db)
    try:
        runs = await store.list_runs(RunFilter())
        assert len(runs) == 1
        assert runs[0].status == "awaiting_approval"  # the session ended waiting
        assert runs[0].tool_calls == 3
        assert (await verify_run(store, runs[0].run_id)).ok
    finally:
        await store.close()


async def test_the_cli_serves_a_workflows_own_tools(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    proctor = str(Path(sys.executable).with_name("proctor"))
    server = StdioServerParameters(
        command=proctor,
        args=["--db", str(db), "mcp", "serve", "--workflow", "invoice_reconciliation"],
        env=dict(os.environ),
    )
    async with Client(server) as client:
        listed = {tool.name for tool in (await client.list_tools()).tools}
        assert {"erp.fetch_po", "erp.create_payment"} <= listed
        fetched = await client.call_tool("erp.fetch_po", {"po_number": "PO-4711"})
        assert not fetched.is_error, text(fetched)
        assert isinstance(fetched.structured_content, dict)
        unknown = await client.call_tool("erp.fetch_po", {"po": 1})
        assert unknown.is_error
        assert "Proctor denied" in text(unknown)
    store = SQLiteStore(db)
    try:
        runs = await store.list_runs(RunFilter())
        assert [run.workflow for run in runs] == ["invoice_reconciliation"]
        assert runs[0].tool_calls == 2
    finally:
        await store.close()


async def test_the_proxy_serves_clients_over_streamable_http_on_loopback_only(
    tmp_path: Path,
) -> None:
    import uvicorn

    from proctor.errors import UsageError
    from proctor.integrations import http_app

    store = MemoryStore()
    async with governed(tmp_path / "ledger", store) as (proxy, _):
        with pytest.raises(UsageError, match="loopback"):
            http_app(proxy, host="0.0.0.0")
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        server = uvicorn.Server(
            uvicorn.Config(http_app(proxy), log_level="warning", lifespan="on", ws="none")
        )
        task = asyncio.create_task(server.serve([sock]))
        try:
            while not server.started:
                await asyncio.sleep(0.01)
            async with Client(f"http://127.0.0.1:{port}/mcp") as client:
                listed = {tool.name for tool in (await client.list_tools()).tools}
                assert "desk.admin_reset" not in listed
                found = await client.call_tool("desk.lookup", {"customer": "c-4"})
                assert found.structured_content == {"customer": "c-4", "tier": "gold"}
                denied = await client.call_tool("desk.admin_reset", {})
                assert denied.is_error
                big = {"customer": "c-4", "amount": 700}
                pending = await client.call_tool("desk.refund", big)
                assert pending.is_error
                approval_id = text(pending).split("proctor approve ")[1].split("`")[0]
                await decide_approval(store, approval_id, approved=True, by="bob")
                paid = await client.call_tool("desk.refund", big)
                assert not paid.is_error, text(paid)
        finally:
            server.should_exit = True
            await task
            sock.close()
    assert (tmp_path / "ledger").read_text() == "c-4 700.0\n"
    runs = await store.list_runs(RunFilter())
    assert [(run.tool_calls, run.outcome) for run in runs] == [(3, "resolved")]
