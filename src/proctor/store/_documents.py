"""Records as JSON documents, one shape for the HTTP API and ``proctor ... --json``.

A script that reads ``proctor runs --json`` reads ``GET /api/v1/runs`` the same way: the
same keys, times in ISO 8601 (UTC, milliseconds), money in USD.
"""

from __future__ import annotations

from typing import Any

from proctor.store._records import (
    ApiKeyRecord,
    ApprovalRecord,
    EvalResultRecord,
    EventRow,
    QueueItem,
    RunRecord,
)
from proctor.store._times import iso_or_none, iso_time


def run_document(
    run: RunRecord, *, version: str | None = None, pending_approval: str | None = None
) -> dict[str, Any]:
    """A run as the API shows it: ``version`` is its contract version's label,
    ``pending_approval`` the approval it waits for (when ``awaiting_approval``)."""
    return {
        "run_id": run.run_id,
        "workflow": run.workflow,
        "status": run.status,
        "outcome": run.outcome,
        "model": run.model,
        "contract_name": run.contract_name,
        "contract_hash": run.contract_hash,
        "contract_version": version,
        "tenant": run.tenant,
        "started_by": run.started_by,
        "session": run.session,
        "trace_id": run.trace_id,
        "started_at": iso_time(run.started_at),
        "updated_at": iso_time(run.updated_at) if run.updated_at else None,
        "finished_at": iso_or_none(run.finished_at),
        "totals": {
            "tool_calls": run.tool_calls,
            "model_calls": run.model_calls,
            "input_tokens": run.input_tokens,
            "output_tokens": run.output_tokens,
            "tokens": run.input_tokens + run.output_tokens,
            "cost_usd": run.cost_usd,
            "duration_s": run.duration_s,
        },
        "pending_approval": pending_approval if run.status == "awaiting_approval" else None,
    }


def queued_run_document(item: QueueItem) -> dict[str, Any]:
    """A run waiting in the run queue: what is known before a worker starts it (the
    worker picks the contract, and the model when none was asked for)."""
    return {
        "run_id": item.run_id,
        "workflow": item.workflow,
        "status": "queued",
        "outcome": None,
        "model": item.model or "",
        "contract_name": "",
        "contract_hash": "",
        "contract_version": None,
        "tenant": item.tenant,
        "started_by": item.submitted_by,
        "session": item.session,
        "trace_id": None,
        "started_at": iso_time(item.submitted_at),
        "updated_at": None,
        "finished_at": None,
        "totals": dict.fromkeys(
            ("tool_calls", "model_calls", "input_tokens", "output_tokens", "tokens"), 0
        )
        | {"cost_usd": 0.0, "duration_s": 0.0},
        "pending_approval": None,
    }


def event_document(row: EventRow) -> dict[str, Any]:
    """One event of a run's log: ``content`` as stored (redacted), null once purged."""
    return {
        "seq": row.seq,
        "type": row.type,
        "ts": iso_time(row.ts),
        "span_id": row.span_id,
        "parent_span_id": row.parent_span_id,
        "meta": row.meta,
        "content": row.content,
        "hash": row.hash,
    }


def approval_document(approval: ApprovalRecord) -> dict[str, Any]:
    """An approval request, with the exact (redacted) arguments it is for."""
    return {
        "approval_id": approval.approval_id,
        "run_id": approval.run_id,
        "call_id": approval.call_id,
        "tool": approval.tool,
        "arguments": approval.arguments,
        "args_digest": approval.args_digest,
        "rule": approval.rule,
        "reason": approval.reason,
        "status": approval.status,
        "approver": approval.approver,
        "requested_at": iso_time(approval.requested_at),
        "expires_at": iso_or_none(approval.expires_at),
        "decided_at": iso_or_none(approval.decided_at),
        "decided_by": approval.decided_by,
        "decision_reason": approval.decision_reason,
    }


def key_document(record: ApiKeyRecord) -> dict[str, Any]:
    """An API key's record; never its digest, which identifies the key as well as the key
    itself does to the store."""
    return {
        "key_id": record.key_id,
        "name": record.name,
        "holder": record.identity,
        "role": record.role,
        "tenant": record.tenant,
        "created_at": iso_time(record.created_at),
        "revoked_at": iso_or_none(record.revoked_at),
    }


def eval_result_document(record: EvalResultRecord) -> dict[str, Any]:
    """A stored eval result's summary (its body, the suite result, aside)."""
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
