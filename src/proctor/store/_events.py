"""The closed set of event types a run's log is made of.

An ``Event`` is an envelope (run id, sequence number, time, trace and span ids, chain
hashes) around typed ``data``. Each data class names its *content* fields: inputs,
outputs and arguments, which retention may purge. Everything else is *metadata* and is
hashed directly, so figures, decisions and the chain survive a purge (the content is
covered by its digest). Content fields therefore always have a default.

New capabilities add new event types; they never change old ones, so a stored log stays
readable by every later version.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    TypeAdapter,
    model_serializer,
    model_validator,
)

Outcome = Literal["resolved", "escalated", "failed", "draft_only", "cancelled"]
RunStatus = Literal["running", "awaiting_approval", "finished"]
DecisionKind = Literal["allow", "deny", "require_approval"]
EscalationMode = Literal["handoff", "draft_only"]
EscalationTrigger = Literal[
    "budget_exceeded", "policy_violation", "tool_error", "model_error", "approval_expired"
]
Approver = Literal["human", "checker", "checker_then_human"]


class _Data(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)
    content_fields: ClassVar[frozenset[str]] = frozenset()


class Usage(BaseModel):
    """Tokens of one model call (or a sum of them)."""

    model_config = ConfigDict(frozen=True, defer_build=True)
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    """Of the input tokens, those the provider served from its prompt cache."""
    cache_write_tokens: int = 0
    """Of the input tokens, those the provider wrote to its prompt cache (Anthropic's
    ``cache_creation_input_tokens``), billed at the cache-write rate."""
    reasoning_tokens: int = 0
    """Of the output tokens, those the model spent reasoning (billed as output)."""

    @property
    def total(self) -> int:
        return self.input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cached_input_tokens=self.cached_input_tokens + other.cached_input_tokens,
            cache_write_tokens=self.cache_write_tokens + other.cache_write_tokens,
            reasoning_tokens=self.reasoning_tokens + other.reasoning_tokens,
        )


class RecordedToolCall(BaseModel):
    """A tool call as the model proposed it."""

    model_config = ConfigDict(frozen=True, defer_build=True)
    id: str
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    # Set when the model sent arguments that are not a JSON object.
    raw_arguments: str | None = None


class Totals(BaseModel):
    """What a run consumed, as recorded on ``run_finished``."""

    model_config = ConfigDict(frozen=True, defer_build=True)
    tool_calls: int = 0
    model_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = 0.0
    duration_s: float = 0.0


class RunStarted(_Data):
    type: Literal["run_started"] = "run_started"
    content_fields = frozenset({"input", "instructions"})
    workflow: str
    model: str
    contract_name: str
    contract_version: str
    contract_hash: str
    contract_description: str = ""
    """The contract's ``description`` (OpenTelemetry's ``gen_ai.agent.description``)."""
    tool_descriptions: dict[str, str] = Field(default_factory=dict)
    """Each registered tool's description, by name, as the run began (logs written before
    this field have none)."""
    started_by: str = "cli"
    tenant: str = "default"
    """Who may see the run (the run record's ``tenant`` is checked against this)."""
    workflow_ref: str = ""
    """How the workflow is found on resume (checked against the run record's)."""
    session: str | None = None
    """The session key the run was started with (checked against the run record's).
    Left out of the record when there is none, so such a run's metadata is as before."""
    input: dict[str, Any] = Field(default_factory=dict)
    instructions: str = ""

    @model_serializer(mode="wrap")
    def _without_empty_session(self, handler: SerializerFunctionWrapHandler) -> Any:
        dumped = handler(self)
        if isinstance(dumped, dict) and dumped.get("session", "") is None:
            del dumped["session"]
        return dumped


class RunResumed(_Data):
    type: Literal["run_resumed"] = "run_resumed"
    reason: str
    pid: int


class RunInterrupted(_Data):
    """The process driving the run stopped it (Ctrl-C, a server shutting down) and
    recorded where: the run stays ``running`` until ``proctor resume`` continues it.
    Events sealed but not written when it stopped are not in the log, as after a crash."""

    type: Literal["run_interrupted"] = "run_interrupted"
    reason: str
    pid: int


class ModelCalled(_Data):
    type: Literal["model_called"] = "model_called"
    content_fields = frozenset({"text", "tool_calls"})
    model: str
    turn: int
    messages_digest: str
    usage: Usage
    cost_usd: float | None
    latency_ms: float
    cache_hit: bool = False
    finish_reason: str = "stop"
    tool_call_count: int = 0
    response_id: str | None = None
    """The provider's id of the answer (``chatcmpl-...``, ``msg_...``), when it sent one."""
    max_tokens: int | None = None
    """The call's ``max_tokens``, when the contract set one (else the client's default)."""
    temperature: float | None = None
    """The call's temperature, when the contract set one."""
    text: str | None = None
    tool_calls: list[RecordedToolCall] = Field(default_factory=list)


class ToolProposed(_Data):
    type: Literal["tool_proposed"] = "tool_proposed"
    content_fields = frozenset({"arguments", "raw_arguments"})
    call_id: str
    step: int
    tool: str
    args_digest: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    raw_arguments: str | None = None


class PolicyDecided(_Data):
    type: Literal["policy_decided"] = "policy_decided"
    call_id: str
    tool: str
    decision: DecisionKind
    rule: str
    reason: str
    invalid_arguments: bool = False
    """The call's arguments did not fit its tool's schema: the model's mistake, which it
    may correct, rather than a refusal by policy."""

    @model_validator(mode="before")
    @classmethod
    def _before_invalid_arguments(cls, data: Any) -> Any:
        # Logs written before the field existed say it only through the rule's id.
        if isinstance(data, dict) and "invalid_arguments" not in data:
            return {**data, "invalid_arguments": data.get("rule") == "schema.invalid_arguments"}
        return data


class ApprovalRequested(_Data):
    type: Literal["approval_requested"] = "approval_requested"
    content_fields = frozenset({"arguments"})
    approval_id: str
    call_id: str
    tool: str
    args_digest: str
    rule: str
    reason: str
    by: Approver = "human"
    expires_at: float | None = None
    """After this (epoch seconds) the approval can no longer be granted; the run escalates."""
    arguments: dict[str, Any] = Field(default_factory=dict)


class ApprovalDecided(_Data):
    type: Literal["approval_decided"] = "approval_decided"
    approval_id: str
    call_id: str
    approved: bool
    decided_by: str
    reason: str = ""


class ToolStarted(_Data):
    type: Literal["tool_started"] = "tool_started"
    call_id: str
    tool: str
    idempotency_key: str
    attempt: int = 1


class ToolFinished(_Data):
    type: Literal["tool_finished"] = "tool_finished"
    content_fields = frozenset({"result", "error"})
    call_id: str
    tool: str
    ok: bool
    latency_ms: float
    error_type: str | None = None
    result: Any = None
    error: str | None = None


class DraftRecorded(_Data):
    type: Literal["draft_recorded"] = "draft_recorded"
    content_fields = frozenset({"arguments"})
    call_id: str
    tool: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class LimitReached(_Data):
    type: Literal["limit_reached"] = "limit_reached"
    limit: str
    value: float
    ceiling: float
    rule: str
    reason: str


class Escalated(_Data):
    type: Literal["escalated"] = "escalated"
    trigger: EscalationTrigger
    mode: EscalationMode
    rule: str
    reason: str


class RunFinished(_Data):
    type: Literal["run_finished"] = "run_finished"
    content_fields = frozenset({"final_text"})
    outcome: Outcome
    reason: str
    totals: Totals
    final_text: str | None = None


class ModelRouted(_Data):
    """The run moved to another route for its next turns (cheap-first escalation)."""

    type: Literal["model_routed"] = "model_routed"
    from_route: str | None
    to_route: str
    trigger: str
    reason: str


class ModelAttemptFailed(_Data):
    """One failed attempt at a deployment, and what the gateway did next."""

    type: Literal["model_attempt_failed"] = "model_attempt_failed"
    content_fields = frozenset({"error"})
    deployment: str
    model: str
    attempt: int
    kind: str
    action: Literal["retry", "fallback", "give_up", "skipped"]
    status: int | None = None
    retry_after_s: float | None = None
    backoff_s: float | None = None
    latency_ms: float = 0.0
    next_deployment: str | None = None
    error: str = ""


class CacheHit(_Data):
    """A model response or tool result served from the cache, and what that saved."""

    type: Literal["cache_hit"] = "cache_hit"
    kind: Literal["response", "tool"]
    name: str
    key: str
    cost_saved_usd: float | None = None
    tokens_saved: int = 0


class RateLimited(_Data):
    """A call waited for (or was refused) capacity under a rate limit."""

    type: Literal["rate_limited"] = "rate_limited"
    scope: str
    limit: str
    waited_ms: float
    outcome: Literal["waited", "refused"]


class ContextCompacted(_Data):
    """Older turns were summarised or shortened to keep the prompt under its budget."""

    type: Literal["context_compacted"] = "context_compacted"
    content_fields = frozenset({"summary"})
    tokens_before: int
    tokens_after: int
    estimated: bool
    turns_summarized: int = 0
    results_replaced: int = 0
    model: str | None = None
    usage: Usage | None = None
    """Tokens of the summarising call (its cost counts toward the run's budget)."""
    cost_usd: float | None = None
    through_turn: int = 0
    """Model turns up to this one are replaced by ``summary`` (0: none)."""
    replaced_calls: list[str] = Field(default_factory=list)
    """Tool results shortened to a reference the model can expand."""
    summary: str | None = None


class CredentialIssued(_Data):
    """A scoped, short-lived credential was issued for one call (never the token itself).

    ``resources`` are templated from the run input, so they are content (purgeable).
    """

    type: Literal["credential_issued"] = "credential_issued"
    content_fields = frozenset({"resources"})
    call_id: str
    tool: str
    jti: str
    """The token's unique id: a system that saw the token can match it to this event."""
    actions: list[str]
    limits: dict[str, float] = Field(default_factory=dict)
    issued_at: float
    expires_at: float
    resources: list[str] = Field(default_factory=list)


class CheckerDecided(_Data):
    """The checker model's verdict on a pending approval, and what its call cost.

    With ``by: checker`` an ``approval_decided`` follows at once; with
    ``checker_then_human`` a denial does, and an approval leaves the call to a person.
    """

    type: Literal["checker_decided"] = "checker_decided"
    approval_id: str
    call_id: str
    model: str
    approved: bool
    valid: bool
    """``False``: the answer was not a valid verdict, so it counts as a denial."""
    reason: str
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float | None = None
    latency_ms: float = 0.0


class ApprovalExpired(_Data):
    """Nobody decided a pending approval in time: it can no longer be granted."""

    type: Literal["approval_expired"] = "approval_expired"
    approval_id: str
    call_id: str
    expired_at: float


class ValuesSeen(_Data):
    """Keyed fingerprints of the values a source gave the run that redaction kept out of
    the record (an e-mail address, an IBAN), so policy still knows where such a value came
    from after a resume. Each is 16 hex characters of a keyed BLAKE2b of one normalised
    piece; without the key they reveal nothing."""

    type: Literal["values_seen"] = "values_seen"
    source: str
    """``input``, or the tool whose result held the values."""
    call_id: str | None = None
    trusted: list[str] = Field(default_factory=list)
    untrusted: list[str] = Field(default_factory=list)


class AnswerRefused(_Data):
    """The model's final answer met one of the contract's ``final:`` checks: it does not
    stand, and the model is told why and answers again."""

    type: Literal["answer_refused"] = "answer_refused"
    rule: str
    reason: str


class Purged(_Data):
    """Retention removed the run's payloads (content and approval arguments) before this
    event: the chained record that makes each empty payload before it legitimate."""

    type: Literal["purged"] = "purged"
    events: int
    """Events whose content was removed."""
    bytes: int
    reason: str


EventData = Annotated[
    RunStarted
    | RunResumed
    | RunInterrupted
    | ModelCalled
    | ToolProposed
    | PolicyDecided
    | ApprovalRequested
    | ApprovalDecided
    | ToolStarted
    | ToolFinished
    | DraftRecorded
    | LimitReached
    | Escalated
    | RunFinished
    | ModelRouted
    | ModelAttemptFailed
    | CacheHit
    | RateLimited
    | ContextCompacted
    | CredentialIssued
    | CheckerDecided
    | ApprovalExpired
    | AnswerRefused
    | ValuesSeen
    | Purged,
    Field(discriminator="type"),
]
# Built on first use, as the models are: a command that never reads an event (proctor runs)
# does not pay for the validators.
EVENT_DATA_ADAPTER: TypeAdapter[EventData] = TypeAdapter(
    EventData, config=ConfigDict(defer_build=True)
)
EVENT_TYPES: tuple[type[_Data], ...] = (
    RunStarted,
    RunResumed,
    RunInterrupted,
    ModelCalled,
    ToolProposed,
    PolicyDecided,
    ApprovalRequested,
    ApprovalDecided,
    ToolStarted,
    ToolFinished,
    DraftRecorded,
    LimitReached,
    Escalated,
    RunFinished,
    ModelRouted,
    ModelAttemptFailed,
    CacheHit,
    RateLimited,
    ContextCompacted,
    CredentialIssued,
    CheckerDecided,
    ApprovalExpired,
    AnswerRefused,
    ValuesSeen,
    Purged,
)


@dataclass(kw_only=True, slots=True, unsafe_hash=True)
class Event:
    """One entry of a run's log: the envelope and its typed data. Never changed once made.

    (Not ``frozen``: a frozen dataclass costs three times as much to build, and the loop
    builds five of these per step; it hashes by its fields all the same.)
    """

    run_id: str
    seq: int
    ts: float
    trace_id: str
    span_id: str
    parent_span_id: str | None
    data: EventData
    prev_hash: str
    hash: str
    purged: bool = False

    @property
    def type(self) -> str:
        return self.data.type


def split_data(data: _Data) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split event data into (metadata, content) as JSON-ready dicts."""
    dumped = data.model_dump(mode="json")
    content = {k: dumped.pop(k) for k in data.content_fields}
    return dumped, content


def join_data(meta: dict[str, Any], content: dict[str, Any] | None) -> EventData:
    """Rebuild typed data from stored metadata and (possibly purged) content."""
    merged = dict(meta) if content is None else {**meta, **content}
    return EVENT_DATA_ADAPTER.validate_python(merged)
