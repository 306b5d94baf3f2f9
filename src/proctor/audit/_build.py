"""``build_receipt``: read one run's log once and tell it as a ``Receipt``."""

from __future__ import annotations

import importlib.metadata
import re
import time
from typing import Any

from pydantic import ValidationError

from proctor.audit._receipt import (
    FORMAT_VERSION,
    ApprovalEntry,
    ContractSummary,
    CredentialEntry,
    DecisionEntry,
    EventIndexEntry,
    ModelCallEntry,
    Notice,
    PurgeInfo,
    Receipt,
    RunSummary,
    ToolCallEntry,
    Totals,
    Verification,
    iso,
)
from proctor.audit._receipt_check import PROCEDURE
from proctor.errors import DISTRIBUTION, NotFoundError
from proctor.store import (
    EVENT_TYPES,
    ApprovalDecided,
    ApprovalExpired,
    ApprovalRequested,
    CheckerDecided,
    ContextCompacted,
    DraftRecorded,
    EventData,
    EventRow,
    EvidenceKeys,
    ModelCalled,
    PolicyDecided,
    RunFinished,
    RunRecord,
    RunStarted,
    Store,
    ToolFinished,
    ToolProposed,
    ToolStarted,
    load_evidence_keys,
    public_pem,
    row_to_event,
    verify_rows,
)

KNOWN_TYPES = frozenset(t.model_fields["type"].default for t in EVENT_TYPES)
# Never copied from a credential event, whatever a newer version puts in its metadata.
_SECRET_KEY = re.compile(r"token|secret|password|api_?key|authorization", re.IGNORECASE)


def verify_command(run_id: str) -> str:
    return f"proctor audit verify {run_id}"


async def build_receipt(
    store: Store, run_id: str, *, now: float | None = None, keys: EvidenceKeys | None = None
) -> Receipt:
    """The receipt of ``run_id``, with its chain verified now (``now`` for tests) under
    ``keys`` (default: ``load_evidence_keys()``, this home's).

    The log is read once; a purged payload reads as ``None`` with ``purged`` set, and an
    event type this version does not know is shown from its metadata, never dropped. The
    receipt carries the chain itself (each event's hashed fields, hash and signature) and
    the public keys that signed it, so it can be checked offline (``check_receipt``).
    """
    keys = keys if keys is not None else load_evidence_keys()
    rows = await store.events(run_id)
    if not rows:
        raise NotFoundError(f"no run {run_id!r} in this store; list runs with `proctor runs`")
    record = await store.get_run(run_id)
    purge = await store.get_purge(run_id)
    started_hash = str(rows[0].meta.get("contract_hash", ""))
    versions = await store.contracts(hash_prefix=started_hash) if started_hash else []
    stored = next((v for v in versions if v.content_hash == started_hash), None)
    report = verify_rows(run_id, rows, record, keys)
    at = time.time() if now is None else now

    story = _Story(run_id, record)
    for row in rows:
        story.read(row)
    return Receipt(
        format_version=FORMAT_VERSION,
        generated_at=iso(at),
        generator=f"proctor {_version()}",
        run=story.summary(),
        contract=ContractSummary(
            name=story.contract_name,
            version=story.contract_version,
            hash=started_hash,
            stored=stored is not None,
            retention_days=None if stored is None else stored.retention_days,
        ),
        totals=story.totals(rows),
        verification=Verification(
            ok=report.ok,
            events=report.events,
            head_hash=report.head_hash,
            problem=report.problem,
            bad_seq=report.bad_seq,
            verified_at=iso(at),
            command=verify_command(run_id),
            explanation=(
                "Run this where the store is: it recomputes every event's hash from the "
                "stored log and must report the chain verified with this head hash. "
                "Offline: proctor audit check-receipt FILE --public-key KEY (docs/audit.md)."
            ),
            keyed=report.keyed,
            signed_through=report.signed_through,
            public_keys=_signers(rows, keys),
            procedure=list(PROCEDURE),
        ),
        model_calls=story.model_calls,
        tool_calls=list(story.calls.values()),
        approvals=list(story.approvals.values()),
        credentials=story.credentials,
        notices=story.notices,
        purge=None
        if purge is None
        else PurgeInfo(
            purged_at=iso(purge.purged_at),
            events=purge.events,
            bytes=purge.bytes,
            reason=purge.reason,
        ),
        events=[
            EventIndexEntry(
                seq=row.seq,
                type=row.type,
                at=iso(row.ts),
                hash=row.hash,
                purged=_purged(row),
                prev_hash=row.prev_hash,
                hashed=_hashed(row),
                signature=row.signature,
            )
            for row in rows
        ],
    )


def _hashed(row: EventRow) -> dict[str, Any] | None:
    """The fields ``row``'s hash covers, or ``None`` (withheld) if its metadata names a
    secret: Proctor never records one there, but a newer version's event might."""
    if any(_SECRET_KEY.search(key) for key in row.meta):
        return None
    return row.hashed_metadata()


def _signers(rows: list[EventRow], keys: EvidenceKeys) -> dict[str, str]:
    """The PEM public keys (by id) of the keys that signed ``rows``, where known."""
    ids = {row.signature.partition(".")[0] for row in rows if row.signature}
    return {
        kid: public_pem(keys.public_keys[kid]).decode()
        for kid in sorted(ids)
        if kid in keys.public_keys
    }


def _version() -> str:
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - source checkout
        return "unknown"


def _purged(row: EventRow) -> bool:
    return row.content is None


def _decode(row: EventRow) -> EventData | None:
    if row.type not in KNOWN_TYPES:
        return None
    try:
        return row_to_event(row).data
    except ValidationError:
        return None  # shown from its metadata, like an unknown type


class _Story:
    """Folds rows into the receipt's sections (one pass, no further reads)."""

    def __init__(self, run_id: str, record: RunRecord | None) -> None:
        self.run_id = run_id
        self.record = record
        self.started: RunStarted | None = None
        self.started_ts: float | None = None
        self.input_purged = False
        self.finished: RunFinished | None = None
        self.finished_ts: float | None = None
        self.contract_name = record.contract_name if record else ""
        self.contract_version = ""
        self.model_calls: list[ModelCallEntry] = []
        self.calls: dict[str, ToolCallEntry] = {}
        self.approvals: dict[str, ApprovalEntry] = {}
        self.credentials: list[CredentialEntry] = []
        self.notices: list[Notice] = []

    def read(self, row: EventRow) -> None:
        at = iso(row.ts)
        if row.type == "credential_issued":
            # Read from the row, not the typed event, so older and newer shapes both show.
            self._credential(row, at)
            return
        data = _decode(row)
        if data is None:
            # A newer event type: its metadata is safe to show (payloads live in content).
            self._notice(row, at, row.type.replace("_", " "))
            return
        match data:
            case RunStarted():
                self.started, self.started_ts = data, row.ts
                self.input_purged = _purged(row)
                self.contract_name = data.contract_name
                self.contract_version = data.contract_version
            case ModelCalled():
                self.model_calls.append(
                    ModelCallEntry(
                        seq=row.seq,
                        at=at,
                        kind="turn",
                        model=data.model,
                        turn=data.turn,
                        input_tokens=data.usage.input_tokens,
                        output_tokens=data.usage.output_tokens,
                        cached_input_tokens=data.usage.cached_input_tokens,
                        cost_usd=data.cost_usd,
                        latency_ms=data.latency_ms,
                        cache_hit=data.cache_hit,
                        tool_calls=data.tool_call_count,
                    )
                )
            case ContextCompacted() if data.usage is not None:
                self.model_calls.append(
                    ModelCallEntry(
                        seq=row.seq,
                        at=at,
                        kind="compaction",
                        model=data.model or "",
                        turn=None,
                        input_tokens=data.usage.input_tokens,
                        output_tokens=data.usage.output_tokens,
                        cached_input_tokens=data.usage.cached_input_tokens,
                        cost_usd=data.cost_usd,
                        latency_ms=None,
                        cache_hit=False,
                        tool_calls=0,
                    )
                )
                self._notice(row, at, _summary(data))
            case ToolProposed():
                purged = _purged(row)
                self.calls[data.call_id] = ToolCallEntry(
                    call_id=data.call_id,
                    step=data.step,
                    tool=data.tool,
                    proposed_at=at,
                    arguments=None if purged else data.arguments,
                    raw_arguments=None if purged else data.raw_arguments,
                    args_digest=data.args_digest,
                    purged=purged,
                )
            case PolicyDecided():
                call = self._call(data.call_id, data.tool, at)
                call.decisions.append(
                    DecisionEntry(at=at, decision=data.decision, rule=data.rule, reason=data.reason)
                )
                call.decision, call.rule, call.reason = data.decision, data.rule, data.reason
                if data.decision == "deny":
                    call.status = "denied"
            case ApprovalRequested():
                self.approvals[data.approval_id] = ApprovalEntry(
                    approval_id=data.approval_id,
                    call_id=data.call_id,
                    tool=data.tool,
                    rule=data.rule,
                    reason=data.reason,
                    requested_at=at,
                    approver=data.by,
                )
                call = self._call(data.call_id, data.tool, at)
                call.approval_id, call.status = data.approval_id, "awaiting_approval"
            case CheckerDecided():
                self.model_calls.append(
                    ModelCallEntry(
                        seq=row.seq,
                        at=at,
                        kind="checker",
                        model=data.model,
                        turn=None,
                        input_tokens=data.usage.input_tokens,
                        output_tokens=data.usage.output_tokens,
                        cached_input_tokens=data.usage.cached_input_tokens,
                        cost_usd=data.cost_usd,
                        latency_ms=data.latency_ms,
                        cache_hit=False,
                        tool_calls=0,
                    )
                )
                checked = self.approvals.get(data.approval_id)
                if checked is not None:
                    verdict = "approved" if data.approved else "denied"
                    checked.checker_verdict = f"{verdict} by {data.model}: {data.reason}"
            case ApprovalExpired():
                expired = self.approvals.get(data.approval_id)
                if expired is not None:
                    expired.status, expired.decided_by, expired.decided_at = "expired", "expiry", at
            case ApprovalDecided():
                approval = self.approvals.get(data.approval_id)
                if approval is not None:
                    approval.status = "approved" if data.approved else "denied"
                    approval.decided_by, approval.decided_at = data.decided_by, at
                    approval.decision_reason = data.reason
                if data.call_id in self.calls and data.approved:
                    self.calls[data.call_id].status = "not_run"
            case ToolStarted():
                call = self._call(data.call_id, data.tool, at)
                call.attempts += 1
                call.idempotency_key, call.status = data.idempotency_key, "started"
            case ToolFinished():
                call = self._call(data.call_id, data.tool, at)
                call.status = "succeeded" if data.ok else "failed"
                call.latency_ms, call.error_type = data.latency_ms, data.error_type
                call.purged = call.purged or _purged(row)
                if not _purged(row):
                    call.result, call.error = data.result, data.error
            case DraftRecorded():
                self._call(data.call_id, data.tool, at).status = "drafted"
            case RunFinished():
                self.finished, self.finished_ts = data, row.ts
            case _:
                self._notice(row, at, _summary(data))

    def _call(self, call_id: str, tool: str, at: str | None) -> ToolCallEntry:
        call = self.calls.get(call_id)
        if call is None:  # a decision without its proposal: show it rather than lose it
            call = self.calls[call_id] = ToolCallEntry(
                call_id=call_id,
                step=-1,
                tool=tool,
                proposed_at=at,
                arguments=None,
                raw_arguments=None,
                args_digest="",
                purged=False,
            )
        return call

    def _notice(self, row: EventRow, at: str | None, summary: str) -> None:
        details = {k: v for k, v in row.meta.items() if k != "type"}
        self.notices.append(
            Notice(seq=row.seq, at=at, type=row.type, summary=summary, details=details)
        )

    def _credential(self, row: EventRow, at: str | None) -> None:
        fields = {**row.meta, **(row.content or {})}
        details: dict[str, Any] = {
            key: iso(value) if key.endswith("_at") and isinstance(value, int | float) else value
            for key, value in fields.items()
            if key not in ("type", "call_id", "tool") and not _SECRET_KEY.search(key)
        }
        if _purged(row):
            details["purged"] = True
        call_id, tool = row.meta.get("call_id"), row.meta.get("tool")
        self.credentials.append(
            CredentialEntry(
                seq=row.seq,
                at=at,
                call_id=call_id if isinstance(call_id, str) else None,
                tool=tool if isinstance(tool, str) else None,
                details=details,
            )
        )

    def summary(self) -> RunSummary:
        record, started, finished = self.record, self.started, self.finished
        return RunSummary(
            run_id=self.run_id,
            workflow=started.workflow if started else (record.workflow if record else ""),
            model=started.model if started else (record.model if record else ""),
            status=record.status if record else ("finished" if finished else "running"),
            outcome=finished.outcome if finished else (record.outcome if record else None),
            outcome_reason=finished.reason if finished else None,
            started_by=started.started_by if started else "",
            owner=record.owner if record else "",
            trace_id=record.trace_id if record else "",
            started_at=iso(self.started_ts),
            finished_at=iso(self.finished_ts),
            input=None if started is None or self.input_purged else started.input,
            input_purged=self.input_purged,
            final_text=finished.final_text if finished else None,
        )

    def totals(self, rows: list[EventRow]) -> Totals:
        wall = round(rows[-1].ts - rows[0].ts, 4)
        if self.finished is not None:
            t = self.finished.totals
            return Totals(
                tool_calls=t.tool_calls,
                model_calls=t.model_calls,
                input_tokens=t.input_tokens,
                output_tokens=t.output_tokens,
                cost_usd=t.cost_usd,
                active_s=t.duration_s,
                wall_s=wall,
            )
        costs = [c.cost_usd for c in self.model_calls]
        record = self.record
        return Totals(
            tool_calls=len(self.calls),
            model_calls=sum(c.kind == "turn" for c in self.model_calls),
            input_tokens=sum(c.input_tokens for c in self.model_calls),
            output_tokens=sum(c.output_tokens for c in self.model_calls),
            cost_usd=None if None in costs else round(sum(c or 0.0 for c in costs), 8),
            active_s=record.duration_s if record else wall,
            wall_s=wall,
        )


def _summary(data: EventData) -> str:
    """One line for a notice, from the event's metadata."""
    meta: dict[str, Any] = data.model_dump(mode="json", exclude=set(data.content_fields))
    match data.type:
        case "escalated":
            return f"escalated ({meta['mode']}) on {meta['trigger']}: {meta['reason']}"
        case "limit_reached":
            return f"limit reached: {meta['reason']}"
        case "model_routed":
            return f"route {meta['from_route'] or '-'} -> {meta['to_route']}: {meta['reason']}"
        case "model_attempt_failed":
            return (
                f"model attempt {meta['attempt']} at {meta['deployment']} failed "
                f"({meta['kind']}): {meta['action']}"
            )
        case "run_resumed":
            return f"resumed: {meta['reason']}"
        case "run_interrupted":
            return f"interrupted: {meta['reason']}"
        case "cache_hit":
            return f"cache hit ({meta['kind']}) {meta['name']}"
        case "rate_limited":
            return f"rate limit {meta['scope']} ({meta['limit']}): {meta['outcome']}"
        case "context_compacted":
            return f"context compacted: {meta['tokens_before']} -> {meta['tokens_after']} tokens"
    return data.type.replace("_", " ")
