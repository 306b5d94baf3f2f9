"""Server layer: the HTTP API (FastAPI) and the web UI, over the store and the runtime.

``proctor serve`` runs it; ``create_server`` builds the app for embedding and tests.
"""

from __future__ import annotations

from proctor.server._app import create_server
from proctor.server._keys import PERMISSIONS, ROLES, Principal, Role, create_api_key, key_digest

__all__ = [
    "PERMISSIONS",
    "ROLES",
    "Principal",
    "Role",
    "create_api_key",
    "create_server",
    "key_digest",
]
