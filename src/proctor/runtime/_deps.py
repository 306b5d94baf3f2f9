"""``RunDeps``: what every run under one contract shares, built once per runner.

The steps of the loop read their dependencies from here and their run from a ``LiveRun``
(``_live``): frozen dependencies on one side, the run's mutable state on the other.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from proctor.contracts import ApprovalRule, Contract
from proctor.gateway import CallSettings, Gateway, ModelResponse, PriceTable, ToolSpec, tools_tokens
from proctor.policy import CredentialIssuer, Policy, Redactor, load_signing_key, pseudonym_key
from proctor.runtime._clock import Clock
from proctor.runtime._compaction import expand_tool
from proctor.runtime._credentials import RunCredentials
from proctor.runtime._models import checker_model
from proctor.runtime._workflow import Workflow
from proctor.store import EvidenceKeys, RunState, Store
from proctor.tools import Registry


@dataclass(frozen=True, kw_only=True, slots=True)
class RunDeps:
    """The contract, compiled once, and everything a run under it calls."""

    store: Store
    workflow: Workflow
    contract: Contract
    registry: Registry
    """The workflow's tools (and ``context.expand`` when the contract sets a context target)."""
    policy: Policy
    redactor: Redactor
    redact: Redactor | None
    """The redactor, if it has anything to do: applied to every event the run writes."""
    redact_name: Callable[[str], str] | None
    credentials: RunCredentials
    approval_rules: Mapping[str, ApprovalRule]
    """The contract's approval rules by rule id."""
    specs: Sequence[ToolSpec]
    """The tools the model is offered: only those the contract lets it call."""
    specs_tokens: Callable[[], int]
    """Estimated tokens of ``specs`` (counted on first need)."""
    settings: CallSettings | None
    """The contract's model settings (max tokens, temperature), if it sets any."""
    checker: Callable[[], tuple[Gateway, str]]
    """The gateway and route of the contract's checker (resolved on first need)."""
    writes: frozenset[str]
    """Names of the tools whose effect is ``write``."""
    live_telemetry: bool
    clock: Clock
    """The time every decision of the run reads (expiry, ceilings, totals, events)."""
    secret: bytes | None = None
    """The signing key, which keys every digest of raw content the run records (call
    arguments, the prompt), so that none can be reversed by guessing the content."""
    keys: EvidenceKeys | None = None
    """The keys the run's chain is MACed and its decisions signed with."""
    fingerprint_key: bytes | None = None
    """The secret that fingerprints values redaction keeps out of the log (``values_seen``),
    when the contract traces where values came from and redacts."""

    @classmethod
    def build(
        cls,
        store: Store,
        workflow: Workflow,
        *,
        issuer: CredentialIssuer | None,
        gateway: Gateway | None,
        prices: PriceTable,
        live_telemetry: bool,
        clock: Clock,
        keys: EvidenceKeys | None = None,
    ) -> RunDeps:
        """Compile ``workflow``'s contract once for all of its runs."""
        contract = workflow.contract
        # With a context budget the model may expand results that compaction shortened.
        registry = workflow.registry
        if contract.model.context_tokens is not None:
            registry = Registry([*workflow.registry, expand_tool(store, keys)])
        # Loaded up front, so a missing or unsafe key stops a run before it starts.
        secret = load_signing_key()
        # What the run's record may keep: compiled once, applied to every event it writes.
        redactor = Redactor(contract.redaction, names_key=pseudonym_key(secret))
        # The model is offered only what the contract lets it call: least privilege.
        # (It can still name anything; policy decides at the boundary.)
        specs = tuple(
            ToolSpec(name=t.name, description=t.description, parameters=t.parameters)
            for t in registry
            if t.name not in contract.forbidden_tools
            and (contract.allowed_tools is None or t.name in contract.allowed_tools)
        )
        policy = Policy(contract, registry)
        model = contract.model
        settings = None
        if model.max_tokens is not None or model.temperature is not None:
            settings = CallSettings(max_tokens=model.max_tokens, temperature=model.temperature)
        return cls(
            store=store,
            workflow=workflow,
            contract=contract,
            registry=registry,
            policy=policy,
            redactor=redactor,
            redact=redactor if redactor.enabled else None,
            redact_name=redactor.name if redactor.enabled else None,
            credentials=RunCredentials(contract, issuer),
            approval_rules={rule.rule_id: rule for rule in contract.approvals},
            specs=specs,
            specs_tokens=functools.cache(lambda: tools_tokens(specs)),
            settings=settings,
            checker=functools.cache(lambda: checker_model(workflow, gateway, prices)),
            writes=frozenset(t.name for t in registry if t.effect == "write"),
            live_telemetry=live_telemetry,
            clock=clock,
            secret=secret,
            keys=keys,
            fingerprint_key=secret if policy.tracks_values and redactor.enabled else None,
        )

    def is_write(self, tool: str) -> bool:
        return tool in self.writes

    def clean_answer(self, response: ModelResponse) -> bool:
        """Whether redaction would change nothing in ``response`` (so it may be cached)."""
        if self.redact is None:
            return True
        shown = {"text": response.text, "calls": [c.arguments for c in response.tool_calls]}
        return bool(self.redact(shown) == shown)

    def remaining_runtime(self, state: RunState, now: float) -> float | None:
        """Seconds left under the runtime ceiling, or ``None`` without one."""
        ceiling = self.contract.limits.max_runtime_seconds
        if ceiling is None:
            return None
        return max(0.0, ceiling - state.active_seconds(now))
