"""Running an allowed tool call: the room where a tool takes effect.

``tool_started`` (with the call's idempotency key, and its credential's
``credential_issued``) is durable before the tool runs; the result, or the error, becomes
``tool_finished``. A write that may already have run and is not idempotent is not run
again, nor is a call whose arguments hold redaction placeholders. A cacheable tool's
result may come from the gateway's cache, and a clean one is stored there. A tool that
refuses the call because its credential does not cover it is a policy denial. The step
returns the result (``Ran``) or the denial (``Decided``) for the driver to follow.
"""

from __future__ import annotations

import functools
import logging
import time
from typing import Any

import orjson

from proctor.errors import CredentialDenied
from proctor.policy import Decision, credential_denied
from proctor.runtime._credentials import scrub
from proctor.runtime._deps import RunDeps
from proctor.runtime._live import LiveRun
from proctor.runtime._results import Decided, Ran
from proctor.store import CacheHit, CallState, ToolFinished, ToolStarted
from proctor.tools import ToolContext


async def run_tool(
    deps: RunDeps, run: LiveRun, call: CallState, arguments: dict[str, Any] | None = None
) -> Ran | Decided:
    """Run an allowed call (``arguments``: validated already); ``tool_started`` is durable
    before the tool runs."""
    tool = deps.registry.get(call.call.name)
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
        return Ran(call=call, finished=interrupted)
    if deps.redact is not None and deps.redactor.has_placeholder(call.call.arguments):
        # A resumed call's arguments come from the log, which keeps them redacted; a
        # tool must never act on a placeholder such as [iban:redacted] instead.
        return Ran(call=call, finished=_redacted_arguments(call.call.id, tool.name))
    cache_key = None
    cache = run.gateway.cache
    # A scoped tool always runs, so that its credential is checked: no cached results.
    scoped = deps.credentials.scoped(tool.name)
    if tool.cacheable and cache is not None and call.attempts == 0 and not scoped:
        cache_key = run.gateway.tool_cache_key(tool.name, call.call.arguments)
        cached = await cache.get(cache_key)
        if cached is not None:
            run.seal([CacheHit(kind="tool", name=tool.name, key=cache_key)], span_id=call.call.id)
            hit = ToolFinished(
                call_id=call.call.id,
                tool=tool.name,
                ok=True,
                latency_ms=0.0,
                result=orjson.loads(cached),
            )
            return Ran(call=call, finished=hit)
    grant = deps.credentials.grant(
        run_id=run.run_id,
        call_id=call.call.id,
        tool=tool.name,
        run_input=run.state.input,
        scopes=run.facts.scopes,
        arguments=call.call.arguments,
    )
    if grant.denied is not None:  # its credential could not be issued: it does not run
        return Decided(call=call, decision=grant.denied)
    key = f"{run.run_id}:{call.step}"
    started = ToolStarted(
        call_id=call.call.id, tool=tool.name, idempotency_key=key, attempt=call.attempts + 1
    )
    await run.write([*grant.events, started], span_id=call.call.id)
    context = ToolContext(
        run_id=run.run_id,
        call_id=call.call.id,
        step=call.step,
        idempotency_key=key,
        logger=_logger(tool.name),
        credential=grant.credential,
    )
    clock = time.perf_counter()
    remaining = deps.remaining_runtime(run.state, deps.clock())
    timeout = tool.timeout_s if remaining is None else min(tool.timeout_s, remaining)
    result: Any = None
    error: str | None = None
    error_type: str | None = None
    refused: Decision | None = None
    try:
        if arguments is None:
            arguments = tool.validate(call.call.arguments)
        result = await tool.run(context, arguments, timeout_s=timeout)
    except TimeoutError:
        error_type, error = "Timeout", f"{tool.name} did not finish within {timeout:g} s"
    except Exception as exc:  # a tool's failure is recorded, never raised through the loop
        error_type, error = type(exc).__name__, str(exc) or type(exc).__name__
        refused = credential_denied(str(exc)) if isinstance(exc, CredentialDenied) else None
    if cache_key is not None and error is None and cache is not None and _recordable(deps, result):
        await cache.set(cache_key, orjson.dumps(result), tool.cache_ttl_s)
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
        return Decided(call=call, decision=refused, finished=finished)
    return Ran(call=call, finished=finished)


@functools.cache
def _logger(tool: str) -> logging.Logger:
    return logging.getLogger(f"proctor.tools.{tool}")


def _recordable(deps: RunDeps, result: Any) -> bool:
    """Whether ``result`` may be stored as it is: redaction would change nothing in it.

    The tool cache lives in the store and must hold real values, so a result holding
    personal data or secrets is not cached at all.
    """
    if deps.redact is None:
        return True
    return bool(deps.redact({"result": result})["result"] == result)


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
