"""One model turn of a run: the room where the loop talks to the model.

Before each call it checks the run's limits, picks the turn's route (recording a switch to
the stronger route with its trigger) and compacts the prompt if the contract sets a context
target; then it sends the transcript through the gateway and seals the reply as
``model_called``, to be written with the first thing it leads to. A gateway or model
failure ends the run or escalates it, per the contract. A reply without tool calls is the
run's answer, and ``finish_answered`` ends the run with it, unless required steps are
missing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from proctor.errors import ModelError
from proctor.gateway import GatewayError, ModelRequest
from proctor.policy import cost_refused, model_failed, runtime_exceeded
from proctor.runtime._compaction import compact
from proctor.runtime._routing import escalation_trigger
from proctor.store import ModelCalled, ModelRouted

if TYPE_CHECKING:
    from proctor.runtime._driver import Execution

logger = logging.getLogger("proctor.runtime")


async def model_turn(ex: Execution) -> None:
    """Ask the model for the next step, within the run's limits."""
    now = time.time()
    limit = ex.policy.check_limits(ex.state, now=now)
    if limit is not None:
        await ex.stop(limit)
        return
    route = _route_for_turn(ex)
    contract = ex.workflow.contract
    if contract.model.context_tokens is not None:
        await _compact(ex, contract.model.context_tokens)
    ceiling = contract.limits.max_cost_usd
    request = ModelRequest(
        messages=ex.transcript.messages,  # read-only for the model (a Sequence)
        tools=ex.runner.specs,
        route=route,
        settings=ex.settings,
        budget_usd=None if ceiling is None else max(0.0, ceiling - ex.state.cost_usd),
        # Counted only where something needs it: the budget, a rate limit.
        prompt_tokens=ex.prompt_tokens() if ceiling is not None or ex.count_prompts else None,
        # The response cache keeps answers as they are: only those redaction leaves alone.
        cache_if=ex.runner.clean_answer if ex.runner.redact is not None else None,
    )
    remaining = ex.remaining_runtime(now)
    started = time.perf_counter()
    try:
        if remaining is None:
            result = await ex.gateway.complete(request)
        else:
            async with asyncio.timeout(remaining):
                result = await ex.gateway.complete(request)
    except TimeoutError:
        limit = ex.policy.check_limits(ex.state, now=time.time() + 1e-3) or runtime_exceeded()
        await ex.stop(limit)
        return
    except GatewayError as exc:
        ex.seal(list(exc.events))
        if exc.kind == "budget":
            await ex.stop(cost_refused(str(exc), spent=ex.state.cost_usd, ceiling=ceiling))
        else:
            await ex.stop(model_failed(str(exc)))
        return
    except ModelError as exc:
        await ex.stop(model_failed(str(exc)))
        return
    response = result.response
    called = ModelCalled(
        model=response.model,
        turn=ex.state.model_calls + 1,
        messages_digest=ex.transcript.digest(),
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
    ex.seal([*result.events, called])


async def finish_answered(ex: Execution) -> None:
    """End a run whose model gave its final answer, if the contract's steps were taken."""
    refused = ex.policy.check_finish(ex.state)
    if refused is not None:
        await ex.stop(refused)
    elif ex.state.draft_only:
        await ex.finish("draft_only", "final answer given; writes were recorded as drafts")
    else:
        await ex.finish("resolved", "the model gave its final answer")


def _route_for_turn(ex: Execution) -> str:
    """The route of the next model call; a switch is recorded with its trigger."""
    current = ex.state.route
    escalate_to = ex.workflow.contract.model.escalate_to
    if current is None:
        target, trigger, reason = ex.start_route, "start", "the run starts on its route"
    elif escalate_to is not None and current != escalate_to:
        why = escalation_trigger(ex.state, ex.workflow)
        if why is None:
            return current
        target, (trigger, reason) = escalate_to, why
    else:
        return current
    ex.seal([ModelRouted(from_route=current, to_route=target, trigger=trigger, reason=reason)])
    return target


async def _compact(ex: Execution, target: int) -> None:
    cheap = ex.workflow.contract.model.default
    route = cheap if cheap in ex.gateway.routes else ex.start_route
    try:
        compacted = await compact(
            ex.transcript,
            ex.runner.specs,
            target=target,
            gateway=ex.gateway,
            route=route,
            before=ex.prompt_tokens(),
        )
    except ModelError as exc:
        # An uncompressed prompt still works; a failed summary must not end the run.
        logger.warning("run %s: context compaction failed: %s", ex.journal.run_id, exc)
        return
    if compacted is not None:
        ex.seal([compacted])
