"""``OpenAIModel``: any OpenAI-compatible chat-completions endpoint, via the official SDK."""

from __future__ import annotations

import json
import os
import re
from collections.abc import AsyncGenerator, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from proctor.errors import ConfigError
from proctor.gateway._errors import ModelCallError
from proctor.gateway._types import (
    AssistantMessage,
    CallSettings,
    Message,
    ModelDelta,
    ModelResponse,
    SystemMessage,
    ToolCallDelta,
    ToolMessage,
    ToolSpec,
    UserMessage,
)
from proctor.gateway.providers._status import status_error
from proctor.store import RecordedToolCall, Usage

if TYPE_CHECKING:
    # The SDK itself is imported on first use: it adds ~0.4s to every CLI command.
    import openai
    from openai.types.chat import (
        ChatCompletion,
        ChatCompletionChunk,
        ChatCompletionMessageParam,
        ChatCompletionMessageToolCallParam,
        ChatCompletionToolParam,
    )

DEFAULT_BASE_URL = "https://api.openai.com/v1"

# What OpenAI accepts as a function name; our tool names also contain dots.
_WIRE_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


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
        from openai.types.chat import ChatCompletion

        settings = settings or CallSettings()
        max_tokens = settings.max_tokens if settings.max_tokens is not None else self.max_tokens
        temperature = settings.temperature if settings.temperature is not None else self.temperature
        timeout_s = settings.timeout_s if settings.timeout_s is not None else self.timeout_s
        payload, wire_names = chat_request(
            self.model, messages, tools, max_tokens=max_tokens, temperature=temperature
        )
        try:
            completion: object = await self._sdk().chat.completions.create(
                timeout=timeout_s, **payload
            )
        except openai.OpenAIError as exc:
            raise self._error(exc, timeout_s) from exc
        except ValueError as exc:  # the SDK lets a body that is not JSON through as is
            raise self._invalid(self._not_json()) from exc
        if not isinstance(completion, ChatCompletion):
            raise self._invalid(self._not_json())
        try:
            return self._response(completion, {w: n for n, w in wire_names.items()})
        except (AttributeError, TypeError) as exc:
            # The SDK does not validate bodies, so a wrong shape shows up only here.
            raise self._invalid(
                f"model {self.model!r} at {self.base_url} answered JSON that is not a chat "
                f"completion ({exc}): check that the server is OpenAI-compatible"
            ) from exc

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
        max_tokens = settings.max_tokens if settings.max_tokens is not None else self.max_tokens
        temperature = settings.temperature if settings.temperature is not None else self.temperature
        timeout_s = settings.timeout_s if settings.timeout_s is not None else self.timeout_s
        payload, wire_names = chat_request(
            self.model, messages, tools, max_tokens=max_tokens, temperature=temperature
        )
        try:
            chunks = await self._sdk().chat.completions.create(
                timeout=timeout_s, stream=True, stream_options={"include_usage": True}, **payload
            )
        except openai.OpenAIError as exc:
            raise self._error(exc, timeout_s) from exc
        names = {w: n for n, w in wire_names.items()}
        try:
            async for chunk in chunks:
                try:
                    delta = self._delta(chunk, names)
                except (AttributeError, TypeError, ValueError) as exc:
                    raise self._invalid(
                        f"model {self.model!r} at {self.base_url} streamed a chunk that is not "
                        f"a chat-completion chunk ({exc}): check that the server is "
                        "OpenAI-compatible"
                    ) from exc
                yield delta
        except openai.OpenAIError as exc:
            raise self._error(exc, timeout_s) from exc
        except ValueError as exc:  # an event that is not JSON
            raise self._invalid(self._not_json()) from exc
        finally:
            await chunks.close()  # a no-op once read to the end; else the connection goes

    def _delta(self, chunk: ChatCompletionChunk, names: Mapping[str, str]) -> ModelDelta:
        usage = None
        if chunk.usage is not None:
            details = chunk.usage.prompt_tokens_details
            usage = Usage(
                input_tokens=chunk.usage.prompt_tokens or 0,
                output_tokens=chunk.usage.completion_tokens or 0,
                cached_input_tokens=(details.cached_tokens or 0) if details else 0,
            )
        if not chunk.choices:
            return ModelDelta(usage=usage)
        choice = chunk.choices[0]
        calls = tuple(
            ToolCallDelta(
                index=call.index,
                id=call.id,
                name=None
                if call.function is None or call.function.name is None
                else names.get(call.function.name, call.function.name),
                arguments=(call.function.arguments or "") if call.function else "",
            )
            for call in choice.delta.tool_calls or ()
        )
        return ModelDelta(
            text=choice.delta.content,
            tool_calls=calls,
            finish_reason=choice.finish_reason,
            usage=usage,
        )

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

    def _response(self, completion: ChatCompletion, names: Mapping[str, str]) -> ModelResponse:
        if not completion.choices:
            raise self._invalid(
                f"the provider returned no choices for model {self.model!r} at {self.base_url}: "
                f"the server accepted the request but produced no answer; check its logs"
            )
        choice = completion.choices[0]
        calls: list[RecordedToolCall] = []
        for call in choice.message.tool_calls or ():
            if call.type == "function":
                name, raw = (
                    names.get(call.function.name, call.function.name),
                    call.function.arguments,
                )
            else:  # a custom (free-text) tool call: we never offer those
                name, raw = names.get(call.custom.name, call.custom.name), call.custom.input
            calls.append(_tool_call(call.id, name, raw))
        usage = completion.usage
        details = usage.prompt_tokens_details if usage else None
        return ModelResponse(
            model=self.model,
            text=choice.message.content or None,
            tool_calls=tuple(calls),
            usage=Usage(
                input_tokens=usage.prompt_tokens if usage else 0,
                output_tokens=usage.completion_tokens if usage else 0,
                # Prompt tokens the provider served from its cache are billed at their own rate.
                cached_input_tokens=(details.cached_tokens or 0) if details else 0,
            ),
            finish_reason=choice.finish_reason or ("tool_calls" if calls else "stop"),
        )

    def _error(self, exc: openai.OpenAIError, timeout_s: float) -> ModelCallError:
        """The SDK's exception as a ``ModelCallError``: a kind to act on, a message to read."""
        import openai

        where = f"model {self.model!r} at {self.base_url}"
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
        return status_error(exc, where=where, base_url=self.base_url, api_key_env=self.api_key_env)

    def _invalid(self, message: str) -> ModelCallError:
        return ModelCallError(message, kind="invalid_response")

    def _not_json(self) -> str:
        return (
            f"model {self.model!r} at {self.base_url} answered with a body that is not valid "
            f"JSON: check that the base URL points at an OpenAI-compatible API (usually "
            f"ending in /v1)"
        )


def chat_request(
    model: str,
    messages: Sequence[Message],
    tools: Sequence[ToolSpec],
    *,
    max_tokens: int | None,
    temperature: float | None,
) -> tuple[dict[str, Any], dict[str, str]]:
    """The chat-completions request body, and the wire name of each tool (``.`` -> ``__``)."""
    wire_names = _wire_names(tools)
    payload: dict[str, Any] = {
        "model": model,
        "messages": [_message_param(m, wire_names) for m in messages],
    }
    if tools:
        payload["tools"] = [_tool_param(t, wire_names[t.name]) for t in tools]
    if max_tokens is not None:
        payload["max_tokens"] = max_tokens
    if temperature is not None:
        payload["temperature"] = temperature
    return payload, wire_names


def _wire_names(tools: Sequence[ToolSpec]) -> dict[str, str]:
    """Map each tool name to an allowed function name (``erp.fetch_po`` -> ``erp__fetch_po``)."""
    names: dict[str, str] = {}
    owners: dict[str, str] = {}
    for tool in tools:
        wire = _wire(tool.name)
        if not _WIRE_NAME.match(wire):
            raise ConfigError(
                f"tool name {tool.name!r} cannot be sent to an OpenAI-compatible API: "
                f"use letters, digits, '_', '-' and '.', at most 64 characters"
            )
        if owners.setdefault(wire, tool.name) != tool.name:
            raise ConfigError(
                f"tools {owners[wire]!r} and {tool.name!r} both become {wire!r} for the "
                f"OpenAI API ('.' is sent as '__'): rename one of them"
            )
        names[tool.name] = wire
    return names


def _wire(name: str) -> str:
    return name.replace(".", "__")


def _tool_param(tool: ToolSpec, wire_name: str) -> ChatCompletionToolParam:
    return {
        "type": "function",
        "function": {
            "name": wire_name,
            "description": tool.description,
            "parameters": tool.parameters,
        },
    }


def _message_param(message: Message, wire_names: Mapping[str, str]) -> ChatCompletionMessageParam:
    match message:
        case SystemMessage():
            return {"role": "system", "content": message.content}
        case UserMessage():
            return {"role": "user", "content": message.content}
        case ToolMessage():
            return {"role": "tool", "tool_call_id": message.call_id, "content": message.content}
        case AssistantMessage():
            calls: list[ChatCompletionMessageToolCallParam] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {
                        # Earlier turns may name tools not offered now: encode them the same way.
                        "name": wire_names.get(call.name, _wire(call.name)),
                        # Always valid JSON: some servers parse the history and would
                        # fail the whole request on the model's own malformed arguments.
                        "arguments": json.dumps(call.arguments),
                    },
                }
                for call in message.tool_calls
            ]
            if calls:
                return {"role": "assistant", "content": message.text, "tool_calls": calls}
            return {"role": "assistant", "content": message.text}


def _tool_call(call_id: str, name: str, raw: str) -> RecordedToolCall:
    try:
        arguments = json.loads(raw)
    except ValueError:
        arguments = None
    if not isinstance(arguments, dict):
        # Not a JSON object: the runtime reports invalid arguments back to the model.
        return RecordedToolCall(id=call_id, name=name, arguments={}, raw_arguments=raw)
    return RecordedToolCall(id=call_id, name=name, arguments=arguments)
