"""The API's request and response bodies (pydantic), so ``/docs`` shows every schema.

Times are ISO 8601 in UTC with milliseconds (``2026-11-24T09:30:00.123Z``); money is USD.
Request bodies refuse unknown fields, so a misspelt field is an error, not ignored.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from proctor.errors import UsageError
from proctor.server._keys import Role
from proctor.store import (
    ApiKeyRecord,
    ApprovalRecord,
    EvalResultRecord,
    EventRow,
    Outcome,
    QueueItem,
    RunRecord,
    RunStatus,
    approval_document,
    check_session_key,
    eval_result_document,
    event_document,
    json_value_problem,
    key_document,
    queued_run_document,
    run_document,
)

ApprovalStatus = Literal["pending", "approved", "denied", "expired"]


class _Request(BaseModel):
    """A request body: unknown fields refused, and every string text the store can keep
    (no NUL, which PostgreSQL's text refuses; no lone surrogate, which is not Unicode)."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*")
    @classmethod
    def _plain_text(cls, value: Any) -> Any:
        if isinstance(value, str):
            if "\x00" in value:
                raise ValueError("holds a NUL character, which no name or reason has")
            problem = json_value_problem(value, where="the text")
            if problem is not None:
                raise ValueError(problem)
        return value


# Errors ---------------------------------------------------------------------------------


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable machine-readable code, e.g. not_found.")
    message: str = Field(description="What went wrong and how to fix it.")


class ErrorBody(BaseModel):
    """Every error answer: ``{"error": {"code": ..., "message": ...}}``."""

    error: ErrorDetail


# Runs -----------------------------------------------------------------------------------


class StartRun(_Request):
    workflow: str = Field(
        min_length=1,
        max_length=200,
        description="The name of a workflow this server runs: registered (e.g. "
        "invoice_reconciliation) or configured by its operator (proctor serve --workflow).",
    )
    input: dict[str, Any] = Field(
        description="The run's input, a JSON object (integers within 64 bits, finite "
        "numbers, valid Unicode)."
    )
    model: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Model spec, e.g. openai:gpt-4o-mini; default: the workflow's.",
    )
    session: str | None = Field(
        default=None,
        description="A session key the runs of one conversation share: 1 to 128 letters, "
        "digits and . _ : + = - (an opaque id, not personal data). List them with "
        "GET /api/v1/runs?session=KEY&sort=started.",
    )

    @field_validator("session")
    @classmethod
    def _session_key(cls, value: str | None) -> str | None:
        try:
            return None if value is None else check_session_key(value)
        except UsageError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("input")
    @classmethod
    def _recordable(cls, value: dict[str, Any]) -> dict[str, Any]:
        # Refused here, as Runner.start would refuse it, before a run is started for it.
        problem = json_value_problem(value, where="input")
        if problem is not None:
            raise ValueError(f"the run's input cannot be recorded: {problem}")
        return value


class RunTotals(BaseModel):
    tool_calls: int
    model_calls: int
    input_tokens: int
    output_tokens: int
    tokens: int
    cost_usd: float | None = Field(description="None when a model call was not priced.")
    duration_s: float


ApiRunStatus = RunStatus | Literal["queued"]
"""A run's status as the API tells it: ``queued`` is a run in the run queue that no
worker has started yet (``proctor serve --enqueue``); it has no record or events yet."""


class RunSummary(BaseModel):
    run_id: str
    workflow: str
    status: ApiRunStatus = Field(
        description="running, awaiting_approval or finished; queued while a run started "
        "through the queue (proctor serve --enqueue) waits for a worker: then the "
        "contract fields are empty and the totals zero, until a worker starts it."
    )
    outcome: Outcome | None
    model: str
    contract_name: str
    contract_hash: str
    contract_version: str | None = Field(description="The contract's version label.")
    tenant: str
    started_by: str
    session: str | None = Field(
        description="The session key the run was started with (runs of one conversation)."
    )
    trace_id: str | None = Field(
        description="The run's OpenTelemetry trace id (32 hex digits), as its exported "
        "spans carry it; null while the run is queued."
    )
    started_at: str
    updated_at: str | None
    finished_at: str | None
    totals: RunTotals
    pending_approval: str | None = Field(
        description="The approval the run waits for, when awaiting_approval."
    )

    @classmethod
    def of(
        cls, run: RunRecord, *, version: str | None, pending_approval: str | None = None
    ) -> RunSummary:
        return cls.model_validate(
            run_document(run, version=version, pending_approval=pending_approval)
        )

    @classmethod
    def queued(cls, item: QueueItem) -> RunSummary:
        """A run waiting in the run queue (``queued_run_document``)."""
        return cls.model_validate(queued_run_document(item))


class ListTotals(BaseModel):
    """What the runs the list's filters match add up to (all pages, not only this one):
    the newest 10,000 of them at most."""

    capped: bool = Field(
        description="More runs match than were added up: the figures are the newest runs' "
        "(narrow the filters, e.g. since=, for totals of them all)."
    )
    runs: int
    cost_usd: float = Field(description="The sum of the known costs.")
    cost_unknown: int = Field(description="Runs whose cost is unknown (not in cost_usd).")
    input_tokens: int
    output_tokens: int
    tokens: int


class RunPage(BaseModel):
    runs: list[RunSummary]
    next_cursor: str | None = Field(
        description="Pass as cursor= for the next page; null on the last page."
    )
    totals: ListTotals | None = Field(
        default=None, description="With totals=true: what all the matching runs add up to."
    )


class EventOut(BaseModel):
    seq: int
    type: str
    ts: str
    span_id: str
    parent_span_id: str | None
    meta: dict[str, Any]
    content: dict[str, Any] | None = Field(
        description="The event's payload as stored (redacted); null once retention purged it."
    )
    hash: str

    @classmethod
    def of(cls, row: EventRow) -> EventOut:
        return cls.model_validate(event_document(row))


class EventPage(BaseModel):
    events: list[EventOut]
    next_after: int | None = Field(
        description="Pass as after= for the next page; null when no more events are stored."
    )


# Approvals ------------------------------------------------------------------------------


class ApprovalOut(BaseModel):
    approval_id: str
    run_id: str
    call_id: str
    tool: str
    arguments: dict[str, Any] = Field(description="The exact arguments to approve (redacted).")
    args_digest: str
    rule: str
    reason: str
    status: str
    approver: str = Field(description="Who decides: human, checker or checker_then_human.")
    requested_at: str
    expires_at: str | None
    decided_at: str | None
    decided_by: str | None
    decision_reason: str | None

    @classmethod
    def of(cls, approval: ApprovalRecord) -> ApprovalOut:
        return cls.model_validate(approval_document(approval))


class ApprovalList(BaseModel):
    approvals: list[ApprovalOut]
    next_cursor: str | None = Field(
        default=None, description="Pass as cursor= for the next page; null on the last page."
    )


class Approve(_Request):
    reason: str = Field(
        default="", max_length=4000, description="Why (optional), recorded in the run's log."
    )


class Deny(_Request):
    reason: str = Field(
        max_length=4000, description="Why (required, non-blank), recorded in the run's log."
    )


# Reports --------------------------------------------------------------------------------


class ReportRowOut(BaseModel):
    key: str
    runs: int
    finished: int
    resolved: int
    escalated: int
    failed: int
    draft_only: int
    cost_usd: float
    cost_per_resolved: float | None
    escalation_rate: float | None
    resolved_rate: float | None
    tool_calls_per_run: float | None
    latency_p50_s: float | None
    latency_p90_s: float | None
    latency_p99_s: float | None


class EscalationCount(BaseModel):
    trigger: str
    count: int


class ToolCallCount(BaseModel):
    tool_calls: int = Field(description="Tool calls in a run.")
    runs: int = Field(description="Finished runs with that many tool calls.")


class SeriesPointOut(BaseModel):
    start: str = Field(description="The hour's or UTC day's start.")
    label: str = Field(description="As the chart's axis writes it: 14:00, or 12-03.")
    runs: int
    finished: int
    resolved: int
    escalated: int = Field(description="Escalated or draft-only.")
    failed: int
    cost_usd: float
    cost_per_resolved: float | None


class ReportOut(BaseModel):
    since: str
    until: str
    group_by: Literal["workflow", "model", "version", "day"]
    workflow: str | None
    total: ReportRowOut
    rows: list[ReportRowOut]
    days: list[ReportRowOut] = Field(description="One row per UTC day with runs, oldest first.")
    escalations: list[EscalationCount] = Field(description="By trigger, most first.")
    tool_calls: list[ToolCallCount] = Field(description="Distribution, ascending.")
    series_unit: Literal["hour", "day"] = Field(
        description="hour for a window of a day or less, else day."
    )
    series: list[SeriesPointOut] = Field(
        description="Every hour or UTC day of the window, oldest first, the empty ones zero; "
        "counted by the store in one aggregate query."
    )


# Eval results ---------------------------------------------------------------------------


class EvalSummary(BaseModel):
    result_id: str
    suite: str
    workflow: str
    created_at: str
    cases: int
    passed: int
    failed: int
    model: str | None
    contract_hash: str | None

    @classmethod
    def fields_of(cls, record: EvalResultRecord) -> dict[str, Any]:
        return eval_result_document(record)

    @classmethod
    def of(cls, record: EvalResultRecord) -> EvalSummary:
        return cls(**cls.fields_of(record))


class EvalList(BaseModel):
    results: list[EvalSummary]


class EvalDetail(EvalSummary):
    body: dict[str, Any] = Field(description="The suite result (SuiteResult) as stored.")

    @classmethod
    def of(cls, record: EvalResultRecord) -> EvalDetail:
        body = json.loads(record.body or "{}")
        return cls(**cls.fields_of(record), body=body if isinstance(body, dict) else {})


# API keys -------------------------------------------------------------------------------


class KeyOut(BaseModel):
    key_id: str
    name: str
    holder: str = Field(description="The person or service the key belongs to (its identity).")
    role: str
    tenant: str
    created_at: str
    revoked_at: str | None

    @classmethod
    def fields_of(cls, record: ApiKeyRecord) -> dict[str, Any]:
        return key_document(record)

    @classmethod
    def of(cls, record: ApiKeyRecord) -> KeyOut:
        return cls(**cls.fields_of(record))


class KeyList(BaseModel):
    keys: list[KeyOut]


class KeyCreated(KeyOut):
    key: str = Field(description="The key itself: shown this once, never stored. Keep it now.")


class CreateKey(_Request):
    role: Role
    name: str | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="The key's label (default: its id).",
    )
    holder: str | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="The person or service the key belongs to, whose identity runs and "
        "decisions record and separation of duties compares (default: you, the admin "
        "creating it: a key you mint for yourself is still you).",
    )


class Me(BaseModel):
    key_id: str
    name: str
    holder: str
    role: str
    tenant: str
