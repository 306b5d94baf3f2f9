"""Calling one OpenAPI operation over HTTP: the handler of a tool ``Registry.from_openapi``
builds (arguments in, the request out, the response's JSON or text back)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx2
import orjson

from proctor.errors import ToolExecutionError
from proctor.tools._tool import ToolContext

_TEMPLATE = re.compile(r"\{([^{}]+)\}")
_EXCERPT = 300  # characters of an error response's body kept in the error
_DELIMITERS = {"spaceDelimited": " ", "pipeDelimited": "|"}


class OperationFailed(ToolExecutionError):
    """An operation answered with a status other than 2xx, or could not be reached."""

    def __init__(
        self, message: str, *, operation: str, status: int | None = None, body: str = ""
    ) -> None:
        super().__init__(message)
        self.operation = operation
        self.status = status
        self.body = body


@dataclass(frozen=True, kw_only=True)
class Param:
    """Where one argument goes in the request."""

    key: str  # the argument's name in the tool's schema
    name: str  # the parameter's name in the request
    location: str  # path, query, header or cookie
    style: str
    explode: bool
    as_json: bool = False  # a parameter described by `content` travels as JSON text


def is_json(media_type: str) -> bool:
    kind = media_type.split(";", 1)[0].strip().lower()
    return kind == "application/json" or kind.endswith("+json")


class Http:
    """The client a registry's operations share: the caller's, or one made on first use.

    A client made here belongs to the event loop it was made in (its pooled connections
    do), and is closed when that loop shuts down (``asyncio.run`` finalises the async
    generators still open; one holds the client); another loop gets a client of its own.
    """

    def __init__(self, client: httpx2.AsyncClient | None, timeout_s: float) -> None:
        self._given = client
        self._timeout_s = timeout_s
        self._own: tuple[asyncio.AbstractEventLoop, httpx2.AsyncClient, object] | None = None

    async def client(self) -> httpx2.AsyncClient:
        if self._given is not None:
            return self._given
        loop = asyncio.get_running_loop()
        if self._own is None or self._own[0] is not loop:
            own = httpx2.AsyncClient(timeout=self._timeout_s, follow_redirects=True)
            keeper = _closed_at_shutdown(own)
            self._own = (loop, own, keeper)  # held: the loop only keeps a weak reference
            await anext(keeper)  # now the loop knows it, and finalises it at shutdown
        return self._own[1]


async def _closed_at_shutdown(client: httpx2.AsyncClient) -> AsyncIterator[None]:
    try:
        yield
    finally:
        await client.aclose()


@dataclass(frozen=True, kw_only=True, eq=False)
class Operation:
    """One operation as a schema tool's handler: ``await operation(context, arguments)``."""

    operation_id: str
    method: str
    base_url: str
    path: str
    params: tuple[Param, ...]
    body_type: str | None  # the request body's media type; None: the operation takes none
    headers: Mapping[str, str]  # sent with every call (credentials), over any argument
    write: bool  # a write sends the call's idempotency key, so a retry is recognised
    http: Http

    async def __call__(self, context: ToolContext, arguments: dict[str, Any]) -> Any:
        method = self.method.upper()
        url, query, headers = self._request(arguments)
        if self.write and not any(name.lower() == "idempotency-key" for name in headers):
            headers["Idempotency-Key"] = context.idempotency_key
        content = None
        if self.body_type is not None and "body" in arguments:
            content = orjson.dumps(arguments["body"])
            headers["Content-Type"] = self.body_type
        try:
            response = await (await self.http.client()).request(
                method, url, params=query, headers=headers, content=content
            )
        except httpx2.HTTPError as exc:
            raise OperationFailed(
                f"{self.operation_id}: {method} {url} failed: {type(exc).__name__}: {exc}",
                operation=self.operation_id,
            ) from exc
        if not response.is_success:
            excerpt = " ".join(response.text.split())
            if len(excerpt) > _EXCERPT:
                excerpt = excerpt[:_EXCERPT] + "…"
            raise OperationFailed(
                f"{self.operation_id}: HTTP {response.status_code} {response.reason_phrase} "
                f"from {method} {url}" + (f": {excerpt}" if excerpt else ""),
                operation=self.operation_id,
                status=response.status_code,
                body=excerpt,
            )
        if not response.content:
            return None
        if is_json(response.headers.get("content-type", "")):
            try:
                return orjson.loads(response.content)
            except orjson.JSONDecodeError:  # labelled JSON, but is not: the text is the answer
                pass
        return response.text

    def _request(
        self, arguments: dict[str, Any]
    ) -> tuple[str, tuple[tuple[str, str], ...], dict[str, str]]:
        """The URL, query and headers the parameters' arguments make."""
        path_values: dict[str, str] = {}
        query: list[tuple[str, str]] = []
        headers: dict[str, str] = {}
        cookies: list[str] = []
        for param in self.params:
            value = arguments.get(param.key)
            if value is None:  # left out, or null where the schema allows it: not sent
                continue
            if param.location == "path":
                path_values[param.name] = quote(_simple(param, value), safe="")
            elif param.location == "query":
                query.extend(_query(param, value))
            elif param.location == "header":
                headers[param.name] = _simple(param, value)
            else:
                cookies.append(f"{param.name}={quote(_simple(param, value), safe='')}")
        if cookies:
            headers["Cookie"] = "; ".join(cookies)
        headers.update(self.headers)
        missing = [name for name in _TEMPLATE.findall(self.path) if name not in path_values]
        if missing:  # null, where the schema allows it: no URL can be made
            raise OperationFailed(
                f"{self.operation_id}: no value for the path parameter(s) {', '.join(missing)}",
                operation=self.operation_id,
            )
        path = _TEMPLATE.sub(lambda m: path_values[m.group(1)], self.path)
        return self.base_url + path, tuple(query), headers


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return str(value)


def _simple(param: Param, value: Any) -> str:
    """A path, header or cookie value (style ``simple``: ``a,b``; an object ``k,v`` or,
    exploded, ``k=v``)."""
    if param.as_json:
        return orjson.dumps(value).decode()
    if isinstance(value, list):
        return ",".join(_scalar(item) for item in value)
    if isinstance(value, dict):
        pairs = (
            f"{k}={_scalar(v)}" if param.explode else f"{k},{_scalar(v)}" for k, v in value.items()
        )
        return ",".join(pairs)
    return _scalar(value)


def _query(param: Param, value: Any) -> list[tuple[str, str]]:
    """A query value as name-value pairs (style ``form`` unless the parameter names another)."""
    if param.as_json:
        return [(param.name, orjson.dumps(value).decode())]
    if isinstance(value, dict):
        if param.style == "deepObject":
            return [(f"{param.name}[{k}]", _scalar(v)) for k, v in value.items()]
        if param.explode:
            return [(str(k), _scalar(v)) for k, v in value.items()]
        return [(param.name, ",".join(f"{k},{_scalar(v)}" for k, v in value.items()))]
    if isinstance(value, list):
        if param.explode:
            return [(param.name, _scalar(item)) for item in value]
        delimiter = _DELIMITERS.get(param.style, ",")
        return [(param.name, delimiter.join(_scalar(item) for item in value))]
    return [(param.name, _scalar(value))]
