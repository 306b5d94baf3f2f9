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
from typing import TYPE_CHECKING, assert_never

from proctor.gateway import REPLY_PRIMING_TOKENS, CallSettings, Gateway
from proctor.policy import (
    AskApproval,
    Decision,
    Escalate,
    FailRun,
    RecordDraft,
    ReturnToModel,
    RunTool,
    StopAtCeiling,
    consequence,
)
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
        """Record ``decision`` for ``call``, then do what it leads to."""
        self.seal(
            [
                PolicyDecided(
                    call_id=call.call.id,
                    tool=call.call.name,
                    decision=decision.kind,
                    rule=decision.rule,
                    reason=decision.reason,
                    invalid_arguments=decision.invalid_arguments,
                )
            ],
            span_id=call.call.id,
        )
        await self.follow(call, decision)

    def is_write(self, tool_name: str) -> bool:
        tool = self.runner.registry.get(tool_name)
        return tool is not None and tool.effect == "write"

    @staticmethod
    def _draft(call: CallState) -> DraftRecorded:
        return DraftRecorded(
            call_id=call.call.id, tool=call.call.name, arguments=call.call.arguments
        )

    async def follow(self, call: CallState, decision: Decision) -> None:
        """Do what the (recorded) ``decision`` about ``call`` leads to, per policy."""
        write = self.is_write(call.call.name)
        outcome = consequence(decision, self.workflow.contract, self.state, write=write)
        match outcome:
            case RunTool():
                await execute(self, call)
            case AskApproval():
                await request_approval(self, call, decision)
            case RecordDraft():
                await self.record([self._draft(call)], span_id=call.call.id)
            case ReturnToModel():
                await self.flush()
            case _:
                await self.conclude(decision, outcome, call)

    # --- endings and bookkeeping -----------------------------------------------------

    async def conclude(
        self,
        decision: Decision,
        outcome: Escalate | StopAtCeiling | FailRun | ReturnToModel,
        call: CallState | None = None,
    ) -> None:
        """Escalate, stop at a ceiling, or fail, as ``outcome`` says."""
        match outcome:
            case Escalate():
                self.seal([self._escalated(decision, outcome.mode)])
                if outcome.end:
                    await self.finish(outcome.outcome, decision.reason)
                else:
                    await self.flush()
            case StopAtCeiling(mode=mode, draft=draft):
                self.seal([_limit_reached(decision)])
                if mode is None:
                    await self.finish("failed", decision.reason)
                    return
                if draft and call is not None:
                    self.seal([self._draft(call)], span_id=call.call.id)
                self.seal([self._escalated(decision, mode)])
                await self.finish(
                    "escalated" if mode == "handoff" else "draft_only", decision.reason
                )
            case FailRun():
                await self.finish("failed", decision.reason)
            case ReturnToModel():
                await self.flush()
            case _:
                assert_never(outcome)

    @staticmethod
    def _escalated(decision: Decision, mode: EscalationMode) -> Escalated:
        trigger: EscalationTrigger = decision.trigger or "policy_violation"
        return Escalated(trigger=trigger, mode=mode, rule=decision.rule, reason=decision.reason)

    async def stop(self, decision: Decision, *, call: bool = False) -> None:
        """A run-level denial (a ceiling, the model failing, required steps missing)."""
        outcome = consequence(decision, self.workflow.contract, self.state, call=call)
        assert isinstance(outcome, Escalate | StopAtCeiling | FailRun | ReturnToModel)
        await self.conclude(decision, outcome)

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


def _limit_reached(decision: Decision) -> LimitReached:
    return LimitReached(
        limit=decision.limit or decision.rule,
        value=decision.value or 0.0,
        ceiling=decision.ceiling or 0.0,
        rule=decision.rule,
        reason=decision.reason,
    )
