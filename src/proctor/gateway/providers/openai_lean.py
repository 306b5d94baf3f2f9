"""``LeanOpenAIModel``: an OpenAI-compatible upstream without the SDK, for the endpoint.

The endpoint forwards each call upstream, so the client's own cost is the endpoint's
latency. Through the official SDK a call costs ~3 ms of CPU on this project's machines
(its request building, httpx, and pydantic parsing of the response), five times the
rest of the endpoint. This client reads and writes the same wire format (``wire``) with
orjson and keeps HTTP/1.1 connections alive itself (parsed by httptools): about 0.1 ms.
Its errors are ``OpenAIModel``'s: status answers go through the same classification, so
routing, retries and messages are unchanged. It
streams too (``stream``): events are cut from the body as it arrives, and a connection
goes back to the pool only once its answer has been read to the end.

It connects directly: ``proctor gateway serve`` uses ``OpenAIModel`` when an HTTP proxy
is configured in the environment.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit

import orjson

from proctor.errors import ConfigError
from proctor.gateway._embeddings import EmbeddingInput, Embeddings, EmbedSettings
from proctor.gateway._errors import ModelCallError
from proctor.gateway._stream import whole_deltas
from proctor.gateway._types import CallSettings, Message, ModelDelta, ModelResponse, ToolSpec
from proctor.gateway.providers._connection import Exchange, Stale
from proctor.gateway.providers._embeddings_wire import embeddings_of, embeddings_request
from proctor.gateway.providers.openai import resolve_endpoint
from proctor.gateway.providers.wire import DONE, chat_request, delta_of, response_of, status_error

_T = TypeVar("_T")

# How long to wait, after a stream's [DONE], for the end of its HTTP message.
_DRAIN_S = 1.0


class LeanOpenAIModel:
    """A model behind an OpenAI-compatible API, called without the SDK (see module doc)."""

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        timeout_s: float = 60.0,
        max_idle: int = 64,
    ) -> None:
        self.base_url, key = resolve_endpoint(model, base_url, api_key, api_key_env)
        self.model = model
        self.api_key_env = api_key_env
        self.timeout_s = timeout_s
        self.max_idle = max_idle
        url = urlsplit(self.base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ConfigError(
                f"base_url {self.base_url!r} of model {model!r} is not an http(s) URL"
            )
        self._host, self._ssl = url.hostname, url.scheme == "https"
        self._port = url.port or (443 if self._ssl else 80)
        host_header = url.netloc.rpartition("@")[2]
        common = (
            f" HTTP/1.1\r\nhost: {host_header}\r\n"
            f"authorization: Bearer {key}\r\ncontent-type: application/json\r\n"
        )
        head = f"POST {url.path}/chat/completions{common}"
        self._head = f"{head}accept: application/json\r\ncontent-length: ".encode("latin-1")
        self._stream_head = f"{head}accept: text/event-stream\r\ncontent-length: ".encode("latin-1")
        self._embed_head = (
            f"POST {url.path}/embeddings{common}accept: application/json\r\ncontent-length: "
        ).encode("latin-1")
        self._idle: list[Exchange] = []
        self._context: ssl.SSLContext | None = None
        self._where = f"model {model!r} at {self.base_url}"

    def __repr__(self) -> str:
        return f"LeanOpenAIModel({self.model!r}, base_url={self.base_url!r})"  # never the key

    @property
    def name(self) -> str:
        return self.model

    async def complete(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        *,
        settings: CallSettings | None = None,
    ) -> ModelResponse:
        settings = settings or CallSettings()
        request, names = self._request(messages, tools, settings, stream=False)
        timeout_s = settings.timeout_s if settings.timeout_s is not None else self.timeout_s
        try:
            async with asyncio.timeout(timeout_s):
                status, headers, raw = await self._exchange(request)
        except (TimeoutError, ConnectionError) as exc:
            raise self._transport_error(exc, timeout_s) from exc
        if status >= 400:
            raise self._status_error(status, headers, raw)
        return response_of(raw, model=self.model, names=names, where=self._where)

    async def stream(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        *,
        settings: CallSettings | None = None,
    ) -> AsyncGenerator[ModelDelta, None]:
        """The answer's chunks as the server streams them (``StreamingModelClient``).

        Failures before the first chunk are ``complete``'s; ``settings.timeout_s`` (else
        the model's) bounds the wait for the answer's head and then for each chunk.
        """
        settings = settings or CallSettings()
        request, names = self._request(messages, tools, settings, stream=True)
        timeout_s = settings.timeout_s if settings.timeout_s is not None else self.timeout_s
        try:
            async with asyncio.timeout(timeout_s):
                exchange, status, headers, raw = await self._exchange_streaming(request)
        except (TimeoutError, ConnectionError) as exc:
            raise self._transport_error(exc, timeout_s) from exc
        if status >= 400:
            raise self._status_error(status, headers, raw)
        if exchange is None:  # the server ignored ``stream`` and answered whole
            whole = response_of(raw, model=self.model, names=names, where=self._where)
            for delta in whole_deltas(whole):
                yield delta
            return
        where = self._where
        finished = False
        try:
            while (data := await exchange.event(timeout_s)) is not None:
                if data == DONE:
                    # The answer is whole. Reading on to the end of the HTTP message (usually
                    # in the same packet) lets the connection serve the next call.
                    with contextlib.suppress(TimeoutError, ConnectionError):
                        while await exchange.event(min(timeout_s, _DRAIN_S)) is not None:
                            pass
                    break
                try:
                    chunk = orjson.loads(data)
                except orjson.JSONDecodeError:
                    raise ModelCallError(
                        f"{where} streamed an event that is not JSON ({data[:80]!r}): check "
                        "that the server is OpenAI-compatible",
                        kind="invalid_response",
                    ) from None
                yield delta_of(chunk, names, where)
            finished = True
        except (TimeoutError, ConnectionError) as exc:
            raise self._transport_error(exc, timeout_s, streaming=True) from exc
        finally:
            # Reused only if the whole answer was read; anything else (an early close, a
            # cancelled read) leaves bytes in flight that would corrupt the next answer.
            if (
                finished
                and exchange.ended
                and exchange.reusable
                and (len(self._idle) < self.max_idle)
            ):
                self._idle.append(exchange)
            else:
                exchange.close()

    async def embed(
        self, inputs: EmbeddingInput, *, settings: EmbedSettings | None = None
    ) -> Embeddings:
        """The embeddings of ``inputs`` (``EmbeddingClient``), failures as ``complete``'s."""
        settings = settings or EmbedSettings()
        body = orjson.dumps(embeddings_request(self.model, inputs, settings))
        request = self._embed_head + b"%d\r\n\r\n" % len(body) + body
        timeout_s = settings.timeout_s if settings.timeout_s is not None else self.timeout_s
        try:
            async with asyncio.timeout(timeout_s):
                status, headers, raw = await self._exchange(request)
        except (TimeoutError, ConnectionError) as exc:
            raise self._transport_error(exc, timeout_s) from exc
        if status >= 400:
            raise self._status_error(status, headers, raw)
        return embeddings_of(raw, model=self.model, where=self._where)

    def _request(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        settings: CallSettings,
        *,
        stream: bool,
    ) -> tuple[bytes, dict[str, str]]:
        """The HTTP request's bytes, and the tool names of the answer (wire -> ours)."""
        payload, names = chat_request(
            self.model,
            messages,
            tools,
            max_tokens=settings.max_tokens,
            temperature=settings.temperature,
            stream=stream,
            extra=settings.extra,
            where=self._where,
        )
        body = orjson.dumps(payload)
        head = self._stream_head if stream else self._head
        return head + b"%d\r\n\r\n" % len(body) + body, names

    def _transport_error(
        self, exc: Exception, timeout_s: float, *, streaming: bool = False
    ) -> ModelCallError:
        if isinstance(exc, TimeoutError):
            what = "sent nothing more for" if streaming else "did not answer within"
            return ModelCallError(
                f"{self._where} {what} {timeout_s:g}s: "
                "the server may be overloaded or the model slow to load; raise timeout_s",
                kind="timeout",
            )
        return ModelCallError(
            f"the connection to {self._where} broke before the "
            f"answer was complete ({exc}): the server may have crashed or restarted",
            kind="connection",
        )

    async def _exchange(self, request: bytes) -> tuple[int, dict[str, str], bytes]:
        return await self._on_connection(lambda exchange: self._send(exchange, request))

    async def _on_connection(self, send: Callable[[Exchange], Awaitable[_T]]) -> _T:
        """``send`` on an idle kept-alive connection, else on a new one."""
        while self._idle:
            exchange = self._idle.pop()
            if not exchange.reusable:
                exchange.close()
                continue
            try:
                return await send(exchange)
            except Stale:
                continue  # closed while idle: nothing was processed, so sending again is safe
        return await send(await self._connect())

    async def _send(self, exchange: Exchange, request: bytes) -> tuple[int, dict[str, str], bytes]:
        try:
            answer = await exchange.send(request)
        except BaseException:
            exchange.close()  # mid-answer (or cancelled by a timeout): never reuse it
            raise
        self._keep(exchange)
        return answer

    def _keep(self, exchange: Exchange) -> None:
        if exchange.reusable and len(self._idle) < self.max_idle:
            self._idle.append(exchange)
        else:
            exchange.close()

    async def _exchange_streaming(
        self, request: bytes
    ) -> tuple[Exchange | None, int, dict[str, str], bytes]:
        """Send a streamed request; the exchange to read events from (``None``: a whole body)."""
        return await self._on_connection(lambda exchange: self._send_streaming(exchange, request))

    async def _send_streaming(
        self, exchange: Exchange, request: bytes
    ) -> tuple[Exchange | None, int, dict[str, str], bytes]:
        try:
            status, headers, raw = await exchange.send_streaming(request)
        except BaseException:
            exchange.close()
            raise
        if exchange.sse is not None:
            return exchange, status, headers, raw  # in use until its stream is read
        self._keep(exchange)
        return None, status, headers, raw

    async def _connect(self) -> Exchange:
        if self._ssl and self._context is None:
            self._context = ssl.create_default_context()
        try:
            _, exchange = await asyncio.get_running_loop().create_connection(
                Exchange, self._host, self._port, ssl=self._context if self._ssl else None
            )
        except OSError as exc:
            raise ModelCallError(
                f"cannot connect to the model endpoint {self.base_url} ({exc}): check that the "
                "server is running and that base_url is right",
                kind="connection",
            ) from exc
        return exchange

    def _status_error(self, status: int, headers: dict[str, str], raw: bytes) -> ModelCallError:
        try:
            parsed: Any = orjson.loads(raw)
        except orjson.JSONDecodeError:
            parsed = None
        # The ``error`` object, as the SDK hands it to its exception.
        body = parsed.get("error", parsed) if isinstance(parsed, dict) else parsed
        return status_error(
            status,
            headers,
            body,
            where=self._where,
            base_url=self.base_url,
            api_key_env=self.api_key_env,
        )

    async def aclose(self) -> None:
        """Close the kept-alive connections (the model can still be used: it reconnects)."""
        idle, self._idle = self._idle, []
        for exchange in idle:
            exchange.close()
