"""The endpoint's pipeline (``_Endpoint``): one call in any API's words, from its key to
its ledger row; ``/v1/models``, health and readiness.

Every call is authenticated by its API key, checked against the key's routes, budget and
rate limits, answered through the ``Gateway`` (routes, fallback, cache, cost) and recorded
in the call ledger. Errors come back in the API's own shape and status codes, so the
official clients raise their usual exceptions. The response header
``x-proctor-overhead-ms`` is the handler's time minus the time spent awaiting upstreams.
A streamed answer relays the upstream's chunks as they arrive (``_stream``); its ledger
row is written when the stream is over. Failures become answers in ``_errors``.

The app is plain Starlette: the body is validated from bytes by one pydantic model and
the answer serialised by orjson; FastAPI's router, dependency solving and JSON encoding
would cost tens of microseconds a call.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import AsyncGenerator

import orjson
from starlette.requests import Request
from starlette.responses import Response

from proctor.endpoint._api import Parsed, StreamFormat, WireApi
from proctor.endpoint._budgets import DEFAULT_HELD_OUTPUT_TOKENS, Budgets, Hold
from proctor.endpoint._chat import ChatCompletions
from proctor.endpoint._errors import JSON, ApiError, api_error
from proctor.endpoint._governor import SESSION_HEADER, ChatGovernor
from proctor.endpoint._keys import ApiKey, KeyRing, is_loopback
from proctor.endpoint._ledger import CallLedger
from proctor.endpoint._messages import Messages
from proctor.endpoint._metrics import EndpointMetrics
from proctor.endpoint._observe import providers
from proctor.endpoint._responses import OpenAIResponses
from proctor.endpoint._stream import StreamReply
from proctor.gateway import (
    CallSettings,
    Gateway,
    GatewayConfig,
    GatewayResult,
    GatewayStream,
    ModelRequest,
    ModelResponse,
    StreamInterrupted,
    estimate_tokens,
)
from proctor.store import GatewayCallRecord, check_store
from proctor.telemetry import gateway_call_spans

logger = logging.getLogger("proctor.gateway.http")


MAX_BODY_BYTES = 8 * 1024 * 1024
"""Largest request body the endpoint reads: far above any context window's worth of text."""
CHAT = ChatCompletions()
RESPONSES = OpenAIResponses()
MESSAGES = Messages()
MAX_UNWRITTEN_CALLS = 50_000
"""Calls the ledger may hold unwritten (the store failing) before the endpoint refuses more."""


def _too_large(size: int) -> ApiError:
    return ApiError(
        413,
        f"the request body is {size:,} bytes, more than this gateway accepts "
        f"({MAX_BODY_BYTES:,}); send a shorter conversation",
        kind="invalid_request_error",
        code="request_too_large",
    )


class _Endpoint:
    """The state the routes share: gateway, keys, ledger."""

    def __init__(
        self,
        gateway: Gateway,
        config: GatewayConfig,
        ledger: CallLedger,
        governor: ChatGovernor | None = None,
    ) -> None:
        self.gateway = gateway
        self.governor = governor
        self.keys = KeyRing(config.keys)
        self.ledger = ledger
        self.budgets = Budgets(ledger.store)
        self.routes = sorted(gateway.routes)
        # A key with a budget may use only routes whose every deployment has a price.
        self.unpriced = {
            route: [d.model for d in gateway.chain(route) if gateway.price(d) is None]
            for route in self.routes
        }
        self._pid = f"{os.getpid():x}"
        self._count = 0
        # What operators watch (_metrics, _observe): counted where every call is recorded.
        self.metrics = EndpointMetrics(
            gateway, self.keys.keys, budget_left=self.budgets.left, pending=lambda: ledger.pending
        )
        self.spans = gateway_call_spans(providers(gateway, config))  # None: export is off

    def authenticate(self, request: Request) -> ApiKey:
        header = request.headers.get("authorization")
        if header is None and "x-api-key" in request.headers:  # Anthropic's clients
            header = f"Bearer {request.headers['x-api-key']}"
        key = self.keys.authenticate(header)
        if key is None:
            raise ApiError(
                401,
                "invalid or missing API key: send 'Authorization: Bearer <key>' (or "
                "'x-api-key: <key>') with a key of this gateway's proctor.yaml",
                kind="invalid_request_error",
                code="invalid_api_key",
            )
        if self.keys.open and not is_loopback(request.client.host if request.client else ""):
            raise ApiError(
                401,
                "this gateway has no API keys configured and answers only loopback clients",
                kind="invalid_request_error",
                code="invalid_api_key",
            )
        return key

    async def chat(self, request: Request) -> Response:
        return await self.serve(request, CHAT)

    async def serve(self, request: Request, api: WireApi) -> Response:
        """One call in ``api``'s words: the key, its limits and budget, the gateway (or the
        governor), the ledger row, the answer."""
        started = time.perf_counter()
        request_id = self._id(api.id_prefix)
        key: ApiKey | None = None
        route = ""
        hold: Hold | None = None
        try:
            key = self.authenticate(request)
            parsed = api.parse(await self._body(request))
            route = parsed.route
            for name in api.forwarded_headers:
                if name in request.headers:
                    parsed.settings = _with_extra(parsed.settings, name, request.headers[name])
            self._ledger_ok()
            self._admit(key, route)
            tokens = None
            if key.budget_usd is not None:
                tokens = estimate_tokens(parsed.messages, parsed.tools)
                hold = await self._hold(key, parsed, tokens)
            call = ModelRequest(
                messages=parsed.messages,
                tools=parsed.tools,
                route=route,
                settings=parsed.settings,
                scope=key.scope if key.limits else None,
                limits=key.limits,
                prompt_tokens=tokens,
            )
            if self.governor is not None and self.governor.governs(key.name, route):
                if parsed.stream:
                    raise ApiError(
                        400,
                        f"route {route!r} is governed by a contract for this key, and a "
                        "governed answer comes whole (its tool calls are checked first). "
                        "Fix: send stream: false",
                        kind="invalid_request_error",
                        code="stream_not_supported",
                    )
                session = request.headers.get(SESSION_HEADER)
                result = await self.governor.complete(call, key=key.name, session=session)
            elif parsed.stream:
                # Up to the first chunk a failure is still an ordinary error answer.
                answer = await self.gateway.stream(call)
                events = api.stream(parsed, request_id, answer.model)
                return self._relay(
                    answer, events, key, route, started, request_id=request_id, hold=hold
                )
            else:
                result = await self.gateway.complete(call)
        except Exception as exc:
            failure = api_error(exc)
            if key is not None:  # an unknown caller is not recorded: it could fill the disk
                await self._record(
                    key, route, started, status=failure.status, error=failure, hold=hold
                )
                failure.headers.update(self._limit_headers(key))
            return api.error(failure, request_id)
        content = api.answer(result, parsed, request_id)
        await self._record(key, route, started, result=result, hold=hold)
        overhead_ms = (time.perf_counter() - started) * 1000 - result.upstream_ms
        headers = {
            "x-request-id": request_id,
            "x-proctor-overhead-ms": f"{overhead_ms:.3f}",
            "x-proctor-deployment": result.deployment,
            "x-proctor-cache": "hit" if result.cache_hit else "miss",
        }
        if result.cost_usd is not None:
            headers["x-proctor-cost-usd"] = f"{result.cost_usd:.8f}"
        if key.limits is not None:
            headers.update(self._limit_headers(key))
        return Response(content, 200, headers, media_type=JSON)

    def _relay(
        self,
        answer: GatewayStream,
        events: StreamFormat,
        key: ApiKey,
        route: str,
        started: float,
        *,
        request_id: str,
        hold: Hold | None,
    ) -> Response:
        """The stream's chunks as they arrive; the ledger row once it is over.

        The headers go before the body, so they say what is known at the first chunk:
        no cost (it is in the ledger), and the overhead up to that chunk.
        """
        failure: ApiError | None = None

        async def body() -> AsyncGenerator[bytes, None]:
            nonlocal failure
            try:
                async for delta in answer:
                    event = events.delta(delta)
                    if event is not None:
                        yield event
            except StreamInterrupted as exc:
                failure = ApiError(502, str(exc), kind="upstream_error", code=exc.kind)
            except Exception as exc:  # a bug must still end the stream in a readable way
                logger.exception("the gateway endpoint failed while streaming an answer")
                message = f"internal error in the gateway: {type(exc).__name__}: {exc}"
                failure = ApiError(500, message, kind="server_error")
            if failure is not None:
                yield events.failed(failure)
                return
            yield events.finish(answer.result)

        content = body()

        async def on_close() -> None:
            await content.aclose()
            await answer.aclose()  # the client left before the end: close the upstream
            ended = failure
            if ended is None and not answer.complete:
                ended = ApiError(
                    499, "the client closed the connection", kind="client_disconnected"
                )
            status = 200 if ended is None else ended.status
            await self._record(
                key, route, started, result=answer.result, status=status, error=ended, hold=hold
            )

        overhead_ms = (time.perf_counter() - started) * 1000 - answer.upstream_ms
        headers = {
            "x-request-id": request_id,
            "x-proctor-overhead-ms": f"{overhead_ms:.3f}",
            "x-proctor-deployment": answer.deployment,
            "x-proctor-cache": "hit" if answer.cache_hit else "miss",
        }
        if key.limits is not None:
            headers.update(self._limit_headers(key))
        return StreamReply(content, headers, on_close)

    def _limit_headers(self, key: ApiKey) -> dict[str, str]:
        """OpenAI's ``x-ratelimit-*`` headers for ``key``'s own ``rpm``/``tpm``, as its
        buckets were after this call took from them."""
        limiter = self.gateway.limiter
        if limiter is None or key.limits is None:
            return {}
        seen = limiter.levels(key.scope, key.limits)
        if seen is None:
            return {}
        headers = {}
        for unit, limit, left, full_in in (
            ("requests", key.limits.rpm, seen.requests, seen.requests_full_in_s),
            ("tokens", key.limits.tpm, seen.tokens, seen.tokens_full_in_s),
        ):
            if limit is not None and left is not None:
                headers[f"x-ratelimit-limit-{unit}"] = str(limit)
                headers[f"x-ratelimit-remaining-{unit}"] = str(max(0, int(left)))
                headers[f"x-ratelimit-reset-{unit}"] = _duration(full_in)
        return headers

    async def healthz(self, request: Request) -> Response:
        """Liveness: the process answers."""
        return Response(b'{"status":"ok"}', 200, media_type=JSON)

    async def readyz(self, request: Request) -> Response:
        """Readiness: the gateway can take calls, which needs a ledger that writes (spend
        that cannot be recorded cannot be charged to a budget) and a store that answers at
        this Proctor's schema version. Both probes answer without a key (load balancers
        call them) and say nothing of routes, keys or where the store is."""
        if self.ledger.pending >= MAX_UNWRITTEN_CALLS:
            body = {"status": "unavailable", "reason": "the store refuses the call ledger"}
            return Response(orjson.dumps(body), 503, media_type=JSON)
        found = await check_store(self.ledger.store)
        if not found.ready:
            logger.warning("not ready: %s", found.reason)
            return Response(orjson.dumps(found.as_json()), 503, media_type=JSON)
        ready = {**found.as_json(), "unwritten_calls": self.ledger.pending}
        return Response(orjson.dumps(ready), 200, media_type=JSON)

    async def _body(self, request: Request) -> bytes:
        """The request body, refused if larger than ``MAX_BODY_BYTES`` (read no further)."""
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            raise _too_large(int(declared))
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BODY_BYTES:  # chunked, or a content-length that lied
                raise _too_large(size)
            chunks.append(chunk)
        return b"".join(chunks)

    def _ledger_ok(self) -> None:
        # Spend that cannot be recorded cannot be charged to a budget: stop answering
        # rather than queue without bound while the store is down.
        if self.ledger.pending >= MAX_UNWRITTEN_CALLS:
            raise ApiError(
                503,
                f"the gateway cannot record calls: {self.ledger.pending} are waiting for the "
                "store, which is failing (see the gateway's log). Retry later",
                kind="server_error",
                code="ledger_unavailable",
                retry_after_s=5.0,
            )

    def _admit(self, key: ApiKey, route: str) -> None:
        """Check that ``route`` exists and ``key`` may use it (with a budget: priced)."""
        if route not in self.unpriced:
            raise ApiError(
                404,
                f"the model {route!r} does not exist on this gateway: use one of "
                f"{', '.join(r for r in self.routes if key.may_use(r))} (GET /v1/models)",
                kind="invalid_request_error",
                code="model_not_found",
            )
        if not key.may_use(route):
            raise ApiError(
                403,
                f"key {key.name!r} may not use {route!r}. Fix: add it to the key's routes in "
                "proctor.yaml",
                kind="permission_error",
                code="route_not_allowed",
            )
        if key.budget_usd is not None and self.unpriced[route]:
            raise ApiError(
                403,
                f"key {key.name!r} has a budget, but route {route!r} uses models whose cost "
                f"could not be counted: neither proctor.yaml nor the published price table "
                f"(genai-prices) has a price for {', '.join(map(repr, self.unpriced[route]))}. "
                f"Fix: add to proctor.yaml prices: {{{self.unpriced[route][0]}: {{input: "
                "<USD per million tokens>, output: <USD per million tokens>}}",
                kind="permission_error",
                code="unpriced_model",
            )

    async def _hold(self, key: ApiKey, parsed: Parsed, prompt_tokens: int) -> Hold:
        """Set the call's projected cost aside in ``key``'s budget (``_budgets``)."""
        max_tokens = parsed.settings.max_tokens if parsed.settings else None
        needed = self.gateway.dearest_cost(parsed.route, prompt_tokens, max_tokens or 0)
        wanted = self.gateway.dearest_cost(
            parsed.route, prompt_tokens, max_tokens or DEFAULT_HELD_OUTPUT_TOKENS
        )
        assert needed is not None  # _admit: every model of the route has a price
        assert wanted is not None
        return await self.budgets.hold(key, needed_usd=needed, wanted_usd=wanted)

    async def _record(
        self,
        key: ApiKey,
        route: str,
        started: float,
        *,
        result: GatewayResult | None = None,
        status: int = 200,
        error: ApiError | None = None,
        hold: Hold | None = None,
    ) -> None:
        response = result.response if result else None
        usage = response.usage if response else None
        await self._observed(
            response,
            GatewayCallRecord(
                ts=time.time(),
                key_name=key.name,
                route=route,
                deployment=result.deployment if result else None,
                model=response.model if response else None,
                input_tokens=usage.input_tokens if usage else 0,
                output_tokens=usage.output_tokens if usage else 0,
                cached_input_tokens=usage.cached_input_tokens if usage else 0,
                cache_write_tokens=usage.cache_write_tokens if usage else 0,
                reasoning_tokens=usage.reasoning_tokens if usage else 0,
                cost_usd=result.cost_usd if result else None,
                latency_ms=(time.perf_counter() - started) * 1000,
                cache_hit=result.cache_hit if result else False,
                status=status,
                error=None if error is None else (error.code or error.kind),
            ),
            hold=hold,
        )

    async def _observed(
        self, response: ModelResponse | None, call: GatewayCallRecord, *, hold: Hold | None
    ) -> None:
        """Count ``call`` for /metrics and queue its span, then write it to the ledger
        (which releases its budget hold: at once if it cost more than it held)."""
        usage = response.usage if response else None
        self.metrics.observe(call, usage)
        if self.spans is not None:
            self.spans.add(call, usage)
        if hold is None:
            await self.ledger.record(call)
            return
        over = (call.cost_usd or 0.0) > hold.amount_usd
        await self.ledger.record(call, release=(hold.id, hold.amount_usd), now=over)

    def _id(self, prefix: str) -> str:
        self._count += 1
        return f"{prefix}{self._pid}{time.time_ns():x}{self._count:x}"

    async def models(self, request: Request) -> Response:
        try:
            key = self.authenticate(request)
        except ApiError as exc:
            return exc.response()
        data = [_model(route) for route in self.routes if key.may_use(route)]
        return Response(orjson.dumps({"object": "list", "data": data}), media_type=JSON)

    async def model(self, request: Request) -> Response:
        """One route as a model (``GET /v1/models/{id}``), for clients that check first."""
        try:
            key = self.authenticate(request)
        except ApiError as exc:
            return exc.response()
        route = request.path_params["model"]
        if route not in self.unpriced or not key.may_use(route):
            return ApiError(
                404,
                f"the model {route!r} does not exist on this gateway (GET /v1/models lists "
                "the ones this key may use)",
                kind="invalid_request_error",
                code="model_not_found",
            ).response()
        return Response(orjson.dumps(_model(route)), media_type=JSON)


def _with_extra(settings: CallSettings | None, name: str, value: str) -> CallSettings:
    settings = settings or CallSettings()
    return dataclasses.replace(settings, extra={**(settings.extra or {}), name: value})


def _duration(seconds: float) -> str:
    """A wait as OpenAI writes it in ``x-ratelimit-reset-*``: ``20ms``, ``1.5s``, ``6m0s``."""
    if seconds < 1:
        return f"{max(0, round(seconds * 1000))}ms"
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}m{rest:.0f}s" if minutes else f"{rest:.3g}s"


def _model(route: str) -> dict[str, object]:
    return {"id": route, "object": "model", "created": 0, "owned_by": "proctor"}
