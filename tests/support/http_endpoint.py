"""The gateway's OpenAI-compatible endpoint on a real loopback port, for tests.

``running_endpoint`` serves ``create_app`` with uvicorn in a task of the test's event
loop, on an ephemeral port, in front of a ``FakeOpenAIServer``; clients talk real HTTP.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import openai
import uvicorn

from proctor.endpoint import CallLedger, ChatGovernor, create_app, endpoint_clients
from proctor.gateway import Gateway, GatewayConfig, ModelClient, build_gateway
from proctor.store import Store


@dataclass
class Endpoint:
    """A running endpoint: its base URL, and how to stop it (draining the ledger)."""

    base_url: str
    server: uvicorn.Server
    task: asyncio.Task[None]
    gateway: Gateway
    clients: list[openai.AsyncOpenAI] = field(default_factory=list)

    def client(self, key: str = "sk-alice") -> openai.AsyncOpenAI:
        """The official client, as a user would point it at the gateway (no SDK retries)."""
        client = openai.AsyncOpenAI(base_url=self.base_url, api_key=key, max_retries=0, timeout=20)
        self.clients.append(client)
        return client

    async def stop(self) -> None:
        """Stop serving (the lifespan writes the ledger's queue); close the clients."""
        for client in self.clients:
            await client.close()
        self.clients.clear()
        if not self.task.done():
            self.server.should_exit = True
            await self.task
        await self.gateway.aclose()


def one_model_config(base_url: str, **more: Any) -> dict[str, Any]:
    """A ``proctor.yaml`` mapping with one model, ``small`` (gpt-4o-mini at ``base_url``,
    its key in ``$FAKE_UPSTREAM_KEY``), plus ``more`` top-level sections."""
    model = {"model": "gpt-4o-mini", "base_url": base_url, "api_key_env": "FAKE_UPSTREAM_KEY"}
    return {"models": {"small": model}, **more}


@asynccontextmanager
async def running_endpoint(
    raw_config: Mapping[str, Any],
    store: Store,
    *,
    flush_after_s: float = 0.005,
    govern: Callable[[Gateway, Store], ChatGovernor] | None = None,
    clients: Mapping[str, ModelClient] | None = None,
) -> AsyncIterator[Endpoint]:
    """Serve a gateway built from ``raw_config`` (a ``proctor.yaml`` mapping) on loopback;
    ``govern`` makes the governor of its governed keys and routes; ``clients`` replaces
    the clients of the models it names (a scripted one, say)."""
    config = GatewayConfig.model_validate(raw_config)
    served = {**endpoint_clients(config), **(clients or {})}
    gateway = build_gateway(config, store, clients=served)  # as served
    app = create_app(
        gateway,
        config,
        store,
        ledger=CallLedger(store, flush_after_s=flush_after_s),
        governor=None if govern is None else govern(gateway, store),
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, lifespan="on", log_level="warning", ws="none", access_log=False)
    )
    task = asyncio.create_task(server.serve([sock]))
    endpoint = Endpoint(
        base_url=f"http://127.0.0.1:{port}/v1", server=server, task=task, gateway=gateway
    )
    try:
        async with asyncio.timeout(10):
            while not server.started:
                if task.done():
                    task.result()  # raises what stopped the server
                    raise RuntimeError("the endpoint stopped before it started")
                await asyncio.sleep(0.005)
        yield endpoint
    finally:
        await endpoint.stop()
        sock.close()
