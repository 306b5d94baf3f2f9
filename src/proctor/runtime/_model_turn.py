"""One model turn of a run: the room where the loop talks to the model.

Before each call it checks the run's limits, picks the turn's route (recording a switch to
the stronger route with its trigger) and compacts the prompt if the contract sets a context
target; then it sends the transcript through the gateway and seals the reply as
``model_called``, to be written with the first thing it leads to. A ceiling, a gateway or
a model failure is a ``Denied`` for the driver (the contract says where it leads). A reply
without tool calls is the run's answer: ``answered`` ends the run with it, unless required
steps are missing.
"""

from __future__ import annotations

import asyncio
import logging
import time

from proctor.errors import ModelError
from proctor.gateway import REPLY_PRIMING_TOKENS, GatewayError, ModelRequest
from proctor.policy import cost_refused, model_failed, runtime_exceeded
from proctor.runtime._compaction import compact
from proctor.runtime._deps import RunDeps
from proctor.runtime._live import LiveRun
from proctor.runtime._results import NEXT, Denied, Ended, Next
from proctor.runtime._routing import escalation_trigger
from proctor.store import AnswerRefused, ModelCalled, ModelRouted

logger = logging.getLogger("proctor.runtime")


async def model_turn(deps: RunDeps, run: LiveRun) -> Next | Denied:
    """Ask the model for the next step, within the run's limits."""
    state = run.state
    now = deps.clock()
    limit = deps.policy.check_limits(state, now=now)
    if limit is not None:
        return Denied(limit)
    route = _route_for_turn(deps, run)
    contract = deps.contract
    if contract.model.context_tokens is not None:
        await _compact(deps, run, contract.model.context_tokens)
    ceiling = contract.limits.max_cost_usd
    request = ModelRequest(
        messages=run.transcript.messages,  # read-only for the model (a Sequence)
        tools=deps.specs,
        route=route,
        settings=deps.settings,
        budget_usd=None if ceiling is None else max(0.0, ceiling - state.cost_usd),
        # Counted only where something needs it: the budget, a rate limit.
        prompt_tokens=_prompt_tokens(deps, run)
        if ceiling is not None or run.count_prompts
        else None,
        # The response cache keeps answers as they are: only those redaction leaves alone.
        cache_if=deps.clean_answer if deps.redact is not None else None,
    )
    remaining = deps.remaining_runtime(state, now)
    started = time.perf_counter()
    try:
        if remaining is None:
            result = await run.gateway.complete(request)
        else:
            async with asyncio.timeout(remaining):
                result = await run.gateway.complete(request)
    except TimeoutError:
        limit = deps.policy.check_limits(state, now=deps.clock() + 1e-3)
        return Denied(limit or runtime_exceeded())
    except GatewayError as exc:
        run.seal(list(exc.events))
        if exc.kind == "budget":
            return Denied(cost_refused(str(exc), spent=state.cost_usd, ceiling=ceiling))
        return Denied(model_failed(str(exc)))
    except ModelError as exc:
        return Denied(model_failed(str(exc)))
    response = result.response
    called = ModelCalled(
        model=response.model,
        turn=state.model_calls + 1,
        messages_digest=run.transcript.digest(),
        usage=response.usage,
        cost_usd=result.cost_usd,
        latency_ms=round((time.perf_counter() - started) * 1000, 3),
        cache_hit=result.cache_hit,
        finish_reason=response.finish_reason,
        tool_call_count=len(response.tool_calls),
        response_id=response.response_id,
        max_tokens=None if deps.settings is None else deps.settings.max_tokens,
        temperature=None if deps.settings is None else deps.settings.temperature,
        text=response.text,
        tool_calls=list(response.tool_calls),
    )
    # Written with the first action it leads to (a decision, an approval request, the
    # end): that write always precedes any tool's side effect.
    run.seal([*result.events, called])
    return NEXT


def answered(deps: RunDeps, run: LiveRun) -> Ended | Denied | Next:
    """The end of a run whose model gave its final answer, if the contract's steps were
    taken and the answer passes the contract's ``final:`` checks (a refused answer goes
    back to the model, or ends the run as the check says)."""
    refused = deps.policy.check_finish(run.state)
    if refused is not None:
        return Denied(refused)
    state = run.state
    unfit = deps.policy.check_answer(
        state.final_text or "", state, facts=run.facts, now=deps.clock()
    )
    if unfit is not None:
        if unfit.on_violation not in (None, "deny_and_continue"):
            return Denied(unfit)
        run.seal([AnswerRefused(rule=unfit.rule, reason=unfit.reason)])
        return NEXT
    if run.state.draft_only:
        return Ended(
            outcome="draft_only", reason="final answer given; writes were recorded as drafts"
        )
    return Ended(outcome="resolved", reason="the model gave its final answer")


def _prompt_tokens(deps: RunDeps, run: LiveRun) -> int:
    """Estimated size of the next prompt, from running counts (no pass over it)."""
    return run.transcript.tokens() + deps.specs_tokens() + REPLY_PRIMING_TOKENS


def _route_for_turn(deps: RunDeps, run: LiveRun) -> str:
    """The route of the next model call; a switch is recorded with its trigger."""
    current = run.state.route
    escalate_to = deps.contract.model.escalate_to
    if current is None:
        target, trigger, reason = run.route, "start", "the run starts on its route"
    elif escalate_to is not None and current != escalate_to:
        why = escalation_trigger(run.state, deps.workflow)
        if why is None:
            return current
        target, (trigger, reason) = escalate_to, why
    else:
        return current
    run.seal([ModelRouted(from_route=current, to_route=target, trigger=trigger, reason=reason)])
    return target


async def _compact(deps: RunDeps, run: LiveRun, target: int) -> None:
    cheap = deps.contract.model.default
    route = cheap if cheap in run.gateway.routes else run.route
    try:
        compacted = await compact(
            run.transcript,
            deps.specs,
            target=target,
            gateway=run.gateway,
            route=route,
            before=_prompt_tokens(deps, run),
        )
    except ModelError as exc:
        # An uncompressed prompt still works; a failed summary must not end the run.
        logger.warning("run %s: context compaction failed: %s", run.run_id, exc)
        return
    if compacted is not None:
        run.seal([compacted])
