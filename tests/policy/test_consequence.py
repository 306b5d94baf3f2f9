"""Policy owns rule ids and what each decision leads to (``consequence``)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

import proctor
from proctor.contracts import Contract
from proctor.policy import (
    RULE_IDS,
    AskApproval,
    Consequence,
    Decision,
    Escalate,
    FailRun,
    RecordDraft,
    ReturnToModel,
    RunTool,
    StopAtCeiling,
    approval_denied,
    approval_expired,
    approval_granted,
    consequence,
    cost_refused,
    credential_denied,
    model_failed,
    runtime_exceeded,
    tool_failed,
)
from proctor.store import EscalationTrigger, RunState

ALLOW = Decision(kind="allow", rule="default.allow", reason="ok")
ASK = Decision(kind="require_approval", rule="approval.big", reason="big")
INVALID = Decision(kind="deny", rule="schema.invalid_arguments", reason="bad")


def deny(trigger: EscalationTrigger) -> Decision:
    return Decision(kind="deny", rule="contract.forbidden_tool", reason="no", trigger=trigger)


def contract(**escalation: Any) -> Contract:
    return Contract.model_validate({"workflow": "w", "escalation": escalation})


def drafting() -> RunState:
    return RunState(draft_only=True)


@pytest.mark.parametrize(
    ("decision", "terms", "state", "options", "expected"),
    [
        (ALLOW, {}, RunState(), {}, RunTool()),
        (ASK, {}, RunState(), {}, AskApproval()),
        (ALLOW, {}, drafting(), {"write": True}, RecordDraft()),
        (ASK, {}, drafting(), {"write": True}, RecordDraft()),
        (ALLOW, {}, drafting(), {"write": False}, RunTool()),
        (INVALID, {"on_policy_violation": True}, RunState(), {}, ReturnToModel()),
        (deny("policy_violation"), {}, RunState(), {}, ReturnToModel()),
        (
            deny("policy_violation"),
            {"on_policy_violation": True},
            RunState(),
            {},
            Escalate(mode="handoff", end=True),
        ),
        (
            deny("policy_violation"),
            {"on_policy_violation": "draft_only"},
            RunState(),
            {},
            Escalate(mode="draft_only", end=False),
        ),
        (
            deny("policy_violation"),
            {"on_policy_violation": "draft_only"},
            drafting(),
            {},
            ReturnToModel(),
        ),
        (deny("budget_exceeded"), {}, RunState(), {}, StopAtCeiling(mode="handoff")),
        (
            deny("budget_exceeded"),
            {"on_budget_exceeded": False},
            RunState(),
            {"write": True},
            StopAtCeiling(mode=None),
        ),
        (
            deny("budget_exceeded"),
            {"mode": "draft_only"},
            RunState(),
            {"write": True},
            StopAtCeiling(mode="draft_only", draft=True),
        ),
        (model_failed("down"), {}, RunState(), {"call": False}, FailRun()),
        (
            model_failed("down"),
            {"on_model_error": "draft_only"},
            drafting(),
            {"call": False},
            Escalate(mode="draft_only", end=True),
        ),
        (tool_failed("t", "boom"), {}, RunState(), {}, ReturnToModel()),
        (
            tool_failed("t", "boom"),
            {"on_tool_error": True},
            RunState(),
            {},
            Escalate(mode="handoff", end=True),
        ),
        (approval_expired("t"), {}, RunState(), {}, Escalate(mode="handoff", end=True)),
        (
            approval_expired("t"),
            {"on_approval_expired": False},
            RunState(),
            {},
            ReturnToModel(),
        ),
    ],
)
def test_what_a_decision_leads_to(
    decision: Decision,
    terms: dict[str, Any],
    state: RunState,
    options: dict[str, bool],
    expected: Consequence,
) -> None:
    assert consequence(decision, contract(**terms), state, **options) == expected


def test_an_escalation_that_ends_names_the_outcome() -> None:
    assert Escalate(mode="handoff", end=True).outcome == "escalated"
    assert Escalate(mode="draft_only", end=True).outcome == "draft_only"


def test_the_reported_decisions_use_fixed_rule_ids() -> None:
    reported = [
        approval_granted("alice"),
        approval_granted("checker:m"),
        approval_denied("t", "alice", "no"),
        approval_expired("t"),
        credential_denied("refused"),
        tool_failed("t", "boom"),
        model_failed("down"),
        runtime_exceeded(),
        cost_refused("too dear", spent=1.0, ceiling=0.5),
    ]
    assert {d.rule for d in reported} <= RULE_IDS
    assert approval_granted("checker:m").reason == "approved by the checker"
    assert approval_denied("t", "checker:m").reason == "the checker denied t"
    assert INVALID.invalid_arguments
    assert not ALLOW.invalid_arguments


def test_every_rule_id_in_the_code_is_policys() -> None:
    """A fixed id spelled anywhere in the package is in ``RuleId``; per-tool ids follow
    the documented ``ordering.<tool>`` and ``approval.<id or tool>`` patterns."""
    package = Path(proctor.__file__).parent
    spelled = {
        (rule, str(source.relative_to(package)))
        for source in package.rglob("*.py")
        for rule in re.findall(r'\brule=f?"([^"]+)"', source.read_text())
    }
    patterns = ("ordering.{", "limit.{")
    unknown = {
        (rule, where)
        for rule, where in spelled
        if rule not in RULE_IDS and not rule.startswith(patterns)
    }
    assert not unknown
    assert {where.split("/")[0] for _, where in spelled} == {"policy"}
