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
    check_session_key,
    iso_or_none,
    iso_time,
    json_value_problem,
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
        return cls(
            run_id=run.run_id,
            workflow=run.workflow,
            status=run.status,
            outcome=run.outcome,
            model=run.model,
            contract_name=run.contract_name,
            contract_hash=run.contract_hash,
            contract_version=version,
            tenant=run.tenant,
            started_by=run.started_by,
            session=run.session,
            started_at=iso_time(run.started_at),
            updated_at=iso_time(run.updated_at) if run.updated_at else None,
            finished_at=iso_or_none(run.finished_at),
            totals=RunTotals(
                tool_calls=run.tool_calls,
                model_calls=run.model_calls,
                input_tokens=run.input_tokens,
                output_tokens=run.output_tokens,
                tokens=run.input_tokens + run.output_tokens,
                cost_usd=run.cost_usd,
                duration_s=run.duration_s,
            ),
            pending_approval=pending_approval,
        )

    @classmethod
    def queued(cls, item: QueueItem) -> RunSummary:
        """A run waiting in the run queue: what is known before a worker starts it (the
        worker picks the contract, and the model when none was asked for)."""
        return cls(
            run_id=item.run_id,
            workflow=item.workflow,
            status="queued",
            outcome=None,
            model=item.model or "",
            contract_name="",
            contract_hash="",
            contract_version=None,
            tenant=item.tenant,
            session=item.session,
            started_by=item.submitted_by,
            started_at=iso_time(item.submitted_at),
            updated_at=None,
            finished_at=None,
            totals=RunTotals(
                tool_calls=0,
                model_calls=0,
                input_tokens=0,
                output_tokens=0,
                tokens=0,
                cost_usd=0.0,
                duration_s=0.0,
            ),
            pending_approval=None,
        )


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
        return cls(
            seq=row.seq,
            type=row.type,
            ts=iso_time(row.ts),
            span_id=row.span_id,
            parent_span_id=row.parent_span_id,
            meta=row.meta,
            content=row.content,
            hash=row.hash,
        )


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
        return cls(
            approval_id=approval.approval_id,
            run_id=approval.run_id,
            call_id=approval.call_id,
            tool=approval.tool,
            arguments=approval.arguments,
            args_digest=approval.args_digest,
            rule=approval.rule,
            reason=approval.reason,
            status=approval.status,
            approver=approval.approver,
            requested_at=iso_time(approval.requested_at),
            expires_at=iso_or_none(approval.expires_at),
            decided_at=iso_or_none(approval.decided_at),
            decided_by=approval.decided_by,
            decision_reason=approval.decision_reason,
        )


class ApprovalList(BaseModel):
    approvals: list[ApprovalOut]


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
        return {
            "result_id": record.result_id,
            "suite": record.suite,
            "workflow": record.workflow,
            "created_at": iso_time(record.created_at),
            "cases": record.cases,
            "passed": record.passed,
            "failed": record.failed,
            "model": record.model,
            "contract_hash": record.contract_hash,
        }

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
        return {
            "key_id": record.key_id,
            "name": record.name,
            "holder": record.identity,
            "role": record.role,
            "tenant": record.tenant,
            "created_at": iso_time(record.created_at),
            "revoked_at": iso_or_none(record.revoked_at),
        }

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
