"""A proposed tool call up to its policy decision: the room where a call is judged.

``advance`` takes a call of the latest model turn from whatever stage its log records
(new, proposed, decided, waiting for a person, or started) to its next step, so a resumed
run picks each call up where it stopped. A new call is recorded as ``tool_proposed`` with
its step number; its arguments are checked against the tool's schema and ``Policy.decide``
judges it. What the decision leads to is the driver's to carry out.
"""

from __future__ import annotations

from typing import Any

from proctor.policy import ProposedCall
from proctor.runtime._deps import RunDeps
from proctor.runtime._live import LiveRun
from proctor.runtime._results import Allowed, Attend, Decided, Step
from proctor.store import CallState, ToolProposed, digest, keyed_digest
from proctor.tools import ToolArgumentsError


def advance(deps: RunDeps, run: LiveRun, call: CallState) -> Step:
    """The next step for ``call``, according to what the log already holds."""
    if call.step is None:
        _propose(run, call)
        return _decide(deps, run, call)
    if call.decision is None:  # the process died between proposal and decision
        return _decide(deps, run, call)
    if call.decision == "require_approval":
        return Attend(call.call.id)
    return Allowed(call)  # allowed, but the process died before the result was recorded


def _propose(run: LiveRun, call: CallState) -> None:
    recorded = call.call
    # Sealed (folded) before the decision, so policy sees this proposal counted.
    run.seal(
        [
            ToolProposed(
                call_id=recorded.id,
                step=run.state.tool_calls,
                tool=recorded.name,
                args_digest=_args_digest(run, recorded.name, recorded.arguments),
                arguments=recorded.arguments,
                raw_arguments=recorded.raw_arguments,
            )
        ],
        span_id=recorded.id,
    )


def _decide(deps: RunDeps, run: LiveRun, call: CallState) -> Decided:
    recorded = call.call
    tool = deps.registry.get(recorded.name)
    invalid = arguments = None
    if recorded.raw_arguments is not None:
        invalid = (
            f"arguments for {recorded.name} are not a JSON object: {recorded.raw_arguments[:200]!r}"
        )
    elif tool is not None:
        try:
            arguments = tool.validate(recorded.arguments)
        except ToolArgumentsError as exc:
            invalid = f"{exc}. Call {tool.name} again with arguments matching its schema"
    proposed = ProposedCall(
        name=recorded.name,
        arguments=recorded.arguments,
        args_digest=call.args_digest or "",
        tool=tool,
        invalid=invalid,
    )
    decision = deps.policy.decide(proposed, run.state, now=deps.clock(), facts=run.facts)
    return Decided(call=call, decision=decision, arguments=arguments)


def _args_digest(run: LiveRun, tool: str, arguments: dict[str, Any]) -> str:
    """What binds an approval to its exact call: keyed, since the arguments it digests are
    raw (an unkeyed digest of a masked card number gives the number back to a guess)."""
    call = {"tool": tool, "arguments": arguments}
    return digest(call) if run.secret is None else keyed_digest(run.secret, call)
