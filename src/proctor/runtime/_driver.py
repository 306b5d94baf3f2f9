"""One run being driven: the loop's steps, each recorded before it takes effect.

Every step is decided from ``RunState``, the fold of the run's own log, so a resumed
run continues exactly where its log ends. ``Execution`` holds the run in memory (journal,
state, transcript), seals and writes its events, and drives the loop: the next call of the
latest model turn is advanced (``_tool_calls``), an answered run ends, and otherwise the
model is asked (``_model_turn``). Where a policy decision leads, and how a run is denied,
escalated or ended, is here too, because every room ends up there; running a tool is
``_tool_run``, asking a person ``_approvals``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from proctor.gateway import REPLY_PRIMING_TOKENS, CallSettings, Gateway
from proctor.policy import Decision
from proctor.runtime._approvals import request_approval
from proctor.runtime._model_turn import finish_answered, model_turn
from proctor.runtime._tool_calls import advance
from proctor.runtime._tool_run import execute
from proctor.runtime._transcript import Transcript
from proctor.store import (
    ApprovalRecord,
    CallState,
    DraftRecorded,
    Escalated,
    EscalationMode,
    EscalationTrigger,
    Event,
    EventData,
    LimitReached,
    Outcome,
    PolicyDecided,
    RunFinished,
    RunJournal,
    RunRecord,
    RunState,
)
from proctor.telemetry import live_exporter

if TYPE_CHECKING:
    from proctor.runtime._runner import Runner


class Execution:
    """Drives one run: holds its journal, state and transcript in memory."""

    def __init__(
        self,
        runner: Runner,
        journal: RunJournal,
        gateway: Gateway,
        route: str,
        record: RunRecord,
    ) -> None:
        self.runner = runner
        self.workflow = runner.workflow
        self.policy = runner.policy
        self.journal = journal
        self.gateway = gateway
        self.start_route = route
        # Rate limits charge the prompt's tokens before a call is sent.
        self.count_prompts = gateway.limiter is not None or gateway.router.limiter is not None
        model = runner.workflow.contract.model
        self.settings = (
            CallSettings(max_tokens=model.max_tokens, temperature=model.temperature)
            if model.max_tokens is not None or model.temperature is not None
            else None
        )
        self.record_row = record
        self.state = RunState()
        self.transcript = Transcript()
        # OpenTelemetry export of each written batch; None (the default) costs one check.
        self.telemetry = live_exporter() if runner.live_telemetry else None

    def observe(self, events: list[Event]) -> None:
        for event in events:
            self.state.apply(event)
            self.transcript.apply(event)

    def seal(self, items: list[EventData], *, span_id: str | None = None) -> None:
        """Chain ``items`` and fold them into state now; they are written by ``flush``.

        Folding before writing lets a decision see the proposal it decides, and lets
        ``run_finished`` totals include its own batch. If the write fails, the exception
        ends this execution and resume rebuilds state from what the log really holds.
        """
        self.observe(self.journal.seal(items, span_id=span_id))

    async def flush(
        self, *, approval: ApprovalRecord | None = None, finish: tuple[Outcome, str] | None = None
    ) -> None:
        """Write every sealed event (and the run's end, if ``finish``) in one transaction."""
        if finish is not None:
            outcome, reason = finish
            self.seal(
                [
                    RunFinished(
                        outcome=outcome,
                        reason=reason,
                        totals=self.state.totals(time.time()),
                        final_text=self.state.final_text,
                    )
                ]
            )
        run = None
        if approval is not None or finish is not None or self._status_changes():
            run = self._updated_record()
        rows = await self.journal.commit(run=run, approval=approval)
        if self.telemetry is not None:
            await self.telemetry.on_flush(
                self.journal.store, self.journal.run_id, rows, self.state.status
            )

    async def record(
        self,
        items: list[EventData],
        *,
        span_id: str | None = None,
        approval: ApprovalRecord | None = None,
        finish: tuple[Outcome, str] | None = None,
    ) -> None:
        """Seal ``items`` and write them, with any sealed before, atomically."""
        self.seal(items, span_id=span_id)
        await self.flush(approval=approval, finish=finish)

    def _status_changes(self) -> bool:
        return any(
            row.type in ("run_resumed", "approval_requested") for row in self.journal.pending
        )

    async def drive(self) -> None:
        state = self.state
        while state.status == "running":
            call = state.next_call()
            if call is not None:
                await advance(self, call)
            elif state.answered:
                await finish_answered(self)
            else:
                await model_turn(self)

    # --- where a decision leads ------------------------------------------------------

    async def apply_decision(self, call: CallState, decision: Decision) -> None:
        """Record ``decision`` for ``call``, then deny it, draft it, ask about it, or run it."""
        name = call.call.name
        self.seal(
            [
                PolicyDecided(
                    call_id=call.call.id,
                    tool=name,
                    decision=decision.kind,
                    rule=decision.rule,
                    reason=decision.reason,
                )
            ],
            span_id=call.call.id,
        )
        if decision.kind == "deny":
            await self.on_denied(call, decision)
        elif self.state.draft_only and self.is_write(name):
            await self.record([self._draft(call)], span_id=call.call.id)
        elif decision.kind == "require_approval":
            await request_approval(self, call, decision)
        else:
            await execute(self, call)

    def is_write(self, tool_name: str) -> bool:
        tool = self.runner.registry.get(tool_name)
        return tool is not None and tool.effect == "write"

    @staticmethod
    def _draft(call: CallState) -> DraftRecorded:
        return DraftRecorded(
            call_id=call.call.id, tool=call.call.name, arguments=call.call.arguments
        )

    async def on_denied(self, call: CallState, decision: Decision) -> None:
        """The denial goes back to the model as the call's result, or the run escalates."""
        if decision.trigger is None:  # e.g. invalid arguments: the model gets the error
            await self.flush()
        elif decision.trigger == "budget_exceeded":
            await self.escalate_or_stop(decision, call=call)
        else:
            mode = self.workflow.contract.escalation.mode_for(decision.trigger)
            if mode is None or (mode == "draft_only" and self.state.draft_only):
                await self.flush()
            else:
                await self.escalate(decision, mode, end=mode == "handoff")

    # --- endings and bookkeeping -----------------------------------------------------

    async def escalate_or_stop(self, decision: Decision, call: CallState | None = None) -> None:
        """A ceiling is a hard stop: escalate per the contract, or fail."""
        self.seal(
            [
                LimitReached(
                    limit=decision.limit or decision.rule,
                    value=decision.value or 0.0,
                    ceiling=decision.ceiling or 0.0,
                    rule=decision.rule,
                    reason=decision.reason,
                )
            ]
        )
        mode = self.workflow.contract.escalation.mode_for("budget_exceeded")
        if mode is None:
            await self.finish("failed", decision.reason)
            return
        if mode == "draft_only" and call is not None and self.is_write(call.call.name):
            self.seal([self._draft(call)], span_id=call.call.id)
        await self.escalate(decision, mode, end=True)

    async def escalate(self, decision: Decision, mode: EscalationMode, *, end: bool) -> None:
        trigger: EscalationTrigger = decision.trigger or "policy_violation"
        self.seal(
            [Escalated(trigger=trigger, mode=mode, rule=decision.rule, reason=decision.reason)]
        )
        if end:
            await self.finish("escalated" if mode == "handoff" else "draft_only", decision.reason)
        else:
            await self.flush()

    async def finish(self, outcome: Outcome, reason: str) -> None:
        await self.flush(finish=(outcome, reason))

    def remaining_runtime(self, now: float) -> float | None:
        ceiling = self.workflow.contract.limits.max_runtime_seconds
        if ceiling is None:
            return None
        return max(0.0, ceiling - self.state.active_seconds(now))

    def prompt_tokens(self) -> int:
        """Estimated size of the next prompt, from running counts (no pass over it)."""
        return self.transcript.tokens() + self.runner.specs_tokens() + REPLY_PRIMING_TOKENS

    def _updated_record(self) -> RunRecord:
        """The run's summary row, from the state after this batch."""
        record = self.record_row
        state = self.state
        totals = state.totals(state.last_ts)
        record.updated_at = state.last_ts
        record.status = state.status
        record.outcome = state.outcome
        record.finished_at = state.last_ts if state.status == "finished" else None
        record.tool_calls, record.model_calls = totals.tool_calls, totals.model_calls
        record.input_tokens, record.output_tokens = totals.input_tokens, totals.output_tokens
        record.cost_usd, record.duration_s = totals.cost_usd, totals.duration_s
        record.last_seq, record.head_hash = self.journal.last_seq, self.journal.head_hash
        return record
