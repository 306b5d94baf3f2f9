"""``OpenAIModel``: any OpenAI-compatible chat-completions endpoint, via the official SDK.

The SDK carries the bytes (HTTP, TLS, proxies, its transport errors); what they mean is
``wire``'s, the same reading ``LeanOpenAIModel`` uses.
"""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from proctor.errors import ConfigError
from proctor.gateway._embeddings import EmbeddingInput, Embeddings, EmbedSettings
from proctor.gateway._errors import ModelCallError
from proctor.gateway._types import CallSettings, Message, ModelDelta, ModelResponse, ToolSpec
from proctor.gateway.providers._embeddings_wire import embeddings_of, embeddings_request
from proctor.gateway.providers.wire import chat_request, delta_of, response_of, status_error

if TYPE_CHECKING:
    # The SDK itself is imported on first use: it adds ~0.4s to every CLI command.
    import openai

DEFAULT_BASE_URL = "https://api.openai.com/v1"


def resolve_endpoint(
    model: str, base_url: str | None, api_key: str | None, api_key_env: str
) -> tuple[str, str]:
    """The base URL (argument, ``$OPENAI_BASE_URL``, OpenAI's) and API key of an endpoint."""
    key = api_key or os.environ.get(api_key_env)
    if not key:
        raise ConfigError(
            f"no API key for model {model!r}: set the environment variable {api_key_env} "
            f"(or pass api_key=); for a local server that needs no key, any value works, "
            f"e.g. {api_key_env}=unused"
        )
    url = base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
    return url.rstrip("/"), key


class OpenAIModel:
    """A model behind an OpenAI-compatible API (OpenAI, vLLM, Ollama, another gateway).

    ``base_url`` defaults to ``$OPENAI_BASE_URL``, then OpenAI's. The key is ``api_key``,
    else the environment variable named by ``api_key_env``; servers that need no key
    accept any non-empty value (``OPENAI_API_KEY=unused``). ``max_tokens`` is sent as
    ``max_tokens``, the field every compatible server understands. The SDK client is
    created on first use and reused; close it with ``aclose()`` or ``async with``.
    Every failure is a ``ModelCallError`` whose ``kind`` tells a router what to do and
    whose message says what to check. The SDK's own retries are off by default: retrying
    and falling back is the router's job.
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        timeout_s: float = 60.0,
        max_tokens: int | None = None,
        temperature: float | None = None,
        max_retries: int = 0,
    ) -> None:
        self.base_url, key = resolve_endpoint(model, base_url, api_key, api_key_env)
        self.model = model
        self.api_key_env = api_key_env
        self.timeout_s = timeout_s
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.max_retries = max_retries
        self._api_key = key
        self._client: openai.AsyncOpenAI | None = None
        self._where = f"model {model!r} at {self.base_url}"

    def __repr__(self) -> str:
        # Never shows the key.
        return f"OpenAIModel({self.model!r}, base_url={self.base_url!r})"

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
        """Send the conversation and tool specs; return the model's text and tool calls.

        ``settings`` overrides ``max_tokens``, ``temperature`` and the timeout for this call.
        """
        import openai

        settings = settings or CallSettings()
        payload, names = self._request(messages, tools, settings)
        timeout_s = self._timeout(settings)
        try:
            # The raw body: read by ``wire`` as the lean client reads it, not by the SDK.
            raw = await self._sdk().chat.completions.with_raw_response.create(
                timeout=timeout_s, **payload
            )
        except openai.OpenAIError as exc:
            raise self._error(exc, timeout_s) from exc
        return response_of(raw.content, model=self.model, names=names, where=self._where)

    async def stream(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        *,
        settings: CallSettings | None = None,
    ) -> AsyncGenerator[ModelDelta, None]:
        """The answer's chunks as the server streams them (``StreamingModelClient``).

        Failures before the first chunk are ``complete``'s; the timeout bounds each read.
        The usage chunk is always asked for (``stream_options.include_usage``).
        """
        import openai

        settings = settings or CallSettings()
        payload, names = self._request(messages, tools, settings)
        timeout_s = self._timeout(settings)
        try:
            chunks = await self._sdk().chat.completions.create(
                timeout=timeout_s, stream=True, stream_options={"include_usage": True}, **payload
            )
        except openai.OpenAIError as exc:
            raise self._error(exc, timeout_s) from exc
        try:
            async for chunk in chunks:
                # The SDK cuts and parses the events; ``wire`` reads each, as for the lean client.
                yield delta_of(chunk.to_dict(warnings=False), names, self._where)
        except openai.OpenAIError as exc:
            raise self._error(exc, timeout_s) from exc
        except ValueError as exc:  # an event that is not JSON
            raise self._invalid(self._not_json()) from exc
        finally:
            await chunks.close()  # a no-op once read to the end; else the connection goes

    async def embed(
        self, inputs: EmbeddingInput, *, settings: EmbedSettings | None = None
    ) -> Embeddings:
        """The embeddings of ``inputs`` (``EmbeddingClient``), failures as ``complete``'s."""
        import openai

        settings = settings or EmbedSettings()
        payload = embeddings_request(self.model, inputs, settings)
        # Named, so the SDK does not put its own default (base64, decoded by itself) in.
        payload.setdefault("encoding_format", "float")
        known = ("model", "input", "dimensions", "encoding_format", "user")
        extra = {k: v for k, v in payload.items() if k not in known}
        timeout_s = settings.timeout_s if settings.timeout_s is not None else self.timeout_s
        try:
            raw = await self._sdk().embeddings.with_raw_response.create(
                timeout=timeout_s,
                extra_body=extra or None,
                **{k: v for k, v in payload.items() if k in known},
            )
        except openai.OpenAIError as exc:
            raise self._error(exc, timeout_s) from exc
        return embeddings_of(raw.content, model=self.model, where=self._where)

    def _request(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec], settings: CallSettings
    ) -> tuple[dict[str, Any], dict[str, str]]:
        max_tokens = settings.max_tokens if settings.max_tokens is not None else self.max_tokens
        temperature = settings.temperature if settings.temperature is not None else self.temperature
        payload, names = chat_request(
            self.model,
            messages,
            tools,
            max_tokens=max_tokens,
            temperature=temperature,
            extra=settings.extra,
            where=self._where,
        )
        if settings.extra:  # fields the SDK's signature may not name: sent in the body as given
            built = {"model", "messages", "tools", "max_tokens", "temperature"}
            payload["extra_body"] = {k: payload.pop(k) for k in list(payload) if k not in built}
        return payload, names

    def _timeout(self, settings: CallSettings) -> float:
        return settings.timeout_s if settings.timeout_s is not None else self.timeout_s

    async def aclose(self) -> None:
        """Close the HTTP connections; the model can still be used (it reconnects)."""
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()

    async def __aenter__(self) -> OpenAIModel:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def _sdk(self) -> openai.AsyncOpenAI:
        import openai

        if self._client is None:
            self._client = openai.AsyncOpenAI(
                base_url=self.base_url,
                api_key=self._api_key,
                timeout=self.timeout_s,
                max_retries=self.max_retries,
            )
        return self._client

    def _error(self, exc: openai.OpenAIError, timeout_s: float) -> ModelCallError:
        """The SDK's exception as a ``ModelCallError``: a kind to act on, a message to read."""
        import openai

        where = self._where
        if isinstance(exc, openai.APITimeoutError):
            return ModelCallError(
                f"{where} did not answer within {timeout_s:g}s: the server may be "
                f"overloaded or the model slow to load; raise timeout_s or try again",
                kind="timeout",
            )
        if isinstance(exc, openai.APIConnectionError):
            cause = f" ({exc.__cause__})" if exc.__cause__ else ""
            # The SDK wraps every transport error alike; the cause's class (httpx's
            # ConnectError, RemoteProtocolError, ReadError...) says whether we got through.
            if exc.__cause__ is not None and "Connect" not in type(exc.__cause__).__name__:
                return ModelCallError(
                    f"the connection to {where} broke before the answer was complete{cause}: "
                    f"the server may have crashed or restarted; try again",
                    kind="connection",
                )
            return ModelCallError(
                f"cannot connect to the model endpoint {self.base_url}{cause}: check that "
                f"the server is running and that the base URL (base_url= or OPENAI_BASE_URL) "
                f"is right",
                kind="connection",
            )
        if isinstance(exc, openai.APIResponseValidationError):
            return self._invalid(
                f"{where} answered something that is not a chat completion: {exc.message}"
            )
        if not isinstance(exc, openai.APIStatusError):
            return self._invalid(f"{where} failed: {exc}")
        return status_error(
            exc.status_code,
            exc.response.headers,
            exc.body,
            where=where,
            base_url=self.base_url,
            api_key_env=self.api_key_env,
        )

    def _invalid(self, message: str) -> ModelCallError:
        return ModelCallError(message, kind="invalid_response")

    def _not_json(self) -> str:
        return (
            f"{self._where} answered with a body that is not valid "
            f"JSON: check that the base URL points at an OpenAI-compatible API (usually "
            f"ending in /v1)"
        )
