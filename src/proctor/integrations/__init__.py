"""Integrations layer: governing agents that live outside Proctor.

``AgentSession`` makes one outside agent's session (an MCP client's, a framework's agent
loop) one governed run: each tool call it makes goes through policy, approvals,
credentials and the record, and the result, denial or pending approval goes back to it.
``McpTools`` imports MCP servers' tools; ``McpProxy`` is a governing MCP server in front
of them (``proctor mcp proxy``). The ``mcp`` extra provides the SDK; it is imported when
a connection is made, so the rest works without it.
"""

from __future__ import annotations

from proctor.integrations._chat_gate import GoverningGateway
from proctor.integrations._mcp_proxy import McpProxy, http_app, run_http_proxy, run_stdio_proxy
from proctor.integrations._mcp_tools import ImportedTool, McpServer, McpToolError, McpTools
from proctor.integrations._session import AgentSession, CallOutcome, CallStatus

__all__ = [
    "AgentSession",
    "CallOutcome",
    "CallStatus",
    "GoverningGateway",
    "ImportedTool",
    "McpProxy",
    "McpServer",
    "McpToolError",
    "McpTools",
    "http_app",
    "run_http_proxy",
    "run_stdio_proxy",
]
