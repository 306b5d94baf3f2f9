"""One policy decision under a 20-rule policy: Proctor beside cedarpy and Microsoft's agent
governance toolkit (``agent_os.policies.PolicyEvaluator``) deciding the equivalent policy.

The policy is ``policy_decision.py``'s "classic" contract over five tools: one forbidden
tool, three ordering rules (``email.send`` and ``files.share`` after ``contacts.search``,
``bank.transfer`` after ``email.read``) and 17 approval rules with CEL conditions (six
amount thresholds on ``bank.transfer``, six recipient domains on ``email.send``, five path
prefixes on ``files.share``). Each engine gets it written in its own language:

- **Cedar** (cedarpy, the policies parsed once into a ``PolicySet``, entities once into an
  ``Entities`` handle): ``permit`` everything, then a ``forbid`` per rule with an ``@id``;
  the forbidden tool as ``forbid``, the ordering rules as ``forbid ... unless
  { context.done.contains("...") }``, each approval as ``forbid ... when
  { context.args.amount > 6000 }`` (``like "*@x0.example"`` for ``endsWith``, ``like
  "/secret0*"`` for ``startsWith``). Cedar has no third outcome, so the caller reads which
  policies decided (cedarpy names them by position): a deny rule among them denies, else
  the matching approval rules hold the call for a person.
- **Agent governance toolkit** (one ``PolicyDocument``, rules of one condition each, first
  match by priority): the caller flattens the call into the context (``tool_name``, each
  argument as ``<tool>.<name>``, and the tools already done as ``<tool>.done``, a sorted
  comma-separated string); the forbidden tool is ``tool_name eq``, an ordering rule is a
  ``matches`` on ``<tool>.done`` with a negative look-ahead (priority 100, ``deny``), an
  approval is ``gt`` on ``bank.transfer.amount`` or ``matches`` on ``email.send.to``
  (``@x0\\.example$``) or ``files.share.path`` (``^/secret0``) (priority 50, ``block``,
  read as "hold for a person"); the default is ``allow``.
- **Proctor**: ``Policy.decide`` on a ``ProposedCall`` and the run's ``RunState`` (the
  tools done are its ``succeeded`` counter), which also checks the run's ceilings.

Each engine's input (request, context dict, proposed call and state) is built before the
clock starts, so only the decision is timed. Before timing, every case is decided by all
three and the outcomes (allow, deny, hold) must agree: ``check_equivalent``. Proctor's
"data-flow" contract (provenance, history and scopes; ``policy_decision.py``) is measured in
the same rounds; no peer has an equivalent.

    python benchmarks/peer_policy.py [--rounds 20] [--decisions 500]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cedarpy

with warnings.catch_warnings():
    # agent-governance-toolkit-core ships agent_os with a warning that it is deprecated in
    # favour of... agent-governance-toolkit-core: the import is the documented one.
    warnings.simplefilter("ignore", DeprecationWarning)
    from agent_os.policies import (
        PolicyAction,
        PolicyCondition,
        PolicyDocument,
        PolicyEvaluator,
        PolicyOperator,
        PolicyRule,
    )

sys.path.insert(0, str(Path(__file__).parent))
from bench_report import Comparison, Figure
from policy_decision import CALLS, CLASSIC, DATAFLOW, REGISTRY, facts_for

from proctor.contracts import Contract
from proctor.policy import Policy, ProposedCall
from proctor.store import RunState, digest

Outcome = str  # "allow" | "deny" | "hold"

BOTH = frozenset({"contacts.search", "email.read"})
# (tool, arguments, tools that succeeded earlier in the run, the expected outcome)
CASES: list[tuple[str, dict[str, Any], frozenset[str], Outcome]] = [
    ("email.read", {}, frozenset(), "allow"),
    ("contacts.search", {"name": "Dan"}, frozenset({"email.read"}), "allow"),
    ("email.send", {"to": "dan@corp.example", "subject": "Q3", "body": "Attached."}, BOTH, "allow"),
    ("email.send", {"to": "ann@x2.example", "subject": "Q3", "body": "Hi."}, BOTH, "hold"),
    ("email.send", {"to": "dan@corp.example", "subject": "Q3", "body": "Hi."}, frozenset(), "deny"),
    (
        "bank.transfer",
        {"iban": "DE89370400440532013000", "amount": 120, "note": "rent"},
        BOTH,
        "allow",
    ),
    (
        "bank.transfer",
        {"iban": "DE89370400440532013000", "amount": 3500, "note": "x"},
        BOTH,
        "hold",
    ),
    (
        "bank.transfer",
        {"iban": "DE89370400440532013000", "amount": 120, "note": "rent"},
        frozenset({"contacts.search"}),
        "deny",
    ),
    ("files.share", {"path": "/reports/q3.pdf", "with_email": "dan@corp.example"}, BOTH, "allow"),
    ("files.share", {"path": "/secret1/plan.pdf", "with_email": "dan@corp.example"}, BOTH, "hold"),
]


# --- Cedar ---------------------------------------------------------------------------------


def cedar_policies() -> str:
    """``CLASSIC`` in Cedar: permit all, a forbid per rule (ids say deny or hold)."""
    out = ['@id("default") permit(principal, action, resource);']
    for name in CLASSIC["forbidden_tools"]:
        out.append(
            f'@id("deny.forbidden") forbid(principal, action == Action::"{name}", resource);'
        )
    for rule in CLASSIC["ordering"]:
        (after,) = rule["after"]
        out.append(
            f'@id("deny.ordering.{rule["tool"]}") forbid(principal, '
            f'action == Action::"{rule["tool"]}", resource) '
            f'unless {{ context.done.contains("{after}") }};'
        )
    for rule in CLASSIC["approvals"]:
        out.append(
            f'@id("approval.{rule["id"]}") forbid(principal, action == Action::"{rule["tool"]}", '
            f"resource) when {{ {cedar_condition(rule['when'])} }};"
        )
    return "\n".join(out)


def cedar_condition(cel: str) -> str:
    """The three CEL shapes of ``CLASSIC``'s approvals in Cedar."""
    if cel.startswith("args.amount > "):
        return f"context.args.amount > {int(cel.rsplit(' ', 1)[1])}"
    if cel.startswith("args.to.endsWith('"):
        return f'context.args.to like "*{cel.split(chr(39))[1]}"'
    if cel.startswith("args.path.startsWith('"):
        return f'context.args.path like "{cel.split(chr(39))[1]}*"'
    raise ValueError(f"no Cedar form for {cel!r}")


class Cedar:
    def __init__(self) -> None:
        text = cedar_policies()
        self.policies = cedarpy.PolicySet.from_str(text)
        self.entities = cedarpy.Entities.from_json_str("[]")
        # cedarpy names a policy by its position ("policy3"); the @id says deny or hold.
        self.denies = frozenset(
            f"policy{i}" for i, line in enumerate(text.splitlines()) if '@id("deny.' in line
        )

    @staticmethod
    def request(tool: str, args: dict[str, Any], done: frozenset[str]) -> dict[str, Any]:
        return {
            "principal": 'Agent::"bench"',
            "action": f'Action::"{tool}"',
            "resource": f'Tool::"{tool}"',
            "context": {"args": args, "done": sorted(done)},
        }

    def decide(self, request: dict[str, Any]) -> Outcome:
        result = cedarpy.is_authorized(request, self.policies, self.entities)
        if result.decision == cedarpy.Decision.Allow:
            return "allow"
        reasons = result.diagnostics.reasons
        return "hold" if reasons and self.denies.isdisjoint(reasons) else "deny"


# --- the agent governance toolkit ----------------------------------------------------------


def agt_document() -> PolicyDocument:
    """``CLASSIC`` as a toolkit ``PolicyDocument``: one condition per rule."""
    rules = [
        PolicyRule(
            name=f"deny.forbidden.{name}",
            condition=PolicyCondition(field="tool_name", operator=PolicyOperator.EQ, value=name),
            action=PolicyAction.DENY,
            priority=100,
        )
        for name in CLASSIC["forbidden_tools"]
    ]
    for rule in CLASSIC["ordering"]:
        (after,) = rule["after"]
        missing = rf"^(?!(.*,)?{after.replace('.', chr(92) + '.')}(,|$))"
        rules.append(
            PolicyRule(
                name=f"deny.ordering.{rule['tool']}",
                condition=PolicyCondition(
                    field=f"{rule['tool']}.done", operator=PolicyOperator.MATCHES, value=missing
                ),
                action=PolicyAction.DENY,
                priority=100,
            )
        )
    for rule in CLASSIC["approvals"]:
        rules.append(
            PolicyRule(
                name=f"approval.{rule['id']}",
                condition=agt_condition(rule["tool"], rule["when"]),
                action=PolicyAction.BLOCK,
                priority=50,
            )
        )
    return PolicyDocument(name="assistant", rules=rules)


def agt_condition(tool: str, cel: str) -> PolicyCondition:
    """The three CEL shapes of ``CLASSIC``'s approvals as one toolkit condition each."""
    if cel.startswith("args.amount > "):
        value: Any = int(cel.rsplit(" ", 1)[1])
        return PolicyCondition(field=f"{tool}.amount", operator=PolicyOperator.GT, value=value)
    literal = cel.split("'")[1].replace(".", "\\.")
    if cel.startswith("args.to.endsWith('"):
        return PolicyCondition(
            field=f"{tool}.to", operator=PolicyOperator.MATCHES, value=f"{literal}$"
        )
    if cel.startswith("args.path.startsWith('"):
        return PolicyCondition(
            field=f"{tool}.path", operator=PolicyOperator.MATCHES, value=f"^{literal}"
        )
    raise ValueError(f"no toolkit form for {cel!r}")


class Toolkit:
    def __init__(self) -> None:
        self.evaluator = PolicyEvaluator(policies=[agt_document()])

    @staticmethod
    def context(tool: str, args: dict[str, Any], done: frozenset[str]) -> dict[str, Any]:
        context: dict[str, Any] = {f"{tool}.{name}": value for name, value in args.items()}
        context["tool_name"] = tool
        context[f"{tool}.done"] = ",".join(sorted(done))
        return context

    def decide(self, context: dict[str, Any]) -> Outcome:
        decision = self.evaluator.evaluate(context)
        return {"allow": "allow", "audit": "allow", "block": "hold"}.get(decision.action, "deny")


# --- Proctor -------------------------------------------------------------------------------


class Proctor:
    def __init__(self) -> None:
        self.policy = Policy(Contract.model_validate(CLASSIC), REGISTRY)
        self.facts = self.policy.new_facts()

    @staticmethod
    def call(
        tool: str, args: dict[str, Any], done: frozenset[str]
    ) -> tuple[ProposedCall, RunState]:
        proposed = ProposedCall(
            name=tool, arguments=args, args_digest=digest(args), tool=REGISTRY.get(tool)
        )
        return proposed, RunState(
            tool_calls=len(done) + 1, started_ts=1000.0, succeeded=Counter(done)
        )

    def decide(self, item: tuple[ProposedCall, RunState]) -> Outcome:
        decision = self.policy.decide(item[0], item[1], now=1010.0, facts=self.facts)
        return {"allow": "allow", "deny": "deny"}.get(decision.kind, "hold")


class DataFlow:
    """Proctor's data-flow contract over ``policy_decision.py``'s calls and run facts."""

    def __init__(self) -> None:
        self.policy = Policy(Contract.model_validate(DATAFLOW), REGISTRY)
        self.facts = facts_for(self.policy)
        self.state = RunState(tool_calls=1, started_ts=1000.0)

    def calls(self) -> list[ProposedCall]:
        return [
            ProposedCall(name=n, arguments=a, args_digest=digest(a), tool=REGISTRY.get(n))
            for n, a in CALLS
        ]

    def decide(self, call: ProposedCall) -> Outcome:
        decision = self.policy.decide(call, self.state, now=1010.0, facts=self.facts)
        return decision.kind


def check_equivalent(cedar: Cedar, toolkit: Toolkit, proctor: Proctor) -> None:
    """Every case decided alike by the three engines, as expected; else a clear error."""
    for tool, args, done, expected in CASES:
        got = {
            "proctor": proctor.decide(Proctor.call(tool, args, done)),
            "cedar": cedar.decide(Cedar.request(tool, args, done)),
            "toolkit": toolkit.decide(Toolkit.context(tool, args, done)),
        }
        if set(got.values()) != {expected}:
            raise AssertionError(
                f"the policies are not equivalent on {tool} {args} after {sorted(done)}: "
                f"expected {expected}, got {got}"
            )


def timed(decide: Callable[[Any], Outcome], inputs: list[Any], count: int) -> list[float]:
    """Microseconds of ``count`` decisions, cycling through ``inputs``."""
    times = []
    clock = time.perf_counter
    for i in range(count):
        item = inputs[i % len(inputs)]
        started = clock()
        decide(item)
        times.append((clock() - started) * 1e6)
    return times


def measure(rounds: int, decisions: int, seed: int = 21) -> dict[str, list[float]]:
    cedar, toolkit, proctor, dataflow = Cedar(), Toolkit(), Proctor(), DataFlow()
    check_equivalent(cedar, toolkit, proctor)
    contenders: dict[str, tuple[Callable[[Any], Outcome], list[Any]]] = {
        "proctor": (proctor.decide, [Proctor.call(t, a, d) for t, a, d, _ in CASES]),
        "cedarpy": (cedar.decide, [Cedar.request(t, a, d) for t, a, d, _ in CASES]),
        "agent-governance-toolkit": (
            toolkit.decide,
            [Toolkit.context(t, a, d) for t, a, d, _ in CASES],
        ),
        "proctor, data-flow contract": (dataflow.decide, dataflow.calls()),
    }
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    order = list(contenders)
    shuffle = random.Random(seed).shuffle
    for name in order:  # warm up: compile, fill caches
        timed(*contenders[name], 200)
    for _ in range(rounds):
        shuffle(order)
        for name in order:
            samples[name] += timed(*contenders[name], decisions)
    return samples


def compare(rounds: int, decisions: int) -> Comparison:
    """The policy-decision comparison, as ``run_all.py`` records it."""
    samples = measure(rounds, decisions)
    comparison = Comparison(
        name="policy decision",
        method=f"20-rule policy, {len(CASES)} cases; {rounds} rounds x {decisions} decisions "
        "per contender, random order each round, one process; outcomes checked equal first",
    )
    toolkit, cedar = "agent-governance-toolkit", "cedarpy"
    comparison.add(Figure.of(toolkit, "µs", samples[toolkit]))
    comparison.add(Figure.of(cedar, "µs", samples[cedar]))
    for peer in (toolkit, cedar):
        comparison.add(Figure.of("proctor", "µs", samples["proctor"], baseline=peer))
    comparison.add(
        Figure.of(
            "proctor, data-flow contract",
            "µs",
            samples["proctor, data-flow contract"],
            baseline=toolkit,
            note="provenance, history, scopes; goal 20 µs",
        )
    )
    return comparison


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--decisions", type=int, default=500)
    args = parser.parse_args()
    comparison = compare(args.rounds, args.decisions)
    comparison.compute_ratios()
    for f in comparison.figures:
        ratio = "" if f.ratio_p50 is None else f"  {f.ratio_p50:.2f}x {f.baseline}"
        print(f"{f.name:30} p50 {f.p50:7.2f} µs, p99 {f.p99 or 0:7.2f} µs{ratio}")


if __name__ == "__main__":
    main()
