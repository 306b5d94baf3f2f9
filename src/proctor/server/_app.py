"""The server's FastAPI app: the JSON API under ``/api/v1``, the web UI, OpenAPI at ``/docs``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.middleware.gzip import GZipMiddleware

from proctor.gateway import load_config
from proctor.notifications import Notifier
from proctor.runtime import WorkflowCatalog
from proctor.server._appstate import ServerState
from proctor.server._auth import Authenticator
from proctor.server._errors import install_error_handlers
from proctor.server._guard import DEFAULT_MAX_BODY_BYTES, RequestGuard
from proctor.server._hosts import AllowedHosts
from proctor.server._keys import KeyLookup
from proctor.server._metrics import HttpMetrics, ServerMetrics
from proctor.server._service import Service
from proctor.server._sso import OidcClient
from proctor.store import SQLiteStore, Store


def create_server(
    store: Store,
    *,
    session_secret: str,
    config: str | None = None,
    secure_cookies: bool = True,
    workflows: WorkflowCatalog | None = None,
    allowed_hosts: Iterable[str] | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    enqueue: bool = False,
) -> FastAPI:
    """The HTTP API and web UI over ``store``.

    ``session_secret`` signs the UI's session cookies; ``config`` is the project's
    ``proctor.yaml`` (models, gateway) the runs it starts use, and its ``sso:`` the
    identity provider people sign in with; ``workflows`` the ones
    requests may name (default: the registered ones). Requests must name one of
    ``allowed_hosts`` as their ``Host`` (default: the loopback names), and API request
    bodies stop at ``max_body_bytes``. With ``enqueue``, runs started over the API go to
    the store's run queue for ``proctor worker`` processes (refused on a ``MemoryStore``).
    The store stays the caller's to close.
    """
    service = Service(store, config=config, workflows=workflows, enqueue=enqueue)
    settings = load_config(config, check_env=False)
    notifications, sso_config = settings.notifications, settings.sso
    hosts = AllowedHosts.default() if allowed_hosts is None else AllowedHosts(allowed_hosts)
    auth = Authenticator(KeyLookup(store), session_secret, hosts=hosts)
    # A missing client secret fails here, at start, not at someone's first sign-in.
    sso = None if sso_config is None else OidcClient(sso_config, session_secret)
    auth.sso_issuer = None if sso_config is None else sso_config.issuer

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if isinstance(store, SQLiteStore):  # WAL checkpoints and the search index from now
            store.checkpoint_in_background()
        # Pending approvals are announced while the server runs, if proctor.yaml names
        # channels (notifications:); `proctor notify run` does the same on its own.
        notifier = Notifier(store, notifications) if notifications.channels else None
        stop, announcing = asyncio.Event(), None
        if notifier is not None:
            announcing = asyncio.create_task(
                notifier.run(stop, every_s=notifications.poll_s), name="proctor-notifications"
            )
        yield
        stop.set()
        if notifier is not None and announcing is not None:
            await announcing
            await notifier.close()
        traces = getattr(app.state, "otlp_traces", None)
        if traces is not None:  # traces still waiting for spans: record them as they are
            await traces.flush()
        await service.drain()

    app = FastAPI(
        title="Proctor",
        summary="Runs, their event logs, approvals, reports and eval results.",
        version="1",
        lifespan=lifespan,
        docs_url=None,  # served by _docs from local assets: /docs works offline
        redoc_url=None,
    )
    app.state.proctor = ServerState(
        service=service,
        auth=auth,
        secure_cookies=secure_cookies,
        notifications=notifications,
        sso=sso,
    )
    install_error_handlers(app)
    # A 1,000-event run page is ~500 KB of HTML; compressed it is a tenth of that.
    # (Event streams are left alone: the middleware skips text/event-stream.)
    app.add_middleware(GZipMiddleware, minimum_size=4096, compresslevel=5)
    # Added last, so it runs first: nothing reads a request before it passes.
    app.add_middleware(RequestGuard, auth=auth, max_body_bytes=max_body_bytes)
    # Outermost, so refusals count too; it reads no request, only the status answered.
    metrics = ServerMetrics(store)
    app.add_middleware(HttpMetrics, metrics=metrics)
    app.add_route("/metrics", metrics.page, methods=["GET"], include_in_schema=False)
    from proctor.server import _api, _api_otlp, _slack, _ui
    from proctor.server._docs import mount_docs

    mount_docs(app)
    app.include_router(_api.router)
    app.include_router(_api_otlp.router)
    app.include_router(_slack.router)
    _ui.mount(app)
    return app
