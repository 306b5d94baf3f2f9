"""Serving the endpoint with uvicorn: what ``proctor gateway serve`` runs.

uvicorn picks httptools when it is installed, and ``run_gateway`` runs on uvloop: both are
dependencies, worth +46-68 % requests per second here (docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import socket
import urllib.request
from collections.abc import Callable, Mapping

from proctor._sockets import listen
from proctor.endpoint._app import create_app
from proctor.endpoint._governor import ChatGovernor
from proctor.endpoint._keys import KeyRing, check_exposure
from proctor.endpoint._ledger import CallLedger
from proctor.errors import ConfigError
from proctor.gateway import Gateway, GatewayConfig, ModelClient, build_gateway
from proctor.gateway.providers import LeanOpenAIModel
from proctor.store import SQLiteStore, Store, open_store


def preflight(config: GatewayConfig, host: str) -> None:
    """Refuse, before anything is opened, a config the endpoint cannot serve (``ConfigError``)."""
    if not config.models:
        raise ConfigError(
            "proctor.yaml defines no models, so the gateway has nothing to serve. Fix: add a "
            "models: section (see docs/gateway.md), or name the file with "
            "proctor --config FILE COMMAND"
        )
    check_exposure(config.keys, host)
    KeyRing(config.keys)  # every key_env must be set


def endpoint_clients(config: GatewayConfig) -> dict[str, ModelClient]:
    """The upstream clients of the endpoint: ``LeanOpenAIModel`` for OpenAI-compatible models.

    Empty (the SDK's ``OpenAIModel`` everywhere) when the environment configures an HTTP
    proxy: the lean client connects directly.
    """
    if urllib.request.getproxies():
        return {}
    return {
        name: LeanOpenAIModel(
            model.model,
            base_url=model.base_url,
            api_key_env=model.api_key_env,
            timeout_s=model.timeout_s,
        )
        for name, model in config.models.items()
        if model.provider == "openai"
    }


async def serve_gateway(
    config: GatewayConfig,
    store: Store,
    *,
    host: str = "127.0.0.1",
    port: int = 8787,
    sockets: list[socket.socket] | None = None,
    access_log: bool = False,
    ledger_flush_s: float = 0.005,
    clients: Mapping[str, ModelClient] | None = None,
    http: str = "auto",
    cache_secret: bytes | None = None,
    govern: Callable[[Gateway, Store], ChatGovernor] | None = None,
) -> None:
    """Serve ``config``'s gateway until SIGINT/SIGTERM; the ledger is drained on the way out.

    ``govern`` makes the governor of governed keys and routes from the gateway and store.

    ``clients`` defaults to ``endpoint_clients(config)``. ``cache_secret`` keys the cache's
    keys (pass the signing key to share cached answers with runs; see ``build_gateway``).

    Raises ``ConfigError`` before binding if the config cannot work (no models, keys
    missing on a non-loopback host, a key variable not set).
    """
    import uvicorn

    preflight(config, host)
    if isinstance(store, SQLiteStore):
        store.checkpoint_in_background()  # no checkpoint inside a request's commit
    gateway = build_gateway(
        config,
        store,
        clients=endpoint_clients(config) if clients is None else clients,
        cache_secret=cache_secret,
    )
    try:
        app = create_app(
            gateway,
            config,
            store,
            ledger=CallLedger(store, flush_after_s=ledger_flush_s),
            governor=None if govern is None else govern(gateway, store),
        )
        server = uvicorn.Server(
            uvicorn.Config(
                app,
                host=host,
                port=port,
                access_log=access_log,  # every call is in the ledger already
                http=http,  # auto: httptools when installed, else h11
                ws="none",
                lifespan="on",
                log_level="info",
                timeout_graceful_shutdown=10,
            )
        )
        await server.serve(sockets)
    finally:
        await gateway.aclose()


def run_gateway(
    config: GatewayConfig,
    *,
    db: str | None = None,
    host: str = "127.0.0.1",
    port: int = 8787,
    access_log: bool = False,
    cache_secret: bytes | None = None,
    govern: Callable[[Gateway, Store], ChatGovernor] | None = None,
    announce: Callable[[str], None] = lambda url: None,
) -> None:
    """Bind, open the store and serve, on uvloop when it is installed (blocking).

    ``announce`` is told the base URL (``http://HOST:PORT/v1``) once the port is bound: a
    port in use is a one-line ``ProctorError`` before anything is announced.
    """
    preflight(config, host)
    sock = listen(host, port)

    async def main() -> None:
        store = open_store(db)
        try:
            bound = sock.getsockname()[1]
            announce(f"http://{host}:{bound}/v1")
            await serve_gateway(
                config,
                store,
                host=host,
                port=bound,
                sockets=[sock],
                access_log=access_log,
                cache_secret=cache_secret,
                govern=govern,
            )
        finally:
            await store.close()

    try:
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            runner.run(main())
    finally:
        sock.close()


def _loop_factory() -> type[asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency, except on Windows
        return None
    return uvloop.Loop
