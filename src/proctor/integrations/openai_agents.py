"""The OpenAI Agents SDK under Proctor (the ``openai-agents`` extra).

``Governor(store, contract).wrap(agent)`` governs an SDK agent's tool calls: each one
goes through policy, approvals, credentials and the chained record, and one SDK run is
one Proctor run. Calls a person must approve become the SDK's own interruptions;
``Governor.approve`` / ``Governor.reject`` record the decision and settle them.
``GatewayModel`` and ``GatewayModelProvider`` make the agent's model calls go through
Proctor's gateway. See docs/integrations.md ("OpenAI Agents SDK").
"""

from __future__ import annotations

from proctor.errors import needs_extra as _needs_extra

# The SDK comes with the openai-agents extra, not with the core.
with _needs_extra("proctor.integrations.openai_agents"):
    from proctor.integrations._oaa_governor import Governor
    from proctor.integrations._oaa_model import GatewayModel, GatewayModelProvider

__all__ = ["GatewayModel", "GatewayModelProvider", "Governor"]
