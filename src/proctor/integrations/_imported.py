"""Tools another system describes (an MCP server, a framework's agent, a chat client),
governed as the contract's ``tools:`` declares them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from proctor.contracts import Contract
from proctor.tools import Effect, Tool


def imported_tool(
    contract: Contract | None,
    name: str,
    schema: dict[str, Any] | None,
    handler: Callable[..., Any],
    *,
    description: str = "",
    effect: Effect | None = None,
    timeout_s: float = 300.0,
) -> Tool:
    """A tool from its JSON Schema (``Tool.from_schema``) whose effect, risk and
    idempotency the contract's ``tools:`` declares; what it leaves out is ``effect`` (else
    a write: the system describing the tool is the one being governed), ``medium`` risk,
    not idempotent."""
    declared = None if contract is None else contract.declared(name)
    return Tool.from_schema(
        name,
        dict(schema or {}),
        handler,
        description=description,
        effect=(declared.effect if declared else None) or effect or "write",
        risk=(declared.risk if declared else None) or "medium",
        idempotent=bool(declared and declared.idempotent),
        timeout_s=timeout_s,
    )
