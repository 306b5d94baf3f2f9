"""Server layer: the HTTP API (FastAPI) and the web UI, over the store and the runtime.

``proctor serve`` runs it (``serve``); ``build_app`` and ``create_server`` build the app
for embedding and tests, and ``server_thread`` serves one on a free loopback port.
"""

from __future__ import annotations

from proctor.errors import needs_extra as _needs_extra

# FastAPI, uvicorn and Jinja2 come with the server extra, not with the core.
with _needs_extra("proctor.server"):
    from proctor.server._app import create_server
    from proctor.server._keys import PERMISSIONS, ROLES, Principal, Role, create_api_key, key_digest
    from proctor.server._serve import build_app, ensure_admin_key, serve, server_thread

__all__ = [
    "PERMISSIONS",
    "ROLES",
    "Principal",
    "Role",
    "build_app",
    "create_api_key",
    "create_server",
    "ensure_admin_key",
    "key_digest",
    "serve",
    "server_thread",
]
