"""MCP servers' tools as Proctor tools: connect (stdio or streamable HTTP), list, register.

Each upstream server's tools are registered under its name (``github.create_issue``),
with the schema the server publishes (the one that validates, see ``Tool.from_schema``).
What a tool does comes from the contract's ``tools:`` declarations, never from the
server's hints: an undeclared tool counts as a write. Calling one calls the server; a
result the server marks as an error is a tool error, and so is a server that died.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from proctor.contracts import Contract
from proctor.errors import ToolExecutionError, UsageError
from proctor.integrations._imported import imported_tool
from proctor.tools import Registry

if TYPE_CHECKING:
    import mcp
    import mcp_types

_SEGMENT = re.compile(r"[^A-Za-z0-9_-]+")


@dataclass(frozen=True, slots=True)
class McpServer:
    """One upstream MCP server: a command to launch (stdio) or a URL (streamable HTTP),
    and the name its tools are registered under."""

    name: str
    command: tuple[str, ...] = ()
    url: str | None = None
    env: dict[str, str] | None = None

    @classmethod
    def parse(cls, spec: str) -> McpServer:
        """``NAME=URL`` or ``NAME=COMMAND ARGS...`` (shell words), as the CLI takes them."""
        name, sep, target = spec.partition("=")
        if not sep or not name.strip() or not target.strip():
            raise UsageError(
                f"server {spec!r} is not NAME=COMMAND or NAME=URL. Fix: e.g. "
                "--server 'github=npx -y @modelcontextprotocol/server-github' or "
                "--server docs=http://127.0.0.1:8000/mcp"
            )
        target = target.strip()
        if target.startswith(("http://", "https://")):
            return cls(name=name.strip(), url=target)
        return cls(name=name.strip(), command=tuple(shlex.split(target)))

    def __post_init__(self) -> None:
        if (not self.command) == (self.url is None):
            raise UsageError(f"MCP server {self.name!r}: give a command or a URL, not both")
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", self.name):
            raise UsageError(
                f"MCP server name {self.name!r} is not valid: it prefixes its tools' names "
                "(github.create_issue), so use letters, digits, '_' and '-'"
            )

    def describe(self) -> str:
        return self.url or shlex.join(self.command)


class McpToolError(ToolExecutionError):
    """An MCP server answered a call with an error, or could not be reached."""


@dataclass(slots=True)
class ImportedTool:
    """An upstream tool: where it lives, its own name, and what the server says of it."""

    server: McpServer
    name: str
    listing: mcp_types.Tool


@dataclass
class McpTools:
    """Connections to MCP servers and their tools, as a ``Registry`` (async context
    manager: the servers run, or stay connected, while it is open)."""

    servers: Sequence[McpServer]
    contract: Contract | None = None
    registry: Registry = field(default_factory=Registry)
    imported: dict[str, ImportedTool] = field(default_factory=dict)
    """By Proctor's tool name."""
    _clients: dict[str, mcp.Client] = field(default_factory=dict)
    _stack: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack)

    async def __aenter__(self) -> McpTools:
        names = [server.name for server in self.servers]
        if len(set(names)) != len(names):
            raise UsageError(f"two MCP servers share a name: {names}; each needs its own")
        try:
            for server in self.servers:
                client = await self._connect(server)
                for listing in await _all_tools(client):
                    self._register(server, listing)
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()

    async def _connect(self, server: McpServer) -> mcp.Client:
        from mcp import Client, StdioServerParameters
        from mcp_types import Implementation

        target: Any
        if server.url is not None:
            target = server.url
        else:
            target = StdioServerParameters(
                command=server.command[0],
                args=list(server.command[1:]),
                env={**os.environ, **(server.env or {})},
            )
        client = Client(
            target,
            client_info=Implementation(name="proctor", version="0.1.0"),
            cache=None,  # every call reaches the server: a cached answer would be unrecorded
        )
        try:
            await self._stack.enter_async_context(client)
        except Exception as exc:
            raise UsageError(
                f"could not connect to MCP server {server.name!r} ({server.describe()}): "
                f"{_why(exc)}. Fix: check that the command runs (or the URL answers) on its own"
            ) from None
        self._clients[server.name] = client
        return client

    def _register(self, server: McpServer, listing: mcp_types.Tool) -> None:
        name = f"{server.name}.{_SEGMENT.sub('_', listing.name).strip('_') or 'tool'}"
        if name in self.imported:
            raise UsageError(
                f"MCP server {server.name!r} lists two tools that both become {name!r}"
            )
        self.imported[name] = ImportedTool(server, listing.name, listing)
        self.registry.register(
            imported_tool(
                self.contract,
                name,
                listing.input_schema,
                _Caller(self, server.name, listing.name),
                description=listing.description or listing.title or "",
            )
        )

    async def call(self, server: str, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """Call ``tool`` on ``server``: the result as JSON (``content``, and
        ``structuredContent`` when given); ``McpToolError`` if it failed."""
        client = self._clients[server]
        try:
            result = await client.call_tool(tool, arguments)
        except Exception as exc:  # the server died, the connection broke, a protocol error
            raise McpToolError(f"MCP server {server!r} failed on {tool}: {_why(exc)}") from None
        answer = result.model_dump(mode="json", by_alias=True, exclude_none=True)
        answer.pop("resultType", None)
        if result.is_error:
            text = " ".join(
                block.get("text", "")
                for block in answer.get("content", [])
                if isinstance(block, dict)
            )
            raise McpToolError(text.strip() or f"{tool} failed on MCP server {server!r}")
        answer.pop("isError", None)
        return answer


@dataclass(frozen=True, slots=True)
class _Caller:
    """The handler of one imported tool (``Tool.from_schema``'s ``handler(arguments)``)."""

    tools: McpTools
    server: str
    tool: str

    async def __call__(self, arguments: dict[str, Any]) -> dict[str, Any]:
        return await self.tools.call(self.server, self.tool, arguments)


async def _all_tools(client: mcp.Client) -> list[mcp_types.Tool]:
    tools: list[mcp_types.Tool] = []
    cursor: str | None = None
    while True:
        page = await client.list_tools(cursor=cursor)
        tools.extend(page.tools)
        cursor = page.next_cursor
        if not cursor:
            return tools


def _why(exc: BaseException) -> str:
    """A one-line reason, through the task groups anyio wraps errors in."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
