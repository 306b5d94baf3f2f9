"""The OpenAI-compatible HTTP endpoint of the project's gateway (``proctor gateway serve``).

``/v1/chat/completions`` and ``/v1/responses`` (whole or streamed), ``/v1/embeddings``
and ``/v1/models`` in front of a ``proctor.gateway.Gateway``: every call authenticated by
its API key, held to the key's routes, budget and rate limits, and recorded in the
store's call ledger. It sits above
the gateway and imports Starlette and uvicorn, so the CLI loads it only to serve.

``create_app`` builds the ASGI app over a gateway; ``serve_gateway`` builds the gateway
from ``proctor.yaml`` and serves it with uvicorn; ``run_gateway`` also opens the store and
the event loop (what ``proctor gateway serve`` runs). See docs/gateway.md.
"""

from __future__ import annotations

from proctor.errors import needs_extra as _needs_extra

# Starlette, uvicorn and httptools come with the server extra, not with the core.
with _needs_extra("proctor.endpoint"):
    from proctor.endpoint._app import create_app
    from proctor.endpoint._governor import SESSION_HEADER, ChatGovernor
    from proctor.endpoint._keys import ApiKey, KeyRing, check_exposure
    from proctor.endpoint._ledger import CallLedger
    from proctor.endpoint._serve import endpoint_clients, preflight, run_gateway, serve_gateway

__all__ = [
    "SESSION_HEADER",
    "ApiKey",
    "CallLedger",
    "ChatGovernor",
    "KeyRing",
    "check_exposure",
    "create_app",
    "endpoint_clients",
    "preflight",
    "run_gateway",
    "serve_gateway",
]
