"""The endpoint as an ASGI app (``create_app``): the routes of every API it speaks over
one ``_Endpoint``, and the lifespan that starts and drains the call ledger."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from proctor.endpoint._api import WireApi
from proctor.endpoint._embeddings import serve_embeddings
from proctor.endpoint._endpoint import MESSAGES, RESPONSES, _Endpoint
from proctor.endpoint._errors import JSON, ApiError, api_error
from proctor.endpoint._governor import ChatGovernor
from proctor.endpoint._ledger import CallLedger
from proctor.endpoint._messages import count_tokens
from proctor.gateway import Gateway, GatewayConfig, count_text
from proctor.store import Store

__all__ = ["create_app"]


async def _count_tokens(request: Request) -> Response:
    """``POST /v1/messages/count_tokens`` (Anthropic's): input tokens of a request."""
    endpoint: _Endpoint = request.app.state.endpoint
    try:
        key = endpoint.authenticate(request)
        body = await endpoint._body(request)
        content = count_tokens(body)
        route = orjson.loads(body).get("model", "")
        endpoint._admit(key, route)
    except Exception as exc:
        return MESSAGES.error(api_error(exc), None)
    return Response(content, 200, media_type=JSON)


async def _http_error(request: Request, exc: Exception) -> Response:
    """Unknown paths and methods, in OpenAI's error shape too."""
    assert isinstance(exc, HTTPException)
    message = f"{exc.detail}: {request.method} {request.url.path}"
    return ApiError(exc.status_code, message, kind="invalid_request_error").response()


def _api_route(endpoint: _Endpoint, api: WireApi) -> Callable[[Request], Awaitable[Response]]:
    async def route(request: Request) -> Response:
        return await endpoint.serve(request, api)

    return route


def _embeddings_route(endpoint: _Endpoint) -> Callable[[Request], Awaitable[Response]]:
    async def embeddings(request: Request) -> Response:
        return await serve_embeddings(endpoint, request)

    return embeddings


def create_app(
    gateway: Gateway,
    config: GatewayConfig,
    store: Store,
    *,
    ledger: CallLedger | None = None,
    governor: ChatGovernor | None = None,
) -> Starlette:
    """The endpoint as an ASGI app; its lifespan starts and drains the call ledger.

    ``ledger`` defaults to one on ``store`` that writes batches every 5 ms. ``governor``
    answers the requests of the keys and routes it governs. Raises ``ConfigError`` if a
    key's ``key_env`` is not set.
    """
    endpoint = _Endpoint(gateway, config, ledger or CallLedger(store), governor)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if (
            gateway.limiter is not None
            or gateway.router.limiter is not None
            or any(k.budget_usd is not None or k.tpm is not None for k in config.keys)
        ):
            # Budgets and token limits count prompts: load the encoding (~0.2 s) now,
            # not in the first caller's request.
            count_text("warm up")
        # What start-up built lives as long as the server: out of the collector's sight,
        # a full collection does not walk it again (those walks were the slowest answers).
        gc.collect()
        gc.freeze()
        endpoint.ledger.start()
        try:
            yield
        finally:
            await endpoint.ledger.close()
            if endpoint.spans is not None:
                endpoint.spans.flush()

    # Plain Starlette: the endpoint uses none of FastAPI's features (its routes read raw
    # bodies), and FastAPI's router costs tens of microseconds per request.
    app = Starlette(lifespan=lifespan)
    app.router.add_route("/v1/chat/completions", endpoint.chat, methods=["POST"])
    app.router.add_route("/v1/messages", _api_route(endpoint, MESSAGES), methods=["POST"])
    app.router.add_route("/v1/messages/count_tokens", _count_tokens, methods=["POST"])
    app.router.add_route("/v1/responses", _api_route(endpoint, RESPONSES), methods=["POST"])
    app.router.add_route("/v1/embeddings", _embeddings_route(endpoint), methods=["POST"])
    app.router.add_route("/v1/models", endpoint.models, methods=["GET"])
    app.router.add_route("/v1/models/{model:path}", endpoint.model, methods=["GET"])
    app.router.add_route("/healthz", endpoint.healthz, methods=["GET"])
    app.router.add_route("/readyz", endpoint.readyz, methods=["GET"])
    app.router.add_route("/metrics", endpoint.metrics.page, methods=["GET"])
    app.add_exception_handler(HTTPException, _http_error)
    app.state.endpoint = endpoint
    return app
