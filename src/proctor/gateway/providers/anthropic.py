"""``AnthropicModel``: Claude through Anthropic's Messages API (``POST /v1/messages``).

No SDK: the body is built and read with orjson (``_anthropic_wire``) and carried by one
kept-alive ``httpx2.AsyncClient``, created on first use and reused, so a call costs no
set-up. Errors are classified as ``OpenAIModel``'s are (``status_error``): 429 is a rate
limit, 529 (overloaded) and other 5xx server errors, a prompt too long a context-length
error, ``retry-after`` honoured; routing acts on them alike.
"""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

import orjson

from proctor.errors import ConfigError
from proctor.gateway._errors import ModelCallError
from proctor.gateway._types import CallSettings, Message, ModelDelta, ModelResponse, ToolSpec
from proctor.gateway.providers._anthropic_wire import (
    ANTHROPIC_VERSION,
    StreamReader,
    error_of,
    messages_request,
    response_of,
)
from proctor.gateway.providers._wire_errors import retry_after_s, status_error

if TYPE_CHECKING:
    import httpx2

DEFAULT_BASE_URL = "https://api.anthropic.com"


class AnthropicModel:
    """A Claude model behind Anthropic's Messages API (or one compatible with it).

    ``base_url`` defaults to ``$ANTHROPIC_BASE_URL``, then Anthropic's; a trailing
    ``/v1`` is accepted. The key is ``api_key``, else the variable ``api_key_env``
    names. ``max_tokens`` (the API requires it) is the call's, else this model's, else
    ``DEFAULT_MAX_TOKENS``. ``transport`` replaces the HTTP transport (tests).
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        api_key_env: str = "ANTHROPIC_API_KEY",
        timeout_s: float = 60.0,
        max_tokens: int | None = None,
        transport: httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        key = api_key or os.environ.get(api_key_env)
        if not key:
            raise ConfigError(
                f"no API key for model {model!r}: set the environment variable {api_key_env} "
                "(or pass api_key=)"
            )
        url = (base_url or os.environ.get("ANTHROPIC_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        self.base_url = url.removesuffix("/v1")
        if not self.base_url.startswith(("http://", "https://")):
            raise ConfigError(
                f"base_url {self.base_url!r} of model {model!r} is not an http(s) URL"
            )
        self.model = model
        self.api_key_env = api_key_env
        self.timeout_s = timeout_s
        self.max_tokens = max_tokens
        self._url = f"{self.base_url}/v1/messages"
        self._headers = {
            "x-api-key": key,
            "anthropic-version": ANTHROPIC_VERSION,
            "content-type": "application/json",
            "accept": "application/json",
        }
        self._stream_headers = {**self._headers, "accept": "text/event-stream"}
        self._transport = transport
        self._client: httpx2.AsyncClient | None = None
        self._where = f"model {model!r} at {self.base_url}"

    def __repr__(self) -> str:
        return f"AnthropicModel({self.model!r}, base_url={self.base_url!r})"  # never the key

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
        import httpx2

        settings = settings or CallSettings()
        body, headers, names = self._request(messages, tools, settings, stream=False)
        timeout_s = self._timeout(settings)
        try:
            answer = await self._http().post(
                self._url, content=body, headers=headers, timeout=timeout_s
            )
        except httpx2.TransportError as exc:
            raise self._transport_error(exc, timeout_s) from exc
        if answer.status_code >= 400:
            raise self._status_error(answer.status_code, answer.headers, answer.content)
        return response_of(answer.content, model=self.model, names=names, where=self._where)

    async def stream(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        *,
        settings: CallSettings | None = None,
    ) -> AsyncGenerator[ModelDelta, None]:
        """The answer's deltas as the server streams its events (``StreamingModelClient``).

        Failures before the first delta are ``complete``'s; the timeout bounds each read.
        """
        import httpx2

        settings = settings or CallSettings()
        body, headers, names = self._request(messages, tools, settings, stream=True)
        timeout_s = self._timeout(settings)
        client = self._http()
        request = client.build_request(
            "POST", self._url, content=body, headers=headers, timeout=timeout_s
        )
        try:
            answer = await client.send(request, stream=True)
        except httpx2.TransportError as exc:
            raise self._transport_error(exc, timeout_s) from exc
        try:
            if answer.status_code >= 400 or not answer.headers.get("content-type", "").startswith(
                "text/event-stream"
            ):
                try:
                    raw = await answer.aread()
                except httpx2.TransportError as exc:
                    raise self._transport_error(exc, timeout_s) from exc
                if answer.status_code >= 400:
                    raise self._status_error(answer.status_code, answer.headers, raw)
                # The server ignored ``stream`` and answered whole. (Imported here: _stream
                # imports this package.)
                from proctor.gateway._stream import whole_deltas

                whole = response_of(raw, model=self.model, names=names, where=self._where)
                for delta in whole_deltas(whole):
                    yield delta
                return
            reader = StreamReader(names, self._where)
            data: list[str] = []
            try:
                async for line in answer.aiter_lines():
                    if line.startswith("data:"):
                        data.append(line[6:] if line[5:6] == " " else line[5:])
                    elif not line and data:
                        read = reader.event("\n".join(data).encode())
                        data = []
                        if read is not None:
                            yield read
            except httpx2.TransportError as exc:
                raise self._transport_error(exc, timeout_s, streaming=True) from exc
        finally:
            await answer.aclose()  # read to the end: back to the pool; else closed

    def _request(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        settings: CallSettings,
        *,
        stream: bool,
    ) -> tuple[bytes, dict[str, str], dict[str, str]]:
        """The body, the headers, and the tool names of the answer (wire -> ours)."""
        payload, names, beta = messages_request(
            self.model,
            messages,
            tools,
            max_tokens=settings.max_tokens if settings.max_tokens is not None else self.max_tokens,
            temperature=settings.temperature,
            stream=stream,
            extra=settings.extra,
            where=self._where,
        )
        headers = self._stream_headers if stream else self._headers
        if beta:
            headers = {**headers, "anthropic-beta": beta}
        return orjson.dumps(payload), headers, names

    def _timeout(self, settings: CallSettings) -> float:
        return settings.timeout_s if settings.timeout_s is not None else self.timeout_s

    def _http(self) -> httpx2.AsyncClient:
        if self._client is None:
            import httpx2

            self._client = httpx2.AsyncClient(
                timeout=self.timeout_s,
                transport=self._transport,
                limits=httpx2.Limits(max_connections=None, max_keepalive_connections=64),
            )
        return self._client

    def _transport_error(
        self, exc: Exception, timeout_s: float, *, streaming: bool = False
    ) -> ModelCallError:
        import httpx2

        if isinstance(exc, httpx2.TimeoutException) and not isinstance(exc, httpx2.ConnectTimeout):
            what = "sent nothing more for" if streaming else "did not answer within"
            return ModelCallError(
                f"{self._where} {what} {timeout_s:g}s: the API may be overloaded; raise "
                "timeout_s or try again",
                kind="timeout",
            )
        if isinstance(exc, httpx2.ConnectError | httpx2.ConnectTimeout):
            return ModelCallError(
                f"cannot connect to the model endpoint {self.base_url} ({exc}): check that "
                "the server is running and that base_url is right",
                kind="connection",
            )
        return ModelCallError(
            f"the connection to {self._where} broke before the answer was complete "
            f"({type(exc).__name__}: {exc}): try again",
            kind="connection",
        )

    def _status_error(self, status: int, headers: Any, raw: bytes) -> ModelCallError:
        error = status_error(
            status,
            headers,
            error_of(raw),
            where=self._where,
            base_url=f"{self.base_url}/v1",
            api_key_env=self.api_key_env,
        )
        if status >= 500 and error.retry_after_s is None:  # 529 overloaded says when, too
            error.retry_after_s = retry_after_s(headers)
        return error

    async def aclose(self) -> None:
        """Close the HTTP connections; the model can still be used (it reconnects)."""
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    async def __aenter__(self) -> AnthropicModel:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
