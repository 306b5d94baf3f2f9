"""``POST /v1/embeddings``: OpenAI's embeddings through the key's routes, budget, rate limits
and the call ledger, like a chat completion.

``input`` is a text, a list of texts, a token array or a list of token arrays, sent
upstream as it came, as are ``dimensions``, ``encoding_format`` (a ``base64`` answer is
passed on untouched) and ``user``; other fields go upstream as sent. The gateway routes
it (``Gateway.embed``): retries and cooldown as for completions, fallback only to the same
model, 400 for a route whose models cannot embed.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal, Protocol

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from proctor.endpoint._budgets import Budgets, Hold
from proctor.endpoint._errors import JSON, ApiError, api_error
from proctor.endpoint._keys import ApiKey
from proctor.endpoint._wire import MAX_TOKENS, RouteName, WireError, explain
from proctor.gateway import (
    EmbedRequest,
    EmbedResult,
    EmbedSettings,
    Gateway,
    GatewayResult,
    ModelResponse,
    count_text,
)
from proctor.store import json_value_problem

MAX_INPUTS = 2048
"""Inputs per request: OpenAI's own limit."""
_INPUTS = Field(min_length=1, max_length=MAX_INPUTS)


class EmbeddingsRequest(BaseModel):
    """An OpenAI embeddings request; fields beyond these go upstream as sent."""

    model_config = ConfigDict(extra="allow", frozen=True)

    model: RouteName
    # Strict: a token array of strings, or a bool, is a mistake to name, not to coerce.
    input: (
        Annotated[str, Field(strict=True)]
        | Annotated[list[Annotated[str, Field(strict=True)]], _INPUTS]
        | Annotated[list[Annotated[int, Field(strict=True, ge=0)]], _INPUTS]
        | Annotated[
            list[Annotated[list[Annotated[int, Field(strict=True, ge=0)]], _INPUTS]], _INPUTS
        ]
    )
    dimensions: int | None = Field(default=None, gt=0, le=MAX_TOKENS)
    encoding_format: Literal["float", "base64"] | None = None
    user: str | None = None

    def settings(self) -> EmbedSettings:
        extra = {k: v for k, v in (self.model_extra or {}).items() if v is not None} or None
        for name, value in (extra or {}).items():
            problem = json_value_problem(value, where=name)
            if problem is not None:
                raise WireError(problem)
        return EmbedSettings(
            dimensions=self.dimensions,
            encoding_format=self.encoding_format,
            user=self.user,
            extra=extra,
        )


def parse_embeddings(body: bytes) -> EmbeddingsRequest:
    """Validate a request body; ``WireError`` says what is wrong, field by field."""
    try:
        return EmbeddingsRequest.model_validate_json(body)
    except ValidationError as exc:
        if any(error["loc"][:1] == ("input",) for error in exc.errors()):
            # The union's own words list every shape it tried; one sentence says it better.
            raise WireError(
                "invalid request body: input: must be a text, a list of texts, a token "
                f"array (integers) or a list of token arrays, non-empty, at most {MAX_INPUTS} "
                "items"
            ) from None
        raise WireError(explain(exc)) from None


class Serving(Protocol):
    """What the route needs of the endpoint (``_endpoint._Endpoint``): its key, body, ledger
    and budget checks, the gateway, and the ledger row."""

    gateway: Gateway

    def authenticate(self, request: Request) -> ApiKey: ...

    async def _body(self, request: Request) -> bytes: ...

    budgets: Budgets

    def _ledger_ok(self) -> None: ...

    def _admit(self, key: ApiKey, route: str) -> None: ...

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
    ) -> None: ...

    def _id(self, prefix: str) -> str: ...


async def serve_embeddings(endpoint: Serving, request: Request) -> Response:
    """One embeddings call: the key, its route, budget and limits, the gateway, the ledger."""
    started = time.perf_counter()
    request_id = endpoint._id("emb-")
    key: ApiKey | None = None
    route = ""
    hold: Hold | None = None
    try:
        key = endpoint.authenticate(request)
        parsed = parse_embeddings(await endpoint._body(request))
        route = parsed.model
        settings = parsed.settings()
        endpoint._ledger_ok()
        endpoint._admit(key, route)
        if key.budget_usd is not None:
            cost = endpoint.gateway.dearest_cost(route, _input_tokens(parsed.input), 0)
            assert cost is not None  # _admit: a budgeted key's routes are priced
            hold = await endpoint.budgets.hold(key, needed_usd=cost, wanted_usd=cost)
        result = await endpoint.gateway.embed(
            EmbedRequest(
                inputs=parsed.input,
                route=route,
                settings=settings,
                scope=key.scope if key.limits else None,
                limits=key.limits,
            )
        )
    except Exception as exc:
        failure = api_error(exc)
        if key is not None:  # an unknown caller is not recorded: it could fill the disk
            await endpoint._record(
                key, route, started, status=failure.status, error=failure, hold=hold
            )
        return failure.response(request_id)
    content = _answer(result)
    await endpoint._record(key, route, started, result=_as_call(result), hold=hold)
    overhead_ms = (time.perf_counter() - started) * 1000 - result.upstream_ms
    headers = {
        "x-request-id": request_id,
        "x-proctor-overhead-ms": f"{overhead_ms:.3f}",
        "x-proctor-deployment": result.deployment,
        "x-proctor-cache": "miss",
    }
    if result.cost_usd is not None:
        headers["x-proctor-cost-usd"] = f"{result.cost_usd:.8f}"
    return Response(content, 200, headers, media_type=JSON)


def _input_tokens(inputs: str | list[str] | list[int] | list[list[int]]) -> int:
    """The tokens an embeddings input holds (texts estimated), for its budget hold."""
    if isinstance(inputs, str):
        return count_text(inputs)
    return sum(
        count_text(item) if isinstance(item, str) else len(item) if isinstance(item, list) else 1
        for item in inputs
    )


def _answer(result: EmbedResult) -> bytes:
    embeddings = result.embeddings
    data: list[dict[str, Any]] = [
        {"object": "embedding", "index": index, "embedding": vector}
        for index, vector in enumerate(embeddings.vectors)
    ]
    tokens = embeddings.usage.input_tokens
    return orjson.dumps(
        {
            "object": "list",
            "data": data,
            "model": embeddings.model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
    )


def _as_call(result: EmbedResult) -> GatewayResult:
    """The call as the ledger records every call: model, usage, cost, deployment."""
    response = ModelResponse(model=result.embeddings.model, usage=result.embeddings.usage)
    return GatewayResult(
        response=response,
        deployment=result.deployment,
        cost_usd=result.cost_usd,
        events=result.events,
        upstream_ms=result.upstream_ms,
    )
