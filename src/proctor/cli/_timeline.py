"""How one run's events look in a terminal: the timeline of ``proctor trace`` and the
short receipt of ``proctor demo``."""

from __future__ import annotations

import orjson
from rich.console import Group
from rich.text import Text
from rich.tree import Tree

from proctor.cli._render import OUTCOME_STYLE, money, status_text
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
    Event,
    LimitReached,
    ModelAttemptFailed,
    ModelCalled,
    ModelRouted,
    PolicyDecided,
    RateLimited,
    RunFinished,
    RunInterrupted,
    RunRecord,
    RunResumed,
    RunStarted,
    RunState,
    ToolFinished,
    ToolProposed,
    ToolStarted,
)

DECISION_STYLE = {"allow": "green", "deny": "red", "require_approval": "yellow"}


def resumed_line(reason: str) -> str:
    """A ``run_resumed`` event in words: ``resumed: approved by alice``, and a reason that
    says it already (``resumed``, ``resumed by worker w1``) as it is, not repeated."""
    if not reason.strip() or reason.startswith("resumed"):
        return reason.strip() or "resumed"
    return f"resumed: {reason}"


PURGED = "payload purged (retention; hash retained)"


def receipt(title: str, state: RunState, run_id: str, events: list[Event]) -> Group:
    """A short account of one run: outcome, steps, decisions, spend."""
    totals = state.totals(state.last_ts)
    head = Text.assemble(
        (f"{title}\n", "bold"),
        ("  run ", "dim"),
        (run_id, "bold"),
        ("  ", ""),
        status_text(state.status, state.outcome),
    )
    lines: list[Text] = [head]
    steps = [e.data for e in events if isinstance(e.data, PolicyDecided)]
    for decided in steps:
        line = Text("  · ")
        line.append(decided.tool, style="bold")
        line.append(f"  {decided.decision}", style=DECISION_STYLE[decided.decision])
        if decided.decision != "allow" or decided.rule != "default.allow":
            line.append(f"  [{decided.rule}] {decided.reason}", style="dim")
        lines.append(line)
    for event in events:
        data = event.data
        if isinstance(data, Escalated):
            lines.append(
                Text(
                    f"  ⚑ escalated ({data.mode}) on {data.trigger}: {data.reason}", style="yellow"
                )
            )
        elif isinstance(data, ApprovalRequested) and state.pending_approval == data.approval_id:
            lines.append(
                Text(
                    f"  ⏸ waiting for approval {data.approval_id}: {data.reason}",
                    style="magenta",
                )
            )
    lines.append(
        Text(
            f"  {totals.tool_calls} tool calls, {totals.model_calls} model calls, "
            f"{totals.input_tokens + totals.output_tokens:,} tokens, "
            f"{money(totals.cost_usd)}, {totals.duration_s * 1000:.1f} ms",
            style="dim",
        )
    )
    return Group(*lines)


def trace_tree(run: RunRecord | None, events: list[Event]) -> Tree:
    """Model turns with their tool calls beneath, each with decision, latency, tokens, cost."""
    state = RunState.from_events(events)
    start = events[0].ts if events else 0.0
    title = Text.assemble(
        (events[0].run_id if events else "?", "bold"),
        "  ",
        status_text(state.status, state.outcome),
    )
    if run is not None:
        title.append(f"  {run.workflow}  model {run.model}", style="dim")
    if any(event.purged for event in events):
        title.append(f"  {PURGED}", style="dim italic")
    tree = Tree(title)
    calls: dict[str, Tree] = {}
    for event in events:
        data = event.data
        offset = f"+{(event.ts - start) * 1000:8.1f} ms "
        match data:
            case RunStarted():
                tree.add(
                    Text(offset, style="dim")
                    + Text(
                        f"started by {data.started_by} under contract {data.contract_name} "
                        f"v{data.contract_version} ({data.contract_hash[:12]})"
                        + (f" in session {data.session}" if data.session else "")
                        + (f"; input {PURGED}" if event.purged else "")
                    )
                )
            case RunResumed():
                tree.add(Text(offset, style="dim") + Text(resumed_line(data.reason), style="blue"))
            case RunInterrupted():
                tree.add(
                    Text(offset, style="dim") + Text(f"interrupted: {data.reason}", style="yellow")
                )
            case ModelCalled():
                what = (
                    f"{data.tool_call_count} tool call(s), {PURGED}"
                    if event.purged
                    else ", ".join(c.name for c in data.tool_calls)
                    if data.tool_calls
                    else f"answer: {(data.text or '')[:80]}"
                )
                tree.add(
                    Text(offset, style="dim")
                    + Text(f"model {data.model} turn {data.turn}", style="bold cyan")
                    + Text(
                        f"  {data.usage.input_tokens}+{data.usage.output_tokens} tok  "
                        f"{money(data.cost_usd)}  {data.latency_ms:.1f} ms  → {what}",
                        style="dim",
                    )
                )
            case ToolProposed():
                args = (
                    PURGED
                    if event.purged
                    else orjson.dumps(data.arguments).decode()
                    if not data.raw_arguments
                    else data.raw_arguments
                )
                calls[data.call_id] = tree.add(
                    Text(offset, style="dim")
                    + Text(f"tool {data.tool}", style="bold")
                    + Text(f"  step {data.step}  {args[:120]}", style="dim")
                )
            case PolicyDecided():
                node = calls.get(data.call_id, tree)
                node.add(
                    Text(f"policy {data.decision}", style=DECISION_STYLE[data.decision])
                    + Text(f"  [{data.rule}] {data.reason}", style="dim")
                )
            case ApprovalRequested():
                calls.get(data.call_id, tree).add(
                    Text(f"approval requested {data.approval_id}: {data.reason}", style="magenta")
                )
            case ApprovalDecided():
                verdict = "approved" if data.approved else "denied"
                calls.get(data.call_id, tree).add(
                    Text(f"{verdict} by {data.decided_by}", style="magenta")
                    + Text(f"  {data.reason}" if data.reason else "", style="dim")
                )
            case CheckerDecided():
                verdict = "approves" if data.approved else "denies"
                calls.get(data.call_id, tree).add(
                    Text(f"checker {data.model} {verdict}", style="magenta")
                    + Text(
                        f"  {data.reason}  ({data.usage.input_tokens}+{data.usage.output_tokens}"
                        f" tok, {money(data.cost_usd)}, {data.latency_ms:.1f} ms)",
                        style="dim",
                    )
                )
            case ApprovalExpired():
                calls.get(data.call_id, tree).add(
                    Text(f"approval {data.approval_id} expired", style="yellow")
                )
            case AnswerRefused():
                tree.add(
                    Text("answer refused", style="red") + Text(f"  {data.rule}: {data.reason}")
                )
            case CredentialIssued():
                grants = ", ".join(data.actions)
                if data.resources:
                    grants += " on " + ", ".join(data.resources)
                grants += "".join(f", {k} {v:g}" for k, v in data.limits.items())
                calls.get(data.call_id, tree).add(
                    Text("credential issued", style="dim")
                    + Text(
                        f"  {grants}; expires in {data.expires_at - data.issued_at:g} s "
                        f"(jti {data.jti})",
                        style="dim",
                    )
                )
            case ToolStarted():
                calls.get(data.call_id, tree).add(
                    Text(
                        f"started (attempt {data.attempt}, key {data.idempotency_key})", style="dim"
                    )
                )
            case ToolFinished():
                node = calls.get(data.call_id, tree)
                if data.ok:
                    result = (
                        PURGED
                        if event.purged
                        else orjson.dumps(data.result).decode()
                        if data.result is not None
                        else ""
                    )
                    node.add(
                        Text(f"ok  {data.latency_ms:.1f} ms", style="green")
                        + Text(f"  {result[:120]}", style="dim")
                    )
                else:
                    node.add(
                        Text(
                            f"error {data.error_type}: {data.error}  {data.latency_ms:.1f} ms",
                            style="red",
                        )
                    )
            case DraftRecorded():
                calls.get(data.call_id, tree).add(
                    Text("recorded as a draft, not executed", style="cyan")
                )
            case ModelRouted():
                tree.add(
                    Text(offset, style="dim")
                    + Text(f"route {data.from_route or '-'} → {data.to_route}", style="cyan")
                    + Text(f"  [{data.trigger}] {data.reason}", style="dim")
                )
            case ModelAttemptFailed():
                nxt = f" → {data.next_deployment}" if data.next_deployment else ""
                tree.add(
                    Text(offset, style="dim")
                    + Text(f"model attempt {data.attempt} at {data.deployment} failed", style="red")
                    + Text(
                        f"  {data.kind}"
                        + (f" ({data.status})" if data.status else "")
                        + f": {data.action}{nxt}"
                        + (f" after {data.backoff_s:.2f} s" if data.backoff_s else "")
                        + f"  {data.error[:100]}",
                        style="dim",
                    )
                )
            case CacheHit():
                tree.add(
                    Text(offset, style="dim")
                    + Text(f"cache hit ({data.kind}) {data.name}", style="green")
                    + Text(
                        f"  saved {money(data.cost_saved_usd)}, {data.tokens_saved} tokens",
                        style="dim",
                    )
                )
            case RateLimited():
                tree.add(
                    Text(offset, style="dim")
                    + Text(f"rate limit {data.scope} ({data.limit})", style="yellow")
                    + Text(f"  {data.outcome} {data.waited_ms:.0f} ms", style="dim")
                )
            case ContextCompacted():
                tree.add(
                    Text(offset, style="dim")
                    + Text("context compacted", style="cyan")
                    + Text(
                        f"  {data.tokens_before:,} → {data.tokens_after:,} tokens"
                        + (" (estimated)" if data.estimated else "")
                        + f", {data.turns_summarized} turns summarised, "
                        f"{data.results_replaced} results shortened",
                        style="dim",
                    )
                )
            case LimitReached():
                tree.add(
                    Text(offset, style="dim") + Text(f"limit reached: {data.reason}", style="red")
                )
            case Escalated():
                tree.add(
                    Text(offset, style="dim")
                    + Text(
                        f"escalated ({data.mode}) on {data.trigger}: {data.reason}", style="yellow"
                    )
                )
            case RunFinished():
                t = data.totals
                tree.add(
                    Text(offset, style="dim")
                    + Text(f"finished {data.outcome}", style=OUTCOME_STYLE.get(data.outcome, ""))
                    + Text(
                        f"  {t.tool_calls} tool calls, {t.model_calls} model calls, "
                        f"{t.input_tokens + t.output_tokens:,} tokens, {money(t.cost_usd)}, "
                        f"{t.duration_s:.3f} s — {data.reason}",
                        style="dim",
                    )
                )
    return tree
