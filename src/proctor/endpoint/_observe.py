"""What ``/metrics`` and the call spans read beside the calls themselves.

``providers`` names each deployment's and route's provider for spans and metrics.
"""

from __future__ import annotations

from proctor.gateway import Gateway, GatewayConfig


def providers(gateway: Gateway, config: GatewayConfig) -> dict[str, str]:
    """The configured provider of each deployment, and of each route (its first
    deployment's, for calls refused before any deployment answered)."""
    found: dict[str, str] = {name: model.provider for name, model in config.models.items()}
    for route, chain in gateway.routes.items():
        if chain and chain[0] in found:
            found.setdefault(route, found[chain[0]])
    return found
