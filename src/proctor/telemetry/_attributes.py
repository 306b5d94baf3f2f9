"""The attributes of each span and span event, by event type.

GenAI conventions (``gen_ai.*``) where one applies, ``proctor.*`` for the rest. Content
attributes (``gen_ai.input.messages``, ``gen_ai.output.messages``,
``gen_ai.system_instructions``, ``gen_ai.tool.call.arguments``, ``gen_ai.tool.call.result``
and a few ``proctor.*`` ones) are added only when ``content`` is true; the caller passes
false for a purged event, so a purge also removes them from later exports.
"""

from __future__ import annotations

from typing import Any

import orjson

from proctor.store import (
    AnswerRefused,
    ApprovalDecided,
    ApprovalExpired,
    ApprovalRequested,
    CacheHit,
    CheckerDecided,
    ContextCompacted,
    CredentialIssued,
    DraftRecorded,
    Escalated,
    EventData,
    LimitReached,
    ModelAttemptFailed,
    ModelCalled,
    ModelRouted,
    PolicyDecided,
    Purged,
    RateLimited,
    RunFinished,
    RunInterrupted,
    RunResumed,
    RunStarted,
    ToolStarted,
    Usage,
    ValuesSeen,
)
from proctor.telemetry._spans import Attributes

OP = "gen_ai.operation.name"

CONTENT_ATTRIBUTES = frozenset(
    {
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.system_instructions",
        "gen_ai.tool.call.arguments",
        "gen_ai.tool.call.result",
        "proctor.credential.resources",
        "proctor.error",
        "proctor.summary",
    }
)
"""Every attribute that carries run content; none is exported unless content is captured."""


ERROR_OUTCOMES = frozenset({"failed", "escalated"})
"""Outcomes whose ``invoke_agent`` span has status ERROR: the task was not done, and a
person must look (``draft_only`` and ``cancelled`` ended as intended)."""


def to_json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def provider_of(model: str) -> str:
    """``gen_ai.provider.name`` of a model spec: Proctor's model clients speak OpenAI's
    API, except Anthropic's (Claude models) and the scripted test double."""
    if model.startswith("scripted"):
        return "proctor.scripted"
    return "anthropic" if model.startswith(("anthropic:", "claude")) else "openai"


def conversation_id(run_id: str, *records: object) -> str:
    """``gen_ai.conversation.id`` of a run: its session (runs grouped as one conversation),
    else the run id, as each run is then a conversation of its own.

    The session is read from the first of ``records`` (the ``run_started`` data, the run's
    ``RunRecord``) that has a non-empty ``session`` (the key the run was started with).
    """
    for record in records:
        session = getattr(record, "session", None)
        if isinstance(session, str) and session:
            return session
    return run_id


_PROVIDER_PREFIXES = ("openai:", "anthropic:")


def priced_model(model: str) -> str:
    """The model name a backend looks up its prices by: the model without the provider
    prefix of a Proctor model spec (``anthropic:claude-...``). Other colons stay
    (``llama3:8b`` is an Ollama model's own name)."""
    for prefix in _PROVIDER_PREFIXES:
        if model.startswith(prefix):
            return model[len(prefix) :]
    return model


def usage(tokens: Usage) -> Attributes:
    attrs: Attributes = {
        "gen_ai.usage.input_tokens": tokens.input_tokens,
        "gen_ai.usage.output_tokens": tokens.output_tokens,
    }
    if tokens.cached_input_tokens:
        attrs["gen_ai.usage.cache_read.input_tokens"] = tokens.cached_input_tokens
    if tokens.cache_write_tokens:
        attrs["gen_ai.usage.cache_creation.input_tokens"] = tokens.cache_write_tokens
    if tokens.reasoning_tokens:
        attrs["gen_ai.usage.reasoning.output_tokens"] = tokens.reasoning_tokens
    return attrs


def call_cost(cost_usd: float | None) -> Attributes:
    """A model call's cost, under the names backends read it by: ``proctor.cost_usd``,
    ``gen_ai.usage.cost`` (Langfuse's total cost) and ``llm.cost.total`` (OpenInference).
    Only on ``chat`` spans: a run's total on its ``invoke_agent`` span would be counted
    twice by backends that add up a trace's spans. No price, no attributes."""
    if cost_usd is None:
        return {}
    return {"proctor.cost_usd": cost_usd, "gen_ai.usage.cost": cost_usd, "llm.cost.total": cost_usd}


def priced_call(model: str, tokens: Usage) -> Attributes:
    """What Arize Phoenix prices a ``chat`` span by (it computes cost itself, from its
    model price table): the answering model's name (``llm.model_name``, which it would
    otherwise take from ``gen_ai.request.model``, the model first asked) and the
    reasoning tokens, which it does not read from ``gen_ai.usage.*``."""
    attrs: Attributes = {"llm.model_name": priced_model(model)}
    if tokens.reasoning_tokens:
        attrs["llm.token_count.completion_details.reasoning"] = tokens.reasoning_tokens
    return attrs


def put(attrs: Attributes, key: str, value: str | float | None) -> None:
    """Set ``key`` unless ``value`` is ``None`` (an attribute cannot be null)."""
    if value is not None:
        attrs[key] = value


def _messages(role: str, parts: list[dict[str, Any]], finish_reason: str | None = None) -> str:
    message: dict[str, Any] = {"role": role, "parts": parts}
    if finish_reason is not None:
        message["finish_reason"] = finish_reason
    return to_json([message])


def run_attributes(
    run_id: str, data: RunStarted, *, conversation: str, content: bool
) -> Attributes:
    """The ``invoke_agent`` span's attributes known at the start."""
    attrs: Attributes = {
        OP: "invoke_agent",
        "gen_ai.agent.name": data.workflow,
        "gen_ai.agent.version": data.contract_version,
        "gen_ai.provider.name": provider_of(data.model),
        "gen_ai.request.model": data.model,
        "gen_ai.conversation.id": conversation,
        "session.id": conversation,
        "proctor.run.id": run_id,
        "proctor.workflow": data.workflow,
        "proctor.contract.name": data.contract_name,
        "proctor.contract.version": data.contract_version,
        "proctor.contract.hash": data.contract_hash,
        "proctor.started_by": data.started_by,
    }
    if data.contract_description:
        attrs["gen_ai.agent.description"] = data.contract_description
    if content:
        # The model's first user message is the input as JSON (see runtime's Transcript).
        attrs["gen_ai.input.messages"] = _messages(
            "user", [{"type": "text", "content": to_json(data.input)}]
        )
        if data.instructions:
            attrs["gen_ai.system_instructions"] = to_json(
                [{"type": "text", "content": data.instructions}]
            )
    return attrs


def finish_attributes(data: RunFinished, *, content: bool) -> Attributes:
    """What the ``invoke_agent`` span learns at the end: outcome and totals."""
    totals = data.totals
    attrs = usage(Usage(input_tokens=totals.input_tokens, output_tokens=totals.output_tokens))
    attrs["proctor.outcome"] = data.outcome
    attrs["proctor.outcome.reason"] = data.reason
    attrs["proctor.tool_calls"] = totals.tool_calls
    attrs["proctor.model_calls"] = totals.model_calls
    attrs["proctor.duration_s"] = totals.duration_s
    put(attrs, "proctor.cost_usd", totals.cost_usd)
    if data.outcome in ERROR_OUTCOMES:
        attrs["error.type"] = data.outcome
    if content and data.final_text:
        attrs["gen_ai.output.messages"] = _messages(
            "assistant", [{"type": "text", "content": data.final_text}], "stop"
        )
    return attrs


def chat_attributes(conversation: str, model: str, tokens: Usage) -> Attributes:
    return {
        OP: "chat",
        "gen_ai.provider.name": provider_of(model),
        "gen_ai.request.model": model,
        "gen_ai.response.model": model,
        "gen_ai.conversation.id": conversation,
        **usage(tokens),
        **priced_call(model, tokens),
    }


def model_call_attributes(data: ModelCalled, route: str, *, content: bool) -> Attributes:
    """A ``chat`` span's attributes beyond ``chat_attributes``."""
    attrs: Attributes = {
        "gen_ai.response.finish_reasons": [data.finish_reason],
        "proctor.turn": data.turn,
        "proctor.route": route,
        "proctor.cache_hit": data.cache_hit,
        "proctor.tool_call_count": data.tool_call_count,
        **call_cost(data.cost_usd),
    }
    put(attrs, "gen_ai.response.id", data.response_id)
    put(attrs, "gen_ai.request.max_tokens", data.max_tokens)
    put(attrs, "gen_ai.request.temperature", data.temperature)
    if content:
        parts: list[dict[str, Any]] = []
        if data.text:
            parts.append({"type": "text", "content": data.text})
        parts.extend(
            {"type": "tool_call", "id": c.id, "name": c.name, "arguments": c.arguments}
            for c in data.tool_calls
        )
        attrs["gen_ai.output.messages"] = _messages("assistant", parts, data.finish_reason)
    return attrs


def tool_attributes(call_id: str, tool: str, description: str | None) -> Attributes:
    attrs: Attributes = {
        OP: "execute_tool",
        "gen_ai.tool.name": tool,
        "gen_ai.tool.call.id": call_id,
        "gen_ai.tool.type": "function",
    }
    if description:
        attrs["gen_ai.tool.description"] = description
    return attrs


GUARDRAIL = "proctor.policy"
"""``gen_ai.guardrail.component.name`` of the guardrail spans: the contract's policy."""
_VERDICTS = {"allow": "allow", "deny": "deny", "require_approval": "escalate"}
_ACTIONS = {"allow": "allow", "deny": "block", "require_approval": "escalate"}


def guardrail_attributes(
    data: PolicyDecided | AnswerRefused, *, policy: str, conversation: str
) -> Attributes:
    """A ``run_guardrail`` span's attributes (the GenAI conventions' guardrail run): a
    policy decision on a proposed tool call (its input), or a refusal of the final answer
    (the model's output). The verdict is the decision; the action is what the run did."""
    attrs: Attributes = {
        OP: "run_guardrail",
        "gen_ai.guardrail.component.name": GUARDRAIL,
        "gen_ai.guardrail.security.policy.id": policy,
        "gen_ai.guardrail.security.policy.rule.id": data.rule,
        "gen_ai.conversation.id": conversation,
    }
    if isinstance(data, PolicyDecided):
        attrs["gen_ai.guardrail.target.type"] = "input"
        attrs["gen_ai.guardrail.target.subtype"] = "tool_call"
        attrs["gen_ai.guardrail.target.id"] = data.call_id
        attrs["gen_ai.guardrail.verdict.type"] = _VERDICTS[data.decision]
        attrs["gen_ai.guardrail.action.type"] = _ACTIONS[data.decision]
        if data.decision != "allow":
            attrs["gen_ai.guardrail.verdict.reason"] = data.reason
    else:  # the final answer went back to the model, or ended the run
        attrs["gen_ai.guardrail.target.type"] = "output"
        attrs["gen_ai.guardrail.target.subtype"] = "llm"
        attrs["gen_ai.guardrail.verdict.type"] = "deny"
        attrs["gen_ai.guardrail.action.type"] = "block"
        attrs["gen_ai.guardrail.verdict.reason"] = data.reason
    return attrs


def span_event(data: EventData, *, content: bool) -> tuple[str, Attributes]:
    """The span event that records ``data``: its name and attributes."""
    attrs: Attributes
    match data:
        case PolicyDecided():
            attrs = {"proctor.decision": data.decision, "proctor.rule": data.rule}
            attrs["proctor.reason"] = data.reason
        case ApprovalRequested():
            attrs = {"proctor.approval.id": data.approval_id, "proctor.approval.by": data.by}
            attrs |= {"proctor.rule": data.rule, "proctor.reason": data.reason}
            put(attrs, "proctor.approval.expires_at", data.expires_at)
        case ApprovalDecided():
            attrs = {"proctor.approval.id": data.approval_id}
            attrs["proctor.approval.approved"] = data.approved
            attrs["proctor.approval.decided_by"] = data.decided_by
            if data.reason:
                attrs["proctor.reason"] = data.reason
        case CheckerDecided():
            attrs = {"proctor.approval.id": data.approval_id}
            attrs |= {"proctor.approval.approved": data.approved, "proctor.reason": data.reason}
            attrs |= {"proctor.checker.valid": data.valid, "proctor.checker.model": data.model}
        case ApprovalExpired():
            attrs = {"proctor.approval.id": data.approval_id}
        case AnswerRefused():
            attrs = {"proctor.rule": data.rule, "proctor.reason": data.reason}
        case ValuesSeen():
            attrs = {"proctor.values.source": data.source}
            attrs["proctor.values.fingerprints"] = len(data.trusted) + len(data.untrusted)
        case Purged():
            attrs = {"proctor.purged.events": data.events, "proctor.purged.bytes": data.bytes}
            attrs["proctor.reason"] = data.reason
        case CredentialIssued():
            attrs = {"proctor.credential.jti": data.jti, "proctor.credential.actions": data.actions}
            attrs["proctor.credential.expires_at"] = data.expires_at
            if content and data.resources:
                attrs["proctor.credential.resources"] = list(data.resources)
        case ToolStarted():
            attrs = {
                "proctor.attempt": data.attempt,
                "proctor.idempotency_key": data.idempotency_key,
            }
        case DraftRecorded():
            attrs = {}
        case RunResumed() | RunInterrupted():
            attrs = {"proctor.reason": data.reason, "proctor.pid": data.pid}
        case LimitReached():
            attrs = {"proctor.limit": data.limit, "proctor.limit.value": data.value}
            attrs |= {"proctor.limit.ceiling": data.ceiling, "proctor.rule": data.rule}
            attrs["proctor.reason"] = data.reason
        case Escalated():
            attrs = {
                "proctor.escalation.trigger": data.trigger,
                "proctor.escalation.mode": data.mode,
            }
            attrs |= {"proctor.rule": data.rule, "proctor.reason": data.reason}
        case ModelRouted():
            attrs = {"proctor.route.to": data.to_route, "proctor.route.trigger": data.trigger}
            attrs["proctor.reason"] = data.reason
            put(attrs, "proctor.route.from", data.from_route)
        case ModelAttemptFailed():
            attrs = {"proctor.deployment": data.deployment, "gen_ai.request.model": data.model}
            attrs |= {"proctor.attempt": data.attempt, "proctor.failure.kind": data.kind}
            attrs |= {"proctor.failure.action": data.action, "proctor.latency_ms": data.latency_ms}
            put(attrs, "proctor.http.status", data.status)
            put(attrs, "proctor.next_deployment", data.next_deployment)
            if content and data.error:
                attrs["proctor.error"] = data.error
        case RateLimited():
            attrs = {"proctor.rate_limit.scope": data.scope, "proctor.rate_limit.limit": data.limit}
            attrs["proctor.rate_limit.waited_ms"] = data.waited_ms
            attrs["proctor.rate_limit.outcome"] = data.outcome
        case CacheHit():
            attrs = {"proctor.cache.kind": data.kind, "proctor.cache.name": data.name}
            put(attrs, "proctor.cache.cost_saved_usd", data.cost_saved_usd)
            if data.tokens_saved:
                attrs["proctor.cache.tokens_saved"] = data.tokens_saved
        case ContextCompacted():
            attrs = {"proctor.tokens_before": data.tokens_before}
            attrs |= {
                "proctor.tokens_after": data.tokens_after,
                "proctor.estimated": data.estimated,
            }
            attrs["proctor.turns_summarized"] = data.turns_summarized
            attrs["proctor.results_replaced"] = data.results_replaced
            put(attrs, "gen_ai.request.model", data.model)
            put(attrs, "proctor.cost_usd", data.cost_usd)
            if data.usage is not None:
                attrs |= usage(data.usage)
            if content and data.summary:
                attrs["proctor.summary"] = data.summary
        case _:  # spans of their own, not span events
            attrs = {}
    return "proctor." + data.type, attrs
