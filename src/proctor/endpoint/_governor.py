"""``ChatGovernor``: what governs the calls a chat client's model proposes.

The endpoint only relays; a governor (``proctor.integrations.GoverningGateway``, a layer
above) decides, per API key or route, whether a request is answered by the gateway as
it is or by a governed run of the conversation. Defined here so the endpoint can hand
requests over without importing the layers that govern them.
"""

from __future__ import annotations

from typing import Protocol

from proctor.gateway import GatewayResult, ModelRequest

SESSION_HEADER = "x-proctor-session"
"""A client's name for its conversation (else the governor derives one)."""


class ChatGovernor(Protocol):
    """Answers the requests of governed keys and routes."""

    def governs(self, key: str, route: str) -> bool:
        """Whether requests of API key ``key`` to ``route`` are governed."""
        ...

    async def complete(
        self, request: ModelRequest, *, key: str, session: str | None
    ) -> GatewayResult:
        """The answer the client receives: only allowed tool calls, a final text, or a
        message saying a call waits for approval."""
        ...
