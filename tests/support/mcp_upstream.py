"""A real MCP server (the official SDK's ``MCPServer``) for the integration tests: a small
help desk over stdio, or streamable HTTP with ``--http PORT``.

``desk.refund`` appends to the file named by ``$DESK_LEDGER`` so a test can tell how often
a write really happened; ``desk.crash`` kills the server in the middle of a call.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

server = MCPServer("desk")


@server.tool()
def lookup(customer: str) -> dict[str, str]:
    """Find a customer."""
    if customer == "nobody":
        raise ToolError("no such customer")
    return {"customer": customer, "tier": "gold"}


@server.tool()
def refund(customer: str, amount: float) -> str:
    """Refund a customer."""
    ledger = os.environ.get("DESK_LEDGER")
    if ledger:
        with Path(ledger).open("a") as out:
            out.write(f"{customer} {amount}\n")
    return f"refunded {amount} to {customer}"


@server.tool(name="admin/reset")
def reset() -> str:
    """Wipe everything (never to be called)."""
    return "wiped"


@server.tool()
def crash() -> str:
    """Die in the middle of the call."""
    os._exit(3)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--http":
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run()
