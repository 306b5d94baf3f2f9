"""A proposed tool call up to its policy decision: the room where a call is judged.

``advance`` takes a call of the latest model turn from whatever stage its log records
(new, proposed, decided, waiting for a person, or started) to its next step, so a resumed
run picks each call up where it stopped. A new call is recorded as ``tool_proposed`` with
its step number; its arguments are checked against the tool's schema and ``Policy.decide``
judges it. What a decision leads to (denial, draft, approval request, running the tool) is
``Execution.apply_decision``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from proctor.policy import ProposedCall
from proctor.runtime._approvals import after_approval
from proctor.runtime._tool_run import execute
from proctor.store import CallState, ToolProposed, digest
from proctor.tools import ToolArgumentsError

if TYPE_CHECKING:
    from proctor.runtime._driver import Execution


async def advance(ex: Execution, call: CallState) -> None:
    """Take the next step for ``call``, according to what the log already holds."""
    if call.step is None:
        await _propose(ex, call)
    elif call.decision is None:  # the process died between proposal and decision
        await _decide(ex, call)
    elif call.decision == "require_approval":
        await after_approval(ex, call)
    else:  # allowed, but the process died before the result was recorded
        await execute(ex, call)


async def _propose(ex: Execution, call: CallState) -> None:
    recorded = call.call
    # Sealed (folded) before the decision, so policy sees this proposal counted.
    ex.seal(
        [
            ToolProposed(
                call_id=recorded.id,
                step=ex.state.tool_calls,
                tool=recorded.name,
                args_digest=digest({"tool": recorded.name, "arguments": recorded.arguments}),
                arguments=recorded.arguments,
                raw_arguments=recorded.raw_arguments,
            )
        ],
        span_id=recorded.id,
    )
    await _decide(ex, call)


async def _decide(ex: Execution, call: CallState) -> None:
    recorded = call.call
    tool = ex.runner.registry.get(recorded.name)
    invalid = None
    if recorded.raw_arguments is not None:
        invalid = (
            f"arguments for {recorded.name} are not a JSON object: {recorded.raw_arguments[:200]!r}"
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
    await ex.apply_decision(call, ex.policy.decide(proposed, ex.state))
