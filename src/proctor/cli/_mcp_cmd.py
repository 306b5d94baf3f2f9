"""``proctor mcp proxy``: a governing MCP server in front of MCP servers."""

from __future__ import annotations

import getpass
from pathlib import Path

import typer

from proctor.cli._context import command_group

app = command_group(help="MCP: govern the tools of MCP servers.", no_args_is_help=True)


@app.command(
    "proxy", context_settings={"allow_interspersed_args": False, "ignore_unknown_options": True}
)
def proxy(
    command: list[str] = typer.Argument(
        None, help="After --: the command of one MCP server to launch (stdio)."
    ),
    contract: str = typer.Option(..., "--contract", help="The contract the calls run under."),
    workflow: str | None = typer.Option(
        None, "--workflow", help="Which contract of the file (default: its only one)."
    ),
    name: str | None = typer.Option(
        None, "--name", help="Name the command's tools are registered under (default: its program)."
    ),
    url: str | None = typer.Option(
        None, "--url", help="An upstream over streamable HTTP (instead of a command after --)."
    ),
    servers: list[str] = typer.Option(
        [], "--server", help="Another upstream: NAME=URL or NAME='COMMAND ARGS' (repeatable)."
    ),
    idle_gap: float = typer.Option(
        1800.0, "--idle-gap", min=1.0, help="Seconds of client idleness that end its session's run."
    ),
    approver: str | None = typer.Option(
        None,
        "--approver",
        help="Approve in the client (MCP elicitation) as this person; without it, approvals "
        "are decided in the web UI or with proctor approve.",
    ),
    self_approve: bool = typer.Option(
        False, "--approve-in-client", help="Approve in the client as the OS user (user:LOGIN)."
    ),
    http: int | None = typer.Option(
        None,
        "--http",
        min=1,
        max=65535,
        help="Serve streamable HTTP on 127.0.0.1:PORT/mcp instead of stdin/stdout.",
    ),
) -> None:
    """Serve MCP on stdin/stdout: the upstream servers' tools, governed by the contract.

    Point an MCP client's server entry at this command, for example: proctor --db
    runs.db mcp proxy --contract c.yaml -- npx -y @modelcontextprotocol/server-github
    """
    import asyncio

    from proctor.cli._context import options
    from proctor.contracts import load_contract
    from proctor.errors import UsageError, needs_extra
    from proctor.integrations import (
        McpProxy,
        McpServer,
        McpTools,
        run_http_proxy,
        run_stdio_proxy,
    )
    from proctor.store import open_store

    upstreams = [McpServer.parse(spec) for spec in servers]
    if command and url:
        raise UsageError("give the upstream as a command after -- or as --url, not both")
    if command:
        upstreams.insert(0, McpServer(name=name or _default_name(command), command=tuple(command)))
    elif url:
        upstreams.insert(0, McpServer(name=name or _url_name(url), url=url))
    if not upstreams:
        raise UsageError(
            "no MCP server to govern. Fix: end the command with -- COMMAND ARGS, or pass "
            "--url URL or --server NAME=URL"
        )
    rules = load_contract(contract, workflow)
    who = approver or (f"user:{getpass.getuser()}" if self_approve else None)

    async def main() -> None:
        with needs_extra("proctor mcp proxy"):
            import mcp  # noqa: F401  (the extra; refused here with the pip command)
        store = open_store(options.db)
        try:
            async with McpTools(upstreams, contract=rules) as tools:
                typer.echo(
                    f"proctor mcp proxy: {len(tools.registry)} tool(s) from "
                    f"{', '.join(u.name for u in upstreams)} under the {rules.workflow} contract",
                    err=True,
                )
                proxy = McpProxy(store, rules, tools, idle_gap_s=idle_gap, approver=who)
                if http is None:
                    await run_stdio_proxy(proxy)
                else:
                    typer.echo(f"proctor mcp proxy: http://127.0.0.1:{http}/mcp", err=True)
                    await run_http_proxy(proxy, port=http)
        finally:
            await store.close()

    asyncio.run(main())


def _default_name(command: list[str]) -> str:
    """A name for a server's tools from its command: its last word that is not an
    option (``npx -y @modelcontextprotocol/server-github`` -> ``github``)."""
    import os
    import re

    words = [word for word in command if not word.startswith("-")] or command
    base = os.path.basename(words[-1].rstrip("/"))
    base = re.sub(r"\.(py|js|mjs|ts)$", "", base)
    base = re.sub(r"^(mcp[-_]server[-_]|server[-_])|[-_]mcp([-_]server)?$", "", base)
    base = re.sub(r"[^A-Za-z0-9_-]+", "_", base).strip("_-")
    return base if base[:1].isalpha() else f"server_{base}".rstrip("_")


@app.command("serve")
def serve(
    workflow: str = typer.Option(
        ..., "--workflow", "-w", help="The workflow whose tools to serve (name or module:attr)."
    ),
    contract: str | None = typer.Option(
        None, "--contract", help="Govern with this contract instead of the workflow's."
    ),
    input: Path | None = typer.Option(
        None, "--input", "-i", help="JSON file with each session run's input."
    ),
    idle_gap: float = typer.Option(
        1800.0, "--idle-gap", min=1.0, help="Seconds of client idleness that end its session's run."
    ),
    approver: str | None = typer.Option(
        None, "--approver", help="Approve in the client (MCP elicitation) as this person."
    ),
    self_approve: bool = typer.Option(
        False, "--approve-in-client", help="Approve in the client as the OS user (user:LOGIN)."
    ),
) -> None:
    """Serve MCP on stdin/stdout: a workflow's own tools, governed by its contract."""
    import asyncio

    from proctor.cli._context import options
    from proctor.cli._input import read_input
    from proctor.cli._workflows import load_workflow
    from proctor.errors import needs_extra
    from proctor.integrations import McpProxy, run_stdio_proxy
    from proctor.store import open_store

    flow = load_workflow(workflow, contract=Path(contract) if contract else None)
    start_input = read_input(input) if input else {}
    who = approver or (f"user:{getpass.getuser()}" if self_approve else None)

    async def main() -> None:
        with needs_extra("proctor mcp serve"):
            import mcp  # noqa: F401  (the extra; refused here with the pip command)
        store = open_store(options.db)
        try:
            typer.echo(
                f"proctor mcp serve: {len(flow.registry)} tool(s) of {flow.name} under its "
                "contract",
                err=True,
            )
            proxy = McpProxy.for_workflow(
                store, flow, idle_gap_s=idle_gap, approver=who, input=start_input
            )
            await run_stdio_proxy(proxy)
        finally:
            await store.close()

    asyncio.run(main())


def _url_name(url: str) -> str:
    """A name for an HTTP server's tools: its host's first label (``docs`` for
    ``https://docs.example.com/mcp``)."""
    import re
    from urllib.parse import urlsplit

    host = (urlsplit(url).hostname or "server").split(".")[0]
    base = re.sub(r"[^A-Za-z0-9_-]+", "_", host).strip("_-")
    return base if base[:1].isalpha() else f"server_{base}".rstrip("_")
