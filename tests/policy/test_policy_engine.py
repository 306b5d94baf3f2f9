"""``Policy.decide``: each rule, the order they apply in, and the reasons they give."""

from __future__ import annotations

from typing import Any

import pytest

from proctor.contracts import Contract
from proctor.policy import Policy, ProposedCall
from proctor.store import CallState, RecordedToolCall, RunState, digest
from proctor.tools import Registry, tool


@tool("crm.lookup")
def lookup(customer: str) -> str:
    """Look up."""
    return customer


@tool("crm.check")
def check(customer: str) -> str:
    """Check."""
    return customer


@tool("billing.refund", effect="write", risk="high")
def refund(customer: str, amount: float) -> str:
    """Refund."""
    return customer


@tool("billing.wipe", effect="write")
def wipe() -> None:
    """Forbidden."""


REGISTRY = Registry([lookup, check, refund, wipe])


def policy(**changes: Any) -> Policy:
    terms: dict[str, Any] = {
        "workflow": "refunds",
        "forbidden_tools": ["billing.wipe"],
        "ordering": [{"tool": "billing.refund", "after": ["crm.check"]}],
        "limits": {"max_tool_calls": 3, "max_tokens": 1000, "max_cost_usd": 0.5},
        "approvals": [
            {
                "tool": "billing.refund",
                "when": "args.amount > 100",
                "reason": "big refund",
                "id": "big",
            }
        ],
    }
    terms.update(changes)
    return Policy(Contract.model_validate(terms), REGISTRY)


def call(name: str, invalid: str | None = None, **arguments: Any) -> ProposedCall:
    return ProposedCall(
        name=name,
        arguments=arguments,
        args_digest=digest({"tool": name, "arguments": arguments}),
        tool=REGISTRY.get(name),
        invalid=invalid,
    )


def state(*, succeeded: tuple[str, ...] = (), tool_calls: int = 1, **fields: Any) -> RunState:
    result = RunState(tool_calls=tool_calls, started_ts=1000.0, **fields)
    for name in succeeded:
        result.succeeded[name] += 1
    return result


def test_default_is_allow_with_a_reason() -> None:
    decision = policy().decide(call("crm.lookup", customer="c"), state(), now=1001.0)
    assert (decision.kind, decision.rule) == ("allow", "default.allow")
    assert decision.reason


@pytest.mark.parametrize(
    ("proposed", "rule", "trigger"),
    [
        (call("crm.nope"), "registry.unregistered_tool", None),
        (call("crm.lookup", invalid="customer: field required"), "schema.invalid_arguments", None),
        (call("billing.wipe"), "contract.forbidden_tool", "policy_violation"),
        (
            call("billing.refund", customer="c", amount=5),
            "ordering.billing.refund",
            "policy_violation",
        ),
    ],
)
def test_denials_name_their_rule_and_escalation_trigger(
    proposed: ProposedCall, rule: str, trigger: str | None
) -> None:
    decision = policy().decide(proposed, state(), now=1001.0)
    assert (decision.kind, decision.rule, decision.trigger) == ("deny", rule, trigger)


def test_unregistered_tool_reason_lists_the_callable_tools() -> None:
    decision = policy().decide(call("crm.nope"), state(), now=1001.0)
    assert "crm.lookup" in decision.reason


def test_allow_list() -> None:
    decision = policy(allowed_tools=["crm.lookup"], ordering=[]).decide(
        call("crm.check", customer="c"), state(), now=1001.0
    )
    assert decision.rule == "contract.not_allowed"


def test_forbidden_wins_over_every_later_rule() -> None:
    decision = policy().decide(call("billing.wipe"), state(tool_calls=99), now=1001.0)
    assert decision.rule == "contract.forbidden_tool"


@pytest.mark.parametrize(
    ("fields", "rule"),
    [
        ({"tool_calls": 4}, "limit.max_tool_calls"),
        ({"input_tokens": 900, "output_tokens": 200}, "limit.max_tokens"),
        ({"cost_usd": 0.75}, "limit.max_cost_usd"),
    ],
)
def test_ceilings(fields: dict[str, Any], rule: str) -> None:
    decision = policy().decide(call("crm.lookup", customer="c"), state(**fields), now=1001.0)
    assert (decision.kind, decision.rule, decision.trigger) == ("deny", rule, "budget_exceeded")
    assert decision.ceiling is not None
    assert decision.value is not None
    assert decision.value > decision.ceiling


def test_runtime_ceiling_does_not_count_approval_waits() -> None:
    p = policy(limits={"max_runtime_seconds": 10})
    waited = state(paused_s=100.0)
    assert p.decide(call("crm.lookup", customer="c"), waited, now=1105.0).allowed
    denied = p.decide(call("crm.lookup", customer="c"), waited, now=1111.0)
    assert denied.rule == "limit.max_runtime_seconds"


def test_model_call_ceiling_stops_before_the_call_that_would_exceed_it() -> None:
    p = policy(limits={"max_model_calls": 2})
    assert p.check_limits(state(model_calls=1), now=1001.0) is None
    limit = p.check_limits(state(model_calls=2), now=1001.0)
    assert limit is not None
    assert limit.rule == "limit.max_model_calls"


def test_ordering_is_satisfied_by_an_earlier_success() -> None:
    decision = policy().decide(
        call("billing.refund", customer="c", amount=5), state(succeeded=("crm.check",)), now=1001.0
    )
    assert decision.allowed


def test_cel_approval_condition() -> None:
    ready = state(succeeded=("crm.check",))
    big = policy().decide(call("billing.refund", customer="c", amount=500), ready, now=1001.0)
    assert (big.kind, big.rule) == ("require_approval", "approval.big")
    assert "big refund" in big.reason


def test_condition_that_cannot_be_evaluated_fails_closed_to_a_person() -> None:
    p = policy(approvals=[{"tool": "billing.refund", "when": "input.region == 'EU'"}])
    decision = p.decide(
        call("billing.refund", customer="c", amount=5), state(succeeded=("crm.check",)), now=1001.0
    )
    assert decision.kind == "require_approval"
    assert "could not be evaluated" in decision.reason


def test_condition_may_read_run_state() -> None:
    p = policy(approvals=[{"tool": "crm.lookup", "when": "state.tool_calls > 2"}], ordering=[])
    assert p.decide(call("crm.lookup", customer="c"), state(tool_calls=2), now=1001.0).allowed
    later = p.decide(call("crm.lookup", customer="c"), state(tool_calls=3), now=1001.0)
    assert later.kind == "require_approval"


def test_unconditional_approval_rule() -> None:
    p = policy(approvals=[{"tool": "crm.lookup"}], ordering=[])
    assert (
        p.decide(call("crm.lookup", customer="c"), state(), now=1001.0).kind == "require_approval"
    )


def test_missing_required_steps() -> None:
    p = policy(required_steps=["crm.lookup", "crm.check"])
    assert p.missing_steps(state(succeeded=("crm.check",))) == ["crm.lookup"]


def test_call_state_done_only_when_settled() -> None:
    pending = CallState(
        call=RecordedToolCall(id="a", name="crm.lookup"), decision="require_approval"
    )
    assert not pending.done
    pending.approval = "denied"
    assert not pending.done  # the loop still records the denial as a decision
    pending.decision = "deny"
    assert pending.done
