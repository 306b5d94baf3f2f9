"""Cheap model first: when a run moves to its contract's ``escalate_to`` route."""

from __future__ import annotations

import json
import re

from proctor.runtime._workflow import Workflow
from proctor.store import RunState


def escalation_trigger(state: RunState, workflow: Workflow) -> tuple[str, str] | None:
    """The first trigger of ``model.escalate_on`` that has fired, as (trigger, reason).

    Derived from the folded state only, so a resumed run routes as the original did.
    """
    on = workflow.contract.model.escalate_on
    if on.invalid_tool_calls is not None and state.invalid_streak >= on.invalid_tool_calls:
        return "invalid_tool_calls", f"{state.invalid_streak} invalid tool calls in a row"
    if on.policy_denial and state.denied_since_turn:
        return "policy_denial", "a proposed call was denied by policy"
    if on.high_risk:
        for call_id in state.turn_calls:
            name = state.calls[call_id].call.name
            tool = workflow.registry.get(name)
            if tool is not None and tool.risk == "high":
                return "high_risk", f"the model proposed {name}, a high-risk tool"
    if on.confidence_below is not None:
        confidence = reported_confidence(state.last_text, on.confidence_field)
        if confidence is not None and confidence < on.confidence_below:
            return (
                "low_confidence",
                f"the model reported confidence {confidence:g} < {on.confidence_below:g}",
            )
    return None


def reported_confidence(text: str | None, field: str) -> float | None:
    """``field`` from a JSON answer, or from a ``field: value`` line; None if absent."""
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if isinstance(value, dict) and isinstance(value.get(field), int | float):
        return float(value[field])
    match = re.search(rf'"?{re.escape(field)}"?\s*[:=]\s*([0-9]*\.?[0-9]+)', text, re.IGNORECASE)
    return float(match.group(1)) if match else None
