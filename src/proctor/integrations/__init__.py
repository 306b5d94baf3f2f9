"""Integrations layer: governing agents that live outside Proctor.

``AgentSession`` makes one outside agent's session (an MCP client's, a framework's agent
loop) one governed run: each tool call it makes goes through policy, approvals,
credentials and the record, and the result, denial or pending approval goes back to it.
"""

from __future__ import annotations

from proctor.integrations._session import AgentSession, CallOutcome, CallStatus

__all__ = ["AgentSession", "CallOutcome", "CallStatus"]
