"""The loop's one driver: it runs a step, matches on what the step returns, and routes.

Every step is decided from ``RunState``, the fold of the run's own log, so a resumed run
continues exactly where its log ends: the next call of the latest model turn is advanced
(``_tool_calls``), an answered run ends, and otherwise the model is asked
(``_model_turn``). Steps return results (``_results``) and never call back here. What a
decision leads to is policy's ``consequence``; the driver carries it out: it runs the
tool (``_tool_run``), asks for approval (``_approvals``, ``_checker``), records a draft,
returns a denial to the model, escalates, stops at a ceiling, or ends the run.
"""

from __future__ import annotations

from typing import Any, assert_never

from proctor.policy import (
    AskApproval,
    Consequence,
    Decision,
    Escalate,
    FailRun,
    RecordDraft,
    ReturnToModel,
    RunTool,
    StopAtCeiling,
    consequence,
    tool_failed,
)
from proctor.runtime._approvals import after_approval, request_approval
from proctor.runtime._checker import consult_checker
from proctor.runtime._deps import RunDeps
from proctor.runtime._live import LiveRun
from proctor.runtime._model_turn import answered, model_turn
from proctor.runtime._results import (
    NEXT,
    Allowed,
    Ask,
    Attend,
    Consult,
    Decided,
    Denied,
    Ended,
    Next,
    Ran,
    Step,
    Waiting,
)
from proctor.runtime._tool_calls import advance
from proctor.runtime._tool_run import run_tool
from proctor.store import (
    CallState,
    DraftRecorded,
    Escalated,
    EscalationMode,
    EventData,
    LimitReached,
    PolicyDecided,
    ToolFinished,
)


async def drive(deps: RunDeps, run: LiveRun, step: Step = NEXT) -> None:
    """Drive ``run`` from ``step`` until it finishes or waits for a person."""
    while True:
        match step:
            case Next():
                if run.state.status != "running":
                    return
                step = await _next(deps, run)
            case Decided(call=call, decision=decision, arguments=arguments, finished=finished):
                recorded: list[EventData] = [_decided(call, decision)]
                if finished is not None:
                    recorded.append(finished)
                run.seal(recorded, span_id=call.call.id)
                step = await _follow(deps, run, decision, call, arguments)
            case Allowed(call=call, arguments=arguments):
                step = await run_tool(deps, run, call, arguments)
            case Ran(call=call, finished=finished):
                step = await _after_tool(deps, run, call, finished)
            case Ask(call=call, decision=decision):
                step = await request_approval(deps, run, call, decision)
            case Consult(call=call, approval=approval):
                step = await consult_checker(deps, run, call, approval)
            case Attend(call_id=call_id):
                step = await after_approval(deps, run, run.state.calls[call_id])
            case Denied(decision=decision):
                step = await _follow(deps, run, decision, None)
            case Ended(outcome=outcome, reason=reason):
                await run.finish(outcome, reason, now=deps.clock())
                return
            case Waiting():
                return
            case _:
                assert_never(step)


async def _next(deps: RunDeps, run: LiveRun) -> Step:
    """The step the run's state calls for."""
    call = run.state.next_call()
    if call is not None:
        return advance(deps, run, call)
    if run.state.answered:
        return answered(deps, run)
    return await model_turn(deps, run)


async def _follow(
    deps: RunDeps,
    run: LiveRun,
    decision: Decision,
    call: CallState | None,
    arguments: dict[str, Any] | None = None,
) -> Step:
    """Do what the (sealed) ``decision`` leads to, about ``call`` or the run as a whole."""
    write = call is not None and deps.is_write(call.call.name)
    outcome = consequence(decision, deps.contract, run.state, call=call is not None, write=write)
    return await _carry_out(run, decision, outcome, call, arguments)


async def _carry_out(
    run: LiveRun,
    decision: Decision,
    outcome: Consequence,
    call: CallState | None,
    arguments: dict[str, Any] | None = None,
) -> Step:
    match outcome:
        case RunTool():
            assert call is not None
            return Allowed(call, arguments)
        case AskApproval():
            assert call is not None
            return Ask(call=call, decision=decision)
        case RecordDraft():
            assert call is not None
            await run.write([_drafted(call)], span_id=call.call.id)
            return NEXT
        case ReturnToModel():
            await run.commit()
            return NEXT
        case Escalate(mode=mode, end=end):
            run.seal([_escalated(decision, mode)])
            if end:
                return Ended(outcome=outcome.outcome, reason=decision.reason)
            await run.commit()
            return NEXT
        case StopAtCeiling(mode=mode, draft=draft):
            run.seal([_limit_reached(decision)])
            if mode is not None:
                if draft and call is not None:
                    run.seal([_drafted(call)], span_id=call.call.id)
                run.seal([_escalated(decision, mode)])
            return Ended(outcome=outcome.outcome, reason=decision.reason)
        case FailRun():
            return Ended(outcome="failed", reason=decision.reason)
        case _:
            assert_never(outcome)


async def _after_tool(deps: RunDeps, run: LiveRun, call: CallState, finished: ToolFinished) -> Step:
    """Seal a call's result; a failure leads where the contract's ``on_tool_error`` says."""
    run.seal([finished], span_id=call.call.id)
    if not finished.ok:
        failed = tool_failed(finished.tool, finished.error)
        outcome = consequence(failed, deps.contract, run.state)
        if not isinstance(outcome, ReturnToModel):
            return await _carry_out(run, failed, outcome, call)
    # A write's result is durable before anything else happens. A read's result goes out
    # with the next write (at the latest after the next model call): if the process dies
    # first, the read simply runs again. One commit per step.
    if deps.is_write(finished.tool):
        await run.commit()
    return NEXT


# The event data the driver writes about a decision -------------------------------------


def _decided(call: CallState, decision: Decision) -> PolicyDecided:
    return PolicyDecided(
        call_id=call.call.id,
        tool=call.call.name,
        decision=decision.kind,
        rule=decision.rule,
        reason=decision.reason,
        invalid_arguments=decision.invalid_arguments,
    )


def _drafted(call: CallState) -> DraftRecorded:
    return DraftRecorded(call_id=call.call.id, tool=call.call.name, arguments=call.call.arguments)


def _limit_reached(decision: Decision) -> LimitReached:
    return LimitReached(
        limit=decision.limit or decision.rule,
        value=decision.value or 0.0,
        ceiling=decision.ceiling or 0.0,
        rule=decision.rule,
        reason=decision.reason,
    )


def _escalated(decision: Decision, mode: EscalationMode) -> Escalated:
    return Escalated(
        trigger=decision.trigger or "policy_violation",
        mode=mode,
        rule=decision.rule,
        reason=decision.reason,
    )
