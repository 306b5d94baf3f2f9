"""One run being driven: the loop's steps, each recorded before it takes effect.

Every step is decided from ``RunState``, the fold of the run's own log, so a resumed
run continues exactly where its log ends.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from typing import TYPE_CHECKING, Any

import orjson

from proctor.errors import CredentialDenied, ModelError
from proctor.gateway import (
    REPLY_PRIMING_TOKENS,
    CallSettings,
    Gateway,
    GatewayError,
    ModelRequest,
    tool_cache_key,
)
from proctor.policy import Decision, ProposedCall
from proctor.runtime._compaction import compact
from proctor.runtime._credentials import decided, denial, scrub
from proctor.runtime._routing import escalation_trigger
from proctor.runtime._transcript import Transcript
from proctor.store import (
    ApprovalRecord,
    ApprovalRequested,
    CacheHit,
    CallState,
    DraftRecorded,
    Escalated,
    EscalationMode,
    EscalationTrigger,
    Event,
    EventData,
    EventRow,
    LimitReached,
    ModelCalled,
    ModelRouted,
    Outcome,
    PolicyDecided,
    RunFinished,
    RunJournal,
    RunRecord,
    RunState,
    ToolFinished,
    ToolProposed,
    ToolStarted,
    digest,
)
from proctor.tools import ToolArgumentsError, ToolContext

if TYPE_CHECKING:
    from proctor.runtime._runner import Runner

logger = logging.getLogger("proctor.runtime")


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
        self._count_prompts = gateway.limiter is not None or gateway.router.limiter is not None
        model = runner.workflow.contract.model
        self._settings = (
            CallSettings(max_tokens=model.max_tokens, temperature=model.temperature)
            if model.max_tokens is not None or model.temperature is not None
            else None
        )
        self.record_row = record
        self.state = RunState()
        self.transcript = Transcript()
        self._pending: list[EventRow] = []
        self._pending_data: list[EventData] = []
        self._batch_start = (journal.last_seq, journal.head_hash)

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
        if not self._pending:
            self._batch_start = (self.journal.last_seq, self.journal.head_hash)
        for item in items:
            row, event = self.journal.build(item, span_id=span_id)
            self._pending.append(row)
            self._pending_data.append(item)
            self.observe([event])

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
        rows, items = self._pending, self._pending_data
        self._pending, self._pending_data = [], []
        run = None
        if approval is not None or finish is not None or self._status_changes(items):
            run = self._updated_record()
        try:
            await self.journal.store.append(rows, run=run, approval=approval)
        except BaseException:
            self.journal.last_seq, self.journal.head_hash = self._batch_start
            raise

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

    @staticmethod
    def _status_changes(items: list[EventData]) -> bool:
        return any(item.type in ("run_resumed", "approval_requested") for item in items)

    async def drive(self) -> None:
        state = self.state
        while state.status == "running":
            call = state.next_call()
            if call is not None:
                await self._advance(call)
            elif state.answered:
                await self._finish_answered()
            else:
                await self._model_turn()

    # --- model turns -------------------------------------------------------------

    async def _model_turn(self) -> None:
        now = time.time()
        limit = self.policy.check_limits(self.state, now=now)
        if limit is not None:
            await self._escalate_or_stop(limit)
            return
        route = self._route_for_turn()
        contract = self.workflow.contract
        if contract.model.context_tokens is not None:
            await self._compact(contract.model.context_tokens)
        ceiling = contract.limits.max_cost_usd
        request = ModelRequest(
            messages=self.transcript.messages,  # read-only for the model (a Sequence)
            tools=self.runner.specs,
            route=route,
            settings=self._settings,
            budget_usd=None if ceiling is None else max(0.0, ceiling - self.state.cost_usd),
            # Counted only where something needs it: the budget, a rate limit.
            prompt_tokens=self.prompt_tokens()
            if ceiling is not None or self._count_prompts
            else None,
        )
        remaining = self._remaining_runtime(now)
        started = time.perf_counter()
        try:
            if remaining is None:
                result = await self.gateway.complete(request)
            else:
                async with asyncio.timeout(remaining):
                    result = await self.gateway.complete(request)
        except TimeoutError:
            limit = self.policy.check_limits(self.state, now=time.time() + 1e-3) or Decision(
                kind="deny",
                rule="limit.max_runtime_seconds",
                reason="the model call ran past the run's runtime ceiling",
                trigger="budget_exceeded",
            )
            await self._escalate_or_stop(limit)
            return
        except GatewayError as exc:
            self.seal(list(exc.events))
            if exc.kind == "budget":
                await self._escalate_or_stop(
                    Decision(
                        kind="deny",
                        rule="limit.max_cost_usd",
                        reason=str(exc),
                        trigger="budget_exceeded",
                        limit="max_cost_usd",
                        value=round(self.state.cost_usd, 8),
                        ceiling=ceiling,
                    )
                )
            else:
                await self._model_failed(str(exc))
            return
        except ModelError as exc:
            await self._model_failed(str(exc))
            return
        response = result.response
        called = ModelCalled(
            model=response.model,
            turn=self.state.model_calls + 1,
            messages_digest=self.transcript.digest(),
            usage=response.usage,
            cost_usd=result.cost_usd,
            latency_ms=round((time.perf_counter() - started) * 1000, 3),
            cache_hit=result.cache_hit,
            finish_reason=response.finish_reason,
            tool_call_count=len(response.tool_calls),
            text=response.text,
            tool_calls=list(response.tool_calls),
        )
        # Written with the first action it leads to (a decision, an approval request, the
        # end): that write always precedes any tool's side effect.
        self.seal([*result.events, called])

    def prompt_tokens(self) -> int:
        """Estimated size of the next prompt, from running counts (no pass over it)."""
        return self.transcript.tokens() + self.runner.specs_tokens() + REPLY_PRIMING_TOKENS

    async def _compact(self, target: int) -> None:
        cheap = self.workflow.contract.model.default
        route = cheap if cheap in self.gateway.routes else self.start_route
        try:
            compacted = await compact(
                self.transcript,
                self.runner.specs,
                target=target,
                gateway=self.gateway,
                route=route,
                before=self.prompt_tokens(),
            )
        except ModelError as exc:
            # An uncompressed prompt still works; a failed summary must not end the run.
            logger.warning("run %s: context compaction failed: %s", self.journal.run_id, exc)
            return
        if compacted is not None:
            self.seal([compacted])

    async def _model_failed(self, reason: str) -> None:
        decision = Decision(
            kind="deny",
            rule="escalation.on_model_error",
            reason=f"model error: {reason}",
            trigger="model_error",
        )
        mode = self.workflow.contract.escalation.mode_for("model_error")
        if mode is None:
            await self._finish("failed", decision.reason)
        else:
            await self._escalate(decision, mode, end=True)

    def _route_for_turn(self) -> str:
        """The route of the next model call; a switch is recorded with its trigger."""
        current = self.state.route
        escalate_to = self.workflow.contract.model.escalate_to
        if current is None:
            target, trigger, reason = self.start_route, "start", "the run starts on its route"
        elif escalate_to is not None and current != escalate_to:
            why = escalation_trigger(self.state, self.workflow)
            if why is None:
                return current
            target, (trigger, reason) = escalate_to, why
        else:
            return current
        self.seal(
            [ModelRouted(from_route=current, to_route=target, trigger=trigger, reason=reason)]
        )
        return target

    async def _finish_answered(self) -> None:
        missing = self.policy.missing_steps(self.state)
        if not missing and self.state.draft_only:
            await self._finish("draft_only", "final answer given; writes were recorded as drafts")
            return
        if not missing:
            await self._finish("resolved", "the model gave its final answer")
            return
        decision = Decision(
            kind="deny",
            rule="contract.required_steps",
            reason="the run cannot end resolved: required steps missing: " + ", ".join(missing),
            trigger="policy_violation",
        )
        mode = self.workflow.contract.escalation.mode_for("policy_violation")
        if mode is None:
            await self._finish("failed", decision.reason)
        else:
            await self._escalate(decision, mode, end=True)

    # --- tool calls ----------------------------------------------------------------

    async def _advance(self, call: CallState) -> None:
        """Take the next step for ``call``, according to what the log already holds."""
        if call.step is None:
            await self._propose(call)
        elif call.decision is None:  # the process died between proposal and decision
            await self._decide(call)
        elif call.decision == "require_approval":
            await self._after_approval(call)
        else:  # allowed, but the process died before the result was recorded
            await self._execute(call)

    async def _propose(self, call: CallState) -> None:
        recorded = call.call
        # Sealed (folded) before the decision, so policy sees this proposal counted.
        self.seal(
            [
                ToolProposed(
                    call_id=recorded.id,
                    step=self.state.tool_calls,
                    tool=recorded.name,
                    args_digest=digest({"tool": recorded.name, "arguments": recorded.arguments}),
                    arguments=recorded.arguments,
                    raw_arguments=recorded.raw_arguments,
                )
            ],
            span_id=recorded.id,
        )
        await self._decide(call)

    async def _decide(self, call: CallState) -> None:
        recorded = call.call
        tool = self.runner.registry.get(recorded.name)
        invalid = None
        if recorded.raw_arguments is not None:
            invalid = (
                f"arguments for {recorded.name} are not a JSON object: "
                f"{recorded.raw_arguments[:200]!r}"
            )
        elif tool is not None:
            try:
                tool.validate(recorded.arguments)
            except ToolArgumentsError as exc:
                invalid = f"{exc}. Call {tool.name} again with arguments matching its schema"
        proposed = ProposedCall(
            name=recorded.name,
            arguments=recorded.arguments,
            args_digest=call.args_digest or "",
            tool=tool,
            invalid=invalid,
        )
        await self._apply_decision(call, self.policy.decide(proposed, self.state))

    async def _apply_decision(self, call: CallState, decision: Decision) -> None:
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
            await self._on_denied(call, decision)
        elif self.state.draft_only and self._is_write(name):
            await self.record([self._draft(call)], span_id=call.call.id)
        elif decision.kind == "require_approval":
            await self._request_approval(call, decision)
        else:
            await self._execute(call)

    def _is_write(self, tool_name: str) -> bool:
        tool = self.runner.registry.get(tool_name)
        return tool is not None and tool.effect == "write"

    @staticmethod
    def _draft(call: CallState) -> DraftRecorded:
        return DraftRecorded(
            call_id=call.call.id, tool=call.call.name, arguments=call.call.arguments
        )

    async def _on_denied(self, call: CallState, decision: Decision) -> None:
        if decision.trigger is None:  # e.g. invalid arguments: the model gets the error
            await self.flush()
        elif decision.trigger == "budget_exceeded":
            await self._escalate_or_stop(decision, call=call)
        else:
            mode = self.workflow.contract.escalation.mode_for(decision.trigger)
            if mode is None or (mode == "draft_only" and self.state.draft_only):
                await self.flush()
            else:
                await self._escalate(decision, mode, end=mode == "handoff")

    async def _escalate_or_stop(self, decision: Decision, call: CallState | None = None) -> None:
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
            await self._finish("failed", decision.reason)
            return
        if mode == "draft_only" and call is not None and self._is_write(call.call.name):
            self.seal([self._draft(call)], span_id=call.call.id)
        await self._escalate(decision, mode, end=True)

    async def _escalate(self, decision: Decision, mode: EscalationMode, *, end: bool) -> None:
        trigger: EscalationTrigger = decision.trigger or "policy_violation"
        self.seal(
            [Escalated(trigger=trigger, mode=mode, rule=decision.rule, reason=decision.reason)]
        )
        if end:
            await self._finish("escalated" if mode == "handoff" else "draft_only", decision.reason)
        else:
            await self.flush()

    async def _request_approval(self, call: CallState, decision: Decision) -> None:
        approval_id = "ap_" + secrets.token_hex(6)
        args_digest = call.args_digest or ""
        requested = ApprovalRequested(
            approval_id=approval_id,
            call_id=call.call.id,
            tool=call.call.name,
            args_digest=args_digest,
            rule=decision.rule,
            reason=decision.reason,
            arguments=call.call.arguments,
        )
        # The approvals table shows what the log keeps: redacted arguments and reason.
        shown: dict[str, Any] = {"arguments": call.call.arguments, "reason": decision.reason}
        if self.runner.redact is not None:
            shown = self.runner.redact(shown)
        approval = ApprovalRecord(
            approval_id=approval_id,
            run_id=self.journal.run_id,
            call_id=call.call.id,
            tool=call.call.name,
            args_digest=args_digest,
            arguments=shown["arguments"],
            rule=decision.rule,
            reason=shown["reason"],
            requested_at=time.time(),
        )
        await self.record([requested], span_id=call.call.id, approval=approval)

    async def _after_approval(self, call: CallState) -> None:
        if call.approval is None:  # the process died between decision and request
            decision = Decision(
                kind="require_approval", rule=call.rule or "", reason=call.reason or ""
            )
            await self._request_approval(call, decision)
        elif call.approval == "approved":
            granted = Decision(kind="allow", rule="approval.granted", reason="approved by a person")
            await self._apply_decision(call, granted)
        elif call.approval == "denied":
            denied = Decision(
                kind="deny",
                rule="approval.denied",
                reason=f"the approver denied {call.call.name}",
                trigger="policy_violation",
            )
            await self._apply_decision(call, denied)
        # pending: the loop stops, because the run's status is awaiting_approval

    async def _execute(self, call: CallState) -> None:
        """Run an allowed call; ``tool_started`` is durable before the tool runs."""
        tool = self.runner.registry.get(call.call.name)
        assert tool is not None
        assert call.step is not None
        if call.attempts > 0 and tool.effect == "write" and not tool.idempotent:
            # It may or may not have taken effect; running it again could do it twice.
            # (Reads have no effect to repeat, so they simply run again.)
            interrupted = ToolFinished(
                call_id=call.call.id,
                tool=tool.name,
                ok=False,
                latency_ms=0.0,
                error_type="Interrupted",
                error="the process stopped while this call ran and the tool is not idempotent, "
                "so it was not run again; check the target system before retrying",
            )
            await self._after_tool(call, interrupted)
            return
        if self.runner.redact is not None and self.runner.redactor.has_placeholder(
            call.call.arguments
        ):
            # A resumed call's arguments come from the log, which keeps them redacted; a
            # tool must never act on a placeholder such as [iban:redacted] instead.
            await self._after_tool(call, _redacted_arguments(call.call.id, tool.name))
            return
        cache_key = None
        # A scoped tool always runs, so that its credential is checked: no cached results.
        scoped = self.runner.credentials.scoped(tool.name)
        if tool.cacheable and self.gateway.cache is not None and call.attempts == 0 and not scoped:
            cache_key = tool_cache_key(tool.name, call.call.arguments)
            cached = await self.gateway.cache.get(cache_key)
            if cached is not None:
                self.seal(
                    [CacheHit(kind="tool", name=tool.name, key=cache_key)], span_id=call.call.id
                )
                hit = ToolFinished(
                    call_id=call.call.id,
                    tool=tool.name,
                    ok=True,
                    latency_ms=0.0,
                    result=orjson.loads(cached),
                )
                await self._after_tool(call, hit)
                return
        grant = self.runner.credentials.grant(
            run_id=self.journal.run_id,
            call_id=call.call.id,
            tool=tool.name,
            run_input=self.state.input,
        )
        if grant.denied is not None:  # its credential could not be issued: it does not run
            await self._apply_decision(call, grant.denied)
            return
        key = f"{self.journal.run_id}:{call.step}"
        started = ToolStarted(
            call_id=call.call.id, tool=tool.name, idempotency_key=key, attempt=call.attempts + 1
        )
        await self.record([*grant.events, started], span_id=call.call.id)
        context = ToolContext(
            run_id=self.journal.run_id,
            call_id=call.call.id,
            step=call.step,
            idempotency_key=key,
            logger=logging.getLogger(f"proctor.tools.{tool.name}"),
            credential=grant.credential,
        )
        clock = time.perf_counter()
        remaining = self._remaining_runtime(time.time())
        timeout = tool.timeout_s if remaining is None else min(tool.timeout_s, remaining)
        result: Any = None
        error: str | None = None
        error_type: str | None = None
        refused: Decision | None = None
        try:
            result = await tool.run(context, tool.validate(call.call.arguments), timeout_s=timeout)
        except TimeoutError:
            error_type, error = "Timeout", f"{tool.name} did not finish within {timeout:g} s"
        except Exception as exc:  # a tool's failure is recorded, never raised through the loop
            error_type, error = type(exc).__name__, str(exc) or type(exc).__name__
            refused = denial(exc) if isinstance(exc, CredentialDenied) else None
        if (
            cache_key is not None
            and error is None
            and self.gateway.cache is not None
            and self._recordable(result)
        ):
            await self.gateway.cache.set(cache_key, orjson.dumps(result), tool.cache_ttl_s)
        finished = ToolFinished(
            call_id=call.call.id,
            tool=tool.name,
            ok=error is None,
            latency_ms=round((time.perf_counter() - clock) * 1000, 3),
            error_type=error_type,
            result=scrub(result, grant.credential),
            error=scrub(error, grant.credential),
        )
        if refused is not None:  # the tool's credential did not cover the call
            self.seal([decided(call.call.id, tool.name, refused), finished], span_id=call.call.id)
            await self._on_denied(call, refused)
            return
        await self._after_tool(call, finished)

    async def _after_tool(self, call: CallState, finished: ToolFinished) -> None:
        self.seal([finished], span_id=call.call.id)
        mode = self.workflow.contract.escalation.mode_for("tool_error")
        if finished.ok or mode is None or (mode == "draft_only" and self.state.draft_only):
            # A write's result is durable before anything else happens. A read's result
            # goes out with the next write (at the latest after the next model call): if
            # the process dies first, the read simply runs again. One commit per step.
            if self._is_write(finished.tool):
                await self.flush()
            return
        decision = Decision(
            kind="deny",
            rule="escalation.on_tool_error",
            reason=f"{finished.tool} failed: {finished.error}",
            trigger="tool_error",
        )
        await self._escalate(decision, mode, end=mode == "handoff")

    def _recordable(self, result: Any) -> bool:
        """Whether ``result`` may be stored as it is: redaction would change nothing in it.

        The tool cache lives in the store and must hold real values, so a result holding
        personal data or secrets is not cached at all.
        """
        if self.runner.redact is None:
            return True
        return bool(self.runner.redact({"result": result})["result"] == result)

    # --- endings and bookkeeping -----------------------------------------------------

    async def _finish(self, outcome: Outcome, reason: str) -> None:
        await self.flush(finish=(outcome, reason))

    def _remaining_runtime(self, now: float) -> float | None:
        ceiling = self.workflow.contract.limits.max_runtime_seconds
        if ceiling is None:
            return None
        return max(0.0, ceiling - self.state.active_seconds(now))

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


def _redacted_arguments(call_id: str, tool: str) -> ToolFinished:
    """The result of a call whose arguments hold redaction placeholders: it is not run."""
    return ToolFinished(
        call_id=call_id,
        tool=tool,
        ok=False,
        latency_ms=0.0,
        error_type="Redacted",
        error=f"{tool} was not run: its arguments hold redacted values (such as "
        "[email:redacted]), because the run's log keeps only those and this call was "
        "resumed from it, or because a redacted value was passed on. Call it again with "
        "the actual values; a workflow whose calls must survive a resume with such values "
        "can turn that detector off (redaction.detectors in the contract)",
    )
