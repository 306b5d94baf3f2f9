"""One trace's spans as an ``ObservedTrajectory``: GenAI conventions and OpenInference.

Spans are told apart by what they say they are: ``gen_ai.operation.name`` (``chat``,
``execute_tool``, ``invoke_agent``), OpenInference's ``openinference.span.kind`` (``LLM``,
``TOOL``, ``AGENT``), OpenLLMetry's ``traceloop.span.kind``, or their name. Messages are
read from each shape instrumentations emit: ``gen_ai.input.messages`` and
``gen_ai.output.messages`` (JSON, the current conventions; pydantic-ai, the OpenAI Agents
SDK's OpenTelemetry instrumentation), the older ``gen_ai.*.message`` and ``gen_ai.choice``
events (or pydantic-ai 0.x's ``events`` attribute), flattened ``gen_ai.prompt.N.*`` /
``gen_ai.completion.N.*`` (OpenLLMetry) and ``llm.input_messages.N.message.*`` (OpenInference,
what Phoenix stores). A tool span gives its call's result: ``gen_ai.tool.call.result``,
``tool_response`` (pydantic-ai 0.x) or ``output.value``; its failure from the span's status.

Each chat span's response is one turn. A trace recorded without content (no messages) still
gives its tool calls: each tool span is a call of the turn of the chat span before it.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import Any, Literal

from proctor.evals._trace_messages import Message, add_result, event_message, read_messages
from proctor.evals._trace_otlp import Span
from proctor.evals._traces import (
    ObservedResult,
    ObservedToolCall,
    ObservedTrajectory,
    ObservedTurn,
    arguments_of,
    parse_json,
    text_of,
)
from proctor.store import Usage

SpanKind = Literal["agent", "chat", "tool", "other"]
_CHAT_OPS = {"chat", "text_completion", "generate_content", "completion", "responses"}
_INDEX = re.compile(r"^(\d+)\.(.+)$")


def span_kind(span: Span) -> SpanKind:
    """What a span is, by the conventions above."""
    attrs = span.attributes
    op = str(attrs.get("gen_ai.operation.name") or "").lower()
    if op in _CHAT_OPS:
        return "chat"
    if op == "execute_tool":
        return "tool"
    if op in ("invoke_agent", "create_agent"):
        return "agent"
    kind = str(attrs.get("openinference.span.kind") or attrs.get("traceloop.span.kind") or "")
    kind = kind.upper()
    if kind in ("LLM",):
        return "chat"
    if kind == "TOOL":
        return "tool"
    if kind in ("AGENT", "WORKFLOW"):
        return "agent"
    head = span.name.split(" ", 1)[0]
    if head in _CHAT_OPS:
        return "chat"
    if head == "execute_tool" or "gen_ai.tool.name" in attrs:
        return "tool"
    if head == "invoke_agent" or "agent_name" in attrs:
        return "agent"
    if str(attrs.get("llm.request.type") or "") == "chat":
        return "chat"
    return "other"


def indexed(attrs: dict[str, Any], prefix: str) -> list[Any]:
    """A list kept under ``prefix``: as one value (a list, or JSON text of one), or
    flattened as ``prefix.0.key``, ``prefix.0.key.1.key`` ..., rebuilt as nested data."""
    whole = parse_json(attrs.get(prefix))
    if isinstance(whole, list):
        return whole
    tree: dict[str, Any] = {}
    start = prefix + "."
    for key, value in attrs.items():
        if key.startswith(start):
            _put(tree, key[len(start) :].split("."), value)
    return _lists(tree) if tree else []


def _put(tree: dict[str, Any], path: list[str], value: Any) -> None:
    node = tree
    for part in path[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            child = node[part] = {"": child}
        node = child
    node[path[-1]] = value


def _lists(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    if node and all(key.isdigit() for key in node):
        return [_lists(node[key]) for key in sorted(node, key=int)]
    return {key: _lists(value) for key, value in node.items()}


def _openinference(item: Any) -> Any:
    """An OpenInference message (``{"message": {...}}``) in OpenAI's chat shape."""
    if not isinstance(item, dict):
        return item
    message = item.get("message", item)
    if not isinstance(message, dict):
        return message
    shaped = dict(message)
    calls = message.get("tool_calls")
    if isinstance(calls, list):
        shaped["tool_calls"] = [c.get("tool_call", c) if isinstance(c, dict) else c for c in calls]
    contents = message.get("contents")
    if "content" not in shaped and isinstance(contents, list):
        shaped["content"] = [c.get("message_content", c) for c in contents if isinstance(c, dict)]
    return shaped


def _messages(span: Span, side: Literal["input", "output"]) -> list[Message]:
    attrs = span.attributes
    for key in (f"gen_ai.{side}.messages", f"llm.{side}_messages"):
        found = indexed(attrs, key)
        if found:
            return read_messages([_openinference(item) for item in found])
    flat = indexed(attrs, "gen_ai.prompt" if side == "input" else "gen_ai.completion")
    if flat:
        return read_messages(flat)
    events = [(e.name, e.attributes) for e in span.events]
    for raw in parse_json(attrs.get("events")) or ():  # pydantic-ai 0.x
        if isinstance(raw, dict):
            events.append((str(raw.get("event.name") or ""), raw))
    found_messages = []
    for name, body in events:
        if (name == "gen_ai.choice") != (side == "output"):
            continue
        message = event_message(name, body)
        if message is not None:
            found_messages.append(message)
    return found_messages


def _usage(attrs: dict[str, Any]) -> Usage:
    def first(*keys: str) -> int:
        for key in keys:
            value = attrs.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                return int(value)
        return 0

    return Usage(
        input_tokens=first(
            "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt"
        ),
        output_tokens=first(
            "gen_ai.usage.output_tokens",
            "gen_ai.usage.completion_tokens",
            "llm.token_count.completion",
        ),
        cached_input_tokens=first(
            "gen_ai.usage.cache_read.input_tokens",
            "gen_ai.usage.cache_read_tokens",
            "llm.token_count.prompt_details.cache_read",
        ),
    )


def _model(attrs: dict[str, Any]) -> str | None:
    for key in ("gen_ai.response.model", "gen_ai.request.model", "llm.model_name", "model_name"):
        if isinstance(attrs.get(key), str) and attrs[key]:
            return str(attrs[key])
    return None


def _tool_call(span: Span) -> tuple[ObservedToolCall, ObservedResult]:
    attrs = span.attributes
    name = (
        attrs.get("gen_ai.tool.name")
        or attrs.get("tool.name")
        or attrs.get("traceloop.entity.name")
        or span.name.removeprefix("execute_tool ").strip()
    )
    call_id = str(attrs.get("gen_ai.tool.call.id") or attrs.get("tool_call.id") or "")
    raw_args = next(
        (
            attrs[key]
            for key in (
                "gen_ai.tool.call.arguments",
                "tool_arguments",
                "input.value",
                "traceloop.entity.input",
            )
            if key in attrs
        ),
        None,
    )
    arguments, raw = arguments_of(raw_args)
    call = ObservedToolCall(id=call_id, tool=str(name), arguments=arguments, raw_arguments=raw)
    result = next(
        (
            parse_json(attrs[key])
            for key in (
                "gen_ai.tool.call.result",
                "tool_response",
                "output.value",
                "traceloop.entity.output",
            )
            if key in attrs
        ),
        None,
    )
    if span.error is None:
        return call, ObservedResult(call_id=call_id, tool=call.tool, result=result)
    kind, message = "ToolError", span.error
    for event in span.events:
        if event.name == "exception":
            kind = str(event.attributes.get("exception.type") or kind).rsplit(".", 1)[-1]
            message = str(event.attributes.get("exception.message") or message)
    failed = ObservedResult(
        call_id=call_id, tool=call.tool, ok=False, error=message or kind, error_type=kind
    )
    return call, failed


def trajectory_of(trace_id: str, spans: Sequence[Span], *, source: str) -> ObservedTrajectory:
    """The trajectory of one trace (``spans``: all of its spans)."""
    ordered = sorted(spans, key=lambda s: (s.start or 0.0, s.end or 0.0))
    kinds = {span.span_id: span_kind(span) for span in ordered}
    chats = [s for s in ordered if kinds[s.span_id] == "chat"]
    tools = [s for s in ordered if kinds[s.span_id] == "tool"]
    agents = [s for s in ordered if kinds[s.span_id] == "agent"]
    trajectory = ObservedTrajectory(id=trace_id, source=source)
    trajectory.started_at = min((s.start for s in ordered if s.start), default=None)
    trajectory.ended_at = max((s.end for s in ordered if s.end), default=None)
    _describe(trajectory, ordered, agents)
    if chats:
        _from_chats(trajectory, chats, tools)
    elif tools:
        trajectory.notes.append("no model (chat) spans: each tool span is taken as one turn")
        for span in tools:
            _one_call_turn(trajectory, span)
    for agent in agents:  # the whole conversation, when only the agent span holds it
        if not trajectory.turns:
            from proctor.evals._trace_messages import conversation

            whole = indexed(agent.attributes, "pydantic_ai.all_messages") or indexed(
                agent.attributes, "gen_ai.input.messages"
            )
            conversation(trajectory, read_messages(whole), model=trajectory.model)
        if trajectory.final_text is None:
            final = agent.attributes.get("final_result", agent.attributes.get("output.value"))
            trajectory.final_text = text_of(parse_json(final)) if final is not None else None
    trajectory.ensure_final()
    return trajectory


def _describe(
    trajectory: ObservedTrajectory, spans: Sequence[Span], agents: Sequence[Span]
) -> None:
    for span in spans:
        for attrs in (span.attributes, span.resource):
            workflow = attrs.get("proctor.workflow")
            if isinstance(workflow, str) and workflow and trajectory.workflow is None:
                trajectory.workflow = workflow
    for agent in agents:
        name = agent.attributes.get("gen_ai.agent.name") or agent.attributes.get("agent_name")
        if isinstance(name, str) and name and trajectory.agent is None:
            trajectory.agent = name
        model = _model(agent.attributes)
        if model and trajectory.model is None:
            trajectory.model = model
        if trajectory.input is None:
            value = parse_json(agent.attributes.get("input.value"))
            trajectory.input = value if isinstance(value, dict) and value else None


def _from_chats(trajectory: ObservedTrajectory, chats: list[Span], tools: list[Span]) -> None:
    unmatched = list(tools)
    by_id = {}
    for span in tools:
        call, result = _tool_call(span)
        if call.id:
            by_id[call.id] = (span, call, result)
    pending: list[ObservedToolCall] = []
    content = False
    for index, chat in enumerate(chats):
        attrs = chat.attributes
        model = _model(attrs)
        trajectory.model = trajectory.model or model
        inputs = _messages(chat, "input")
        if index == 0 or not trajectory.messages:
            for message in inputs:
                if message.role in ("system", "developer") and message.text:
                    trajectory.instructions = message.text
                elif message.role == "user" and message.text and not message.results:
                    trajectory.messages.append(message.text)
        system = parse_json(attrs.get("gen_ai.system_instructions"))
        if system and not trajectory.instructions:
            trajectory.instructions = text_of(system) or ""
        for message in inputs:  # results the agent sent back (when no tool span has them)
            for result in message.results:
                if result.call_id not in by_id:
                    add_result(trajectory, result, pending)
        outputs = [m for m in _messages(chat, "output") if m.role == "assistant"]
        content = content or bool(outputs)
        usage = _usage(attrs)
        if not outputs:  # no content recorded: the calls are the tool spans that follow
            nxt = chats[index + 1].start if index + 1 < len(chats) else None
            calls = []
            for span in list(unmatched):
                if (span.start or 0.0) >= (chat.start or 0.0) and (
                    nxt is None or (span.start or 0.0) < nxt
                ):
                    call, result = _identified_call(span)
                    calls.append(call)
                    trajectory.results[call.id] = _for(result, call)
                    unmatched.remove(span)
            trajectory.turns.append(
                ObservedTurn(calls=tuple(calls), usage=usage, model=model, at=chat.end)
            )
            continue
        text = "\n".join(m.text for m in outputs if m.text) or None
        calls = [call for m in outputs for call in m.calls]
        trajectory.turns.append(
            ObservedTurn(text=text, calls=tuple(calls), usage=usage, model=model, at=chat.end)
        )
        for call in calls:
            found = by_id.get(call.id)
            if found is None:  # no id to match: the next tool span of that name
                named = next((s for s in unmatched if _tool_call(s)[0].tool == call.tool), None)
                found = None if named is None else (named, *_tool_call(named))
            if found is not None:
                if found[0] in unmatched:
                    unmatched.remove(found[0])
                trajectory.results[call.id] = _for(found[2], call)
            else:
                pending.append(call)
    if not content:
        trajectory.notes.append(
            "the model's messages were not recorded (content capture off?): calls come from "
            "the tool spans, and the turns have no text"
        )


def _identified_call(span: Span) -> tuple[ObservedToolCall, ObservedResult]:
    """A tool span's call and result; a call the span gives no id is named after the span."""
    call, result = _tool_call(span)
    if call.id:
        return call, result
    return dataclasses.replace(call, id=f"call_{span.span_id}"), result


def _one_call_turn(trajectory: ObservedTrajectory, span: Span) -> None:
    call, result = _identified_call(span)
    trajectory.turns.append(ObservedTurn(calls=(call,), at=span.start))
    trajectory.results[call.id] = _for(result, call)


def _for(result: ObservedResult, call: ObservedToolCall) -> ObservedResult:
    return ObservedResult(
        call_id=call.id,
        tool=call.tool,
        ok=result.ok,
        result=result.result,
        error=result.error,
        error_type=result.error_type,
    )
