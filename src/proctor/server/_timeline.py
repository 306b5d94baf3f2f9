"""A run's log as waterfall rows: what happened, when, for how long, at what cost.

Rows are read from each event's *metadata* only (never its content), so a purged run, and
an event type newer than this version, still draw. Content (arguments, results, the
model's text) is shown only when a row's payload is opened.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from proctor.store import EventRow

Kind = Literal[
    "start",
    "model",
    "tool",
    "policy",
    "approval",
    "credential",
    "escalation",
    "limit",
    "finish",
    "other",
]
Status = Literal["ok", "bad", "warn", "info", "muted"]

_KINDS: dict[str, Kind] = {
    "run_started": "start",
    "run_resumed": "start",
    "run_interrupted": "start",
    "model_called": "model",
    "model_routed": "model",
    "model_attempt_failed": "model",
    "context_compacted": "model",
    "tool_proposed": "tool",
    "tool_started": "tool",
    "tool_finished": "tool",
    "draft_recorded": "tool",
    "policy_decided": "policy",
    "approval_requested": "approval",
    "approval_decided": "approval",
    "approval_expired": "approval",
    "checker_decided": "approval",
    "credential_issued": "credential",
    "escalated": "escalation",
    "limit_reached": "limit",
    "rate_limited": "limit",
    "answer_refused": "policy",
    "values_seen": "policy",
    "run_finished": "finish",
}
_DECISION: dict[str, Status] = {"allow": "ok", "deny": "bad", "require_approval": "warn"}
OUTCOME_STATUS: dict[str, Status] = {
    "resolved": "ok",
    "escalated": "warn",
    "draft_only": "info",
    "failed": "bad",
    "cancelled": "muted",
}
# Events whose metadata says how long the work took, written when it ended.
_LATENCY_FIELD = {
    "model_called": "latency_ms",
    "tool_finished": "latency_ms",
    "checker_decided": "latency_ms",
    "model_attempt_failed": "latency_ms",
    "rate_limited": "waited_ms",
}


@dataclass(kw_only=True, slots=True)
class TimelineRow:
    """One event as a waterfall row; ``seq`` finds its payload."""

    seq: int
    type: str
    kind: Kind
    label: str
    detail: str
    offset_ms: float
    """When the work began, from the run's first event."""
    duration_ms: float
    """0 for a point in time (a decision, a request)."""
    depth: int
    """0 for the run itself, 1 for what it did, 2 for the steps of one tool call."""
    status: Status = "muted"
    tokens: int | None = None
    cost_usd: float | None = None
    left_pct: float = 0.0
    width_pct: float = 0.0


@dataclass(kw_only=True, slots=True)
class Timeline:
    rows: list[TimelineRow]
    total_ms: float
    """From the first event to the end of the last work, the waterfall's full width."""


def build_timeline(events: Sequence[EventRow]) -> Timeline:
    """The waterfall of a run's ``events`` (in ``seq`` order)."""
    if not events:
        return Timeline(rows=[], total_ms=0.0)
    start = events[0].ts
    depths: dict[str, int] = {}
    openers: dict[str, TimelineRow] = {}  # a tool call's first row, by its span
    span_end: dict[str, float] = {}
    rows: list[TimelineRow] = []
    for event in events:
        meta = event.meta
        kind = _KINDS.get(event.type, "other")
        took = _number(meta.get(_LATENCY_FIELD.get(event.type, ""))) or 0.0
        end_ms = (event.ts - start) * 1000
        label, detail, status = describe(event.type, meta)
        row = TimelineRow(
            seq=event.seq,
            type=event.type,
            kind=kind,
            label=label,
            detail=detail,
            offset_ms=max(0.0, end_ms - took),
            duration_ms=took,
            depth=_depth(event, depths),
            status=status,
            tokens=_tokens(meta),
            cost_usd=_number(meta.get("cost_usd")),
        )
        rows.append(row)
        span_end[event.span_id] = max(span_end.get(event.span_id, 0.0), end_ms)
        if event.type == "tool_proposed":
            openers[event.span_id] = row
        elif event.span_id in openers:
            _fold_into_call(openers[event.span_id], event.type, meta, status)
    # A tool call's row spans its whole life: decision, approval wait and execution.
    for span, opener in openers.items():
        opener.duration_ms = max(0.0, span_end[span] - opener.offset_ms)
    total = max((row.offset_ms + row.duration_ms for row in rows), default=0.0)
    scale = 100.0 / total if total > 0 else 0.0
    for row in rows:
        row.left_pct = round(min(row.offset_ms * scale, 100.0), 3)
        row.width_pct = round(min(row.duration_ms * scale, 100.0 - row.left_pct), 3)
    return Timeline(rows=rows, total_ms=total)


def _depth(event: EventRow, depths: dict[str, int]) -> int:
    """An event opening a span sits one below its parent's; later events of the same
    span (a tool call's decision, approval, execution) one below their opener."""
    if event.span_id in depths:
        return depths[event.span_id] + 1
    parent = event.parent_span_id
    depth = 0 if parent is None else depths.get(parent, 0) + 1
    depths[event.span_id] = depth
    return depth


def _fold_into_call(
    opener: TimelineRow, type_: str, meta: Mapping[str, Any], status: Status
) -> None:
    """Let a tool call's own row say how the call ended."""
    if type_ == "policy_decided" and meta.get("decision") != "allow":
        decision = str(meta.get("decision")).replace("_", " ")
        opener.status, opener.detail = status, f"{decision}: {meta.get('rule')}"
    elif type_ == "approval_requested":
        opener.status, opener.detail = "warn", "waiting for approval"
    elif type_ == "approval_decided":
        verdict = "approved" if meta.get("approved") else "denied"
        opener.status = "ok" if meta.get("approved") else "bad"
        opener.detail = f"{verdict} by {meta.get('decided_by')}"
    elif type_ == "approval_expired":
        opener.status, opener.detail = "bad", "approval expired"
    elif type_ == "tool_finished":
        opener.status = status
        opener.detail = "succeeded" if meta.get("ok") else f"failed: {meta.get('error_type')}"
    elif type_ == "draft_recorded":
        opener.status, opener.detail = "info", "recorded as a draft, not executed"


def describe(type_: str, meta: Mapping[str, Any]) -> tuple[str, str, Status]:
    """An event's label, one line of detail, and how it went, from its metadata."""
    m = meta.get
    match type_:
        case "run_started":
            return (
                "run started",
                f"{m('workflow')} under {m('contract_name')} v{m('contract_version')}, "
                f"by {m('started_by')}",
                "muted",
            )
        case "run_resumed":
            # The label says "resumed": a reason that begins with it ("resumed", the
            # default, or "resumed by worker w1") is not said twice.
            reason = str(m("reason", ""))
            return "resumed", reason.removeprefix("resumed").strip(), "muted"
        case "run_interrupted":
            return "interrupted", f"{m('reason')}; resume it to continue", "warn"
        case "model_called":
            calls = int(m("tool_call_count") or 0)
            what = f"{calls} tool call{'s' if calls != 1 else ''}" if calls else "final answer"
            cached = ", from cache" if m("cache_hit") else ""
            return f"model {m('model')} · turn {m('turn')}", what + cached, "info"
        case "model_routed":
            return f"route → {m('to_route')}", f"{m('trigger')}: {m('reason')}", "muted"
        case "model_attempt_failed":
            status = f" ({m('status')})" if m("status") else ""
            return (
                f"model attempt {m('attempt')} failed",
                f"{m('deployment')}: {m('kind')}{status}, then {m('action')}",
                "bad",
            )
        case "context_compacted":
            return (
                "context compacted",
                f"{m('tokens_before')} → {m('tokens_after')} tokens",
                "muted",
            )
        case "cache_hit":
            return f"cache hit ({m('kind')})", str(m("name", "")), "ok"
        case "rate_limited":
            return f"rate limit {m('scope')}", f"{m('outcome')} ({m('limit')})", "warn"
        case "tool_proposed":
            return f"tool {m('tool')}", f"step {m('step')}", "muted"
        case "tool_started":
            return "started", f"attempt {m('attempt')}", "muted"
        case "tool_finished":
            if m("ok"):
                return "finished", "succeeded", "ok"
            return "failed", str(m("error_type") or "error"), "bad"
        case "draft_recorded":
            return "drafted", "recorded as a draft, not executed", "info"
        case "policy_decided":
            decision = str(m("decision"))
            status = _DECISION.get(decision, "muted")
            return f"policy {decision.replace('_', ' ')}", f"{m('rule')}: {m('reason')}", status
        case "approval_requested":
            return f"approval requested ({m('by')})", f"{m('rule')}: {m('reason')}", "warn"
        case "checker_decided":
            verdict = "approves" if m("approved") else "denies"
            return f"checker {m('model')} {verdict}", str(m("reason", "")), _yes(m("approved"))
        case "approval_decided":
            verdict = "approved" if m("approved") else "denied"
            reason = m("reason") or "no reason given"
            return f"{verdict} by {m('decided_by')}", str(reason), _yes(m("approved"))
        case "approval_expired":
            return "approval expired", "nobody decided in time", "bad"
        case "answer_refused":
            return "answer refused", f"{m('rule')}: {m('reason')}", "bad"
        case "values_seen":
            count = len(m("trusted") or []) + len(m("untrusted") or [])
            return "values seen", f"{count} fingerprints from {m('source')}", "muted"
        case "credential_issued":
            return "credential issued", _scopes(meta), "muted"
        case "escalated":
            return f"escalated ({m('mode')})", f"{m('trigger')}: {m('reason')}", "warn"
        case "limit_reached":
            return f"limit reached: {m('limit')}", str(m("reason", "")), "bad"
        case "run_finished":
            outcome = str(m("outcome"))
            return (
                f"finished: {outcome}",
                str(m("reason", "")),
                OUTCOME_STATUS.get(outcome, "muted"),
            )
    return type_.replace("_", " "), "", "muted"


def _scopes(meta: Mapping[str, Any]) -> str:
    actions = meta.get("actions")
    text = "scopes " + (", ".join(map(str, actions)) if isinstance(actions, list) else "?")
    limits = meta.get("limits")
    if isinstance(limits, dict) and limits:
        text += "; " + ", ".join(
            f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in limits.items()
        )
    issued, expires = _number(meta.get("issued_at")), _number(meta.get("expires_at"))
    if issued is not None and expires is not None:
        text += f"; valid {expires - issued:g} s"
    return text


def _yes(flag: object) -> Status:
    return "ok" if flag else "bad"


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _tokens(meta: Mapping[str, Any]) -> int | None:
    usage = meta.get("usage")
    if not isinstance(usage, dict):
        return None
    return int(usage.get("input_tokens") or 0) + int(usage.get("output_tokens") or 0)
