"""What a client of one API sent, for an upstream of the other: OpenAI's chat completions
and Anthropic's messages differ in content parts and in request fields.

A route may mix providers, so a request parsed in one API's words can reach either kind
of upstream; each provider translates here what it received in the other's. What can be
translated is (an image, a PDF, ``stop`` and ``stop_sequences``, ``tool_choice``, the end
user's id); what cannot is refused with ``ModelCallError`` (``bad_request``) naming the
field and the fix, before anything is sent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from proctor.gateway._errors import ModelCallError

BETA_FIELD = "anthropic-beta"
"""The key of ``CallSettings.extra`` carrying a client's ``anthropic-beta`` header: sent as
that header to Anthropic upstreams, dropped for others (it names Anthropic's features)."""

ANTHROPIC_BLOCKS = frozenset(
    {
        "text",
        "image",
        "document",
        "search_result",
        "thinking",
        "redacted_thinking",
        "tool_use",
        "tool_result",
        "server_tool_use",
        "web_search_tool_result",
        "container_upload",
    }
)
"""Content block types of Anthropic's Messages API (``text`` is OpenAI's too)."""

OPENAI_ONLY = frozenset(
    {
        "response_format",
        "seed",
        "frequency_penalty",
        "presence_penalty",
        "logprobs",
        "top_logprobs",
        "logit_bias",
        "n",
        "modalities",
        "audio",
        "prediction",
        "reasoning_effort",
        "store",
        "web_search_options",
        "verbosity",
        "prompt_cache_key",
        "safety_identifier",
        "stream_options",
        "functions",
        "function_call",
    }
)
"""Chat-completions fields the Messages API has no counterpart for."""

ANTHROPIC_ONLY = frozenset(
    {
        "thinking",
        "container",
        "mcp_servers",
        "context_management",
        "output_config",
        "inference_geo",
        "speed",
    }
)
"""Messages fields an OpenAI-compatible API has no counterpart for."""


def _refuse(where: str, what: str, api: str, fix: str) -> ModelCallError:
    return ModelCallError(
        f"{where} cannot honour {what}: {api}. Fix: {fix}",
        kind="bad_request",
    )


def _data_url(media_type: str, data: str) -> str:
    return f"data:{media_type};base64,{data}"


def _split_data_url(url: str) -> tuple[str, str] | None:
    """``(media_type, base64 data)`` of a ``data:`` URL, ``None`` for any other URL."""
    if not url.startswith("data:"):
        return None
    head, _, data = url[5:].partition(",")
    media_type, _, encoding = head.partition(";")
    return (media_type, data) if encoding == "base64" else None


# Anthropic upstreams ----------------------------------------------------------------------


def anthropic_part(part: Mapping[str, Any], where: str) -> dict[str, Any]:
    """A user content part as an Anthropic block: OpenAI's ``image_url`` and ``file``
    (a PDF) become ``image`` and ``document``; Anthropic's own pass as they came."""
    kind = part.get("type")
    if kind in ANTHROPIC_BLOCKS:
        return dict(part)
    if kind == "image_url":
        url = (part.get("image_url") or {}).get("url", "")
        inline = _split_data_url(url)
        source = (
            {"type": "url", "url": url}
            if inline is None
            else {"type": "base64", "media_type": inline[0], "data": inline[1]}
        )
        return {"type": "image", "source": source}
    if kind == "file":
        inline = _split_data_url((part.get("file") or {}).get("file_data", ""))
        if inline is not None and inline[0] == "application/pdf":
            return {
                "type": "document",
                "source": {"type": "base64", "media_type": inline[0], "data": inline[1]},
            }
        what = "a file part that is not an inline PDF (file_id, or another type)"
    else:
        what = f"a content part of type {kind!r}"
    raise _refuse(
        where,
        what,
        "Anthropic's Messages API takes images and PDF documents",
        "send it to a route of an OpenAI-compatible model, or leave it out",
    )


def anthropic_fields(
    extra: Mapping[str, Any], wire_name: Callable[[str], str], where: str
) -> tuple[dict[str, Any], str | None]:
    """``extra`` as Messages fields, and the ``anthropic-beta`` header to send (if any).

    OpenAI's ``stop``, ``user``, ``tool_choice`` and ``parallel_tool_calls`` are
    translated; its fields without a counterpart are refused.
    """
    fields: dict[str, Any] = {}
    beta: str | None = None
    parallel: bool | None = None
    for key, value in extra.items():
        if key == BETA_FIELD:
            beta = value if isinstance(value, str) else ",".join(value)
        elif key in OPENAI_ONLY:
            raise _refuse(
                where,
                f"the field {key!r}",
                "it is a field of OpenAI's chat-completions API, which Anthropic's Messages "
                "API lacks",
                "leave it out, or send the request to a route of an OpenAI-compatible model",
            )
        elif key == "stop":
            fields["stop_sequences"] = [value] if isinstance(value, str) else value
        elif key == "user":
            fields.setdefault("metadata", {"user_id": value})
        elif key == "parallel_tool_calls":
            parallel = bool(value)
        elif key == "tool_choice":
            fields[key] = _anthropic_choice(value, wire_name, where)
        else:
            fields[key] = value
    if parallel is False:
        choice = dict(fields.get("tool_choice") or {"type": "auto"})
        choice["disable_parallel_tool_use"] = True
        fields["tool_choice"] = choice
    return fields, beta


def _anthropic_choice(value: Any, wire_name: Callable[[str], str], where: str) -> Any:
    if isinstance(value, str):  # OpenAI's "auto", "none", "required"
        kind = {"auto": "auto", "none": "none", "required": "any"}.get(value)
        if kind is None:
            raise _refuse(
                where, f"tool_choice {value!r}", "it is not auto, none or required", "use one"
            )
        return {"type": kind}
    if isinstance(value, dict) and value.get("type") == "function":
        name = (value.get("function") or {}).get("name", "")
        return {"type": "tool", "name": wire_name(name)}
    if isinstance(value, dict) and value.get("type") == "tool" and "name" in value:
        return {**value, "name": wire_name(value["name"])}
    return value  # Anthropic's own shape


# OpenAI-compatible upstreams --------------------------------------------------------------


def openai_part(part: Mapping[str, Any], where: str) -> dict[str, Any]:
    """A user content part as OpenAI's: Anthropic's ``image`` becomes ``image_url``, a PDF
    or text ``document`` becomes ``file`` or text, ``cache_control`` is dropped (OpenAI
    caches prompts by itself); OpenAI's own pass as they came."""
    kind = part.get("type")
    if kind == "text":
        return {"type": "text", "text": part.get("text", "")}
    if kind not in ANTHROPIC_BLOCKS:
        return dict(part)
    source = part.get("source") or {}
    source_type = source.get("type")
    if kind == "image" and source_type in ("base64", "url"):
        url = (
            source.get("url", "")
            if source_type == "url"
            else _data_url(source.get("media_type", ""), source.get("data", ""))
        )
        return {"type": "image_url", "image_url": {"url": url}}
    if kind == "document" and source_type == "base64":
        data = _data_url(source.get("media_type", ""), source.get("data", ""))
        name = part.get("title") or "document.pdf"
        return {"type": "file", "file": {"filename": name, "file_data": data}}
    if kind == "document" and source_type == "text":
        return {"type": "text", "text": source.get("data", "")}
    what = f"a {kind!r} block" + (f" with a {source_type!r} source" if source_type else "")
    raise _refuse(
        where,
        what,
        "an OpenAI-compatible API takes images (inline or by URL), inline PDFs and text",
        "send it to a route of an Anthropic model, or leave it out",
    )


def openai_tool_result(block: Mapping[str, Any], where: str) -> None:
    """Refuse a ``tool_result`` an OpenAI tool message cannot carry (an image in it)."""
    content = block.get("content")
    if isinstance(content, list):
        for item in content:
            if isinstance(item, dict) and item.get("type") not in ("text", None):
                raise _refuse(
                    where,
                    f"a tool_result holding a {item.get('type')!r} block",
                    "an OpenAI-compatible API's tool results are text",
                    "send it to a route of an Anthropic model, or return text from the tool",
                )


def openai_fields(
    extra: Mapping[str, Any], wire_name: Callable[[str], str], where: str
) -> dict[str, Any]:
    """``extra`` as chat-completions fields: Anthropic's ``stop_sequences``,
    ``metadata.user_id`` and ``tool_choice`` are translated, its fields without a
    counterpart refused, its beta header dropped."""
    fields: dict[str, Any] = {}
    for key, value in extra.items():
        if key in (BETA_FIELD, "cache_control"):  # OpenAI caches prompts by itself
            continue
        if key in ANTHROPIC_ONLY:
            raise _refuse(
                where,
                f"the field {key!r}",
                "it is a field of Anthropic's Messages API, which OpenAI-compatible APIs lack",
                "leave it out, or send the request to a route of an Anthropic model",
            )
        if key == "stop_sequences":
            fields["stop"] = value
        elif key == "metadata" and isinstance(value, dict) and set(value) <= {"user_id"}:
            if value.get("user_id") is not None:
                fields.setdefault("user", value["user_id"])
        elif key == "tool_choice" and isinstance(value, dict) and value.get("type") != "function":
            kind = str(value.get("type"))
            if kind == "tool":
                choice: Any = {"type": "function", "function": {"name": wire_name(value["name"])}}
            else:
                choice = {"auto": "auto", "any": "required", "none": "none"}.get(kind, value)
            fields["tool_choice"] = choice
            if value.get("disable_parallel_tool_use"):
                fields["parallel_tool_calls"] = False
        else:
            fields[key] = value
    return fields
