"""The workflow contract: what a run may do, must do, and what happens when it can't."""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    PositiveInt,
    PrivateAttr,
    field_validator,
    model_validator,
)

from proctor.contracts._credentials import Credentials, credential_problems
from proctor.contracts._redaction import Redaction, redaction_problems
from proctor.contracts._rollout import takes_candidate
from proctor.contracts._rules import FinalCheck, Rule, TrustSpec, Violation
from proctor.errors import ConfigError
from proctor.store import Approver, EscalationMode, EscalationTrigger, digest


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Limits(_Strict):
    """Hard ceilings for one run. A key the contract leaves out takes its safe default, so
    a looping model always stops; a contract raises or lowers each by setting it.
    ``max_cost_usd`` alone has no default: it needs a price for every model."""

    max_tool_calls: PositiveInt = 100
    """Tool calls the model may propose, counting invalid and denied ones."""
    max_model_calls: PositiveInt = 50
    """Model calls in the run."""
    max_runtime_seconds: PositiveFloat = 600.0
    """Working time of the run, not counting waits for approval."""
    max_cost_usd: PositiveFloat | None = None
    """Model spend in USD; ``None``: no ceiling."""
    max_tokens: PositiveInt = 2_000_000
    """Input plus output tokens over all model calls."""
    on_limit: Literal["stop", "require_approval"] = "stop"
    """At ``max_tool_calls``: ``stop`` ends the run (escalated per
    ``escalation.on_budget_exceeded``); ``require_approval`` holds the call for a person,
    whose approval raises the ceiling by its own size for the rest of the run."""


class OrderingRule(_Strict):
    """When ``tool`` may run, given the calls before it.

    ``after``: each of these succeeded earlier; ``any_of``: at least one did;
    ``not_after``: none of these has run (nothing after a terminal tool); ``at_most``:
    ``tool`` has run fewer than this many times. With ``same: FIELD``, only earlier calls
    whose argument ``FIELD`` equals this call's count (the same order, the same account).
    ``tool: "*"`` applies the rule to every tool."""

    tool: str
    after: list[str] = Field(default_factory=list)
    any_of: list[str] = Field(default_factory=list)
    not_after: list[str] = Field(default_factory=list)
    at_most: PositiveInt | None = None
    same: str | None = None
    """An argument name (``order_id``, or ``args.order_id``) compared between the calls."""
    id: str | None = None
    on_violation: Violation | None = None
    """What a violation leads to; absent: ``escalation.on_policy_violation`` decides."""

    @model_validator(mode="after")
    def _says_something(self) -> OrderingRule:
        if not (self.after or self.any_of or self.not_after or self.at_most is not None):
            raise ValueError(
                f"the ordering rule for {self.tool!r} constrains nothing; fix: give it "
                "after, any_of, not_after or at_most"
            )
        return self

    @property
    def same_field(self) -> str | None:
        if self.same is None:
            return None
        return self.same.removeprefix("args.")

    @property
    def rule_id(self) -> str:
        return f"ordering.{self.id or self.tool}"


class ApprovalRule(_Strict):
    """Calls of ``tool`` (where the CEL condition ``when`` holds) need a decision first."""

    tool: str
    when: str | None = None
    """CEL over ``args``, ``input`` and ``state``; absent means every call."""
    by: Approver = "human"
    """``human``; ``checker`` (the contract's checker model decides); ``checker_then_human``
    (a checker denial is final, a checker approval still waits for a person)."""
    reason: str | None = None
    id: str | None = None
    expires_after_seconds: PositiveFloat | None = 86_400.0
    """A pending approval nobody decided in this time can no longer be granted; the run
    escalates (``escalation.on_approval_expired``). ``null``: it never expires."""
    notify: list[str] = Field(default_factory=list)
    """Channels of ``proctor.yaml``'s ``notifications:`` that announce its pending
    approvals (empty: the configured ``default`` channels)."""

    @property
    def rule_id(self) -> str:
        return f"approval.{self.id or self.tool}"


EscalationSetting = bool | EscalationMode


class Escalation(_Strict):
    """What ends or downgrades a run. ``true`` means ``mode``; ``false`` means none."""

    mode: EscalationMode = "handoff"
    on_budget_exceeded: EscalationSetting = True
    on_policy_violation: EscalationSetting = False
    on_tool_error: EscalationSetting = False
    on_model_error: EscalationSetting = False
    """Every deployment of the route failed (after retries and fallback)."""
    on_approval_expired: EscalationSetting = True
    """A pending approval expired before anyone decided it."""
    notify: list[str] = Field(default_factory=list)
    """Channels of ``proctor.yaml``'s ``notifications:`` that announce runs ending
    escalated (empty: the configured ``default`` channels)."""

    def mode_for(self, trigger: EscalationTrigger) -> EscalationMode | None:
        setting: EscalationSetting = getattr(self, f"on_{trigger}")
        if setting is True:
            return self.mode
        if setting is False:
            return None
        return setting


class EscalateOn(_Strict):
    """What moves a run from ``model.default`` to ``model.escalate_to`` for its next turns."""

    invalid_tool_calls: PositiveInt | None = 2
    """This many invalid tool calls in a row (``null``: never)."""
    policy_denial: bool = True
    """A proposed call was denied by policy."""
    high_risk: bool = True
    """The model proposed a call of a tool whose risk is ``high``."""
    confidence_below: float | None = Field(default=None, ge=0.0, le=1.0)
    """The model reported a confidence under this (read from ``confidence_field``)."""
    confidence_field: str = "confidence"
    """Field of the model's JSON answer, or ``name: value`` line, holding its confidence."""


class Checker(_Strict):
    """The second model that decides approvals whose rule says ``by: checker``."""

    model: str | None = None
    """Route of ``proctor.yaml`` (or a model spec) the checker runs on."""
    instructions: str | None = None
    """The checker's own instructions; default: Proctor's strict checker prompt."""
    policy: str | None = None
    """Policy text shown to the checker with the contract's own rules."""
    max_tokens: PositiveInt = 300


class ModelPolicy(_Strict):
    """Which models a run uses: cheap first, escalating on the triggers in ``escalate_on``."""

    default: str | None = None
    """Route (or model) of ``proctor.yaml`` the run starts on; default: the config's."""
    escalate_to: str | None = None
    """Route the run moves to when a trigger fires; it stays there."""
    escalate_on: EscalateOn = Field(default_factory=EscalateOn)
    max_tokens: PositiveInt | None = None
    """Output cap per model call; also bounds the projected cost checked before sending."""
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    context_tokens: PositiveInt | None = None
    """Prompt size target: beyond it, older turns are compacted."""


class Rollout(BaseModel):
    """Run ``percent`` of new runs under the ``candidate`` contract (a canary)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    candidate: str
    """Path of the candidate contract's YAML file, relative to this contract's file."""
    percent: float
    """Share of new runs, 0 to 100, that start under the candidate (by run id)."""

    # Filled in by the loader: the candidate as loaded, and where both files are.
    _contract: Any = PrivateAttr(default=None)
    _candidate_path: Path | None = PrivateAttr(default=None)
    _source: Path | None = PrivateAttr(default=None)

    @field_validator("percent")
    @classmethod
    def _a_share(cls, value: float) -> float:
        if not 0 <= value <= 100:
            raise ValueError(
                f"rollout.percent must be from 0 (no run) to 100 (every run), got {value:g}"
            )
        return value

    def takes(self, run_id: str) -> bool:
        """Whether the run with this id starts under the candidate."""
        return takes_candidate(run_id, self.percent)

    @property
    def contract(self) -> Contract:
        """The candidate contract, as loaded with this one."""
        if self._contract is None:
            raise ConfigError(
                f"the rollout's candidate {self.candidate!r} was never loaded. Fix: load the "
                "contract from its file with load_contract(path), which reads the candidate"
            )
        found: Contract = self._contract
        return found

    @property
    def candidate_path(self) -> Path | None:
        """The candidate's file, resolved (None when the contract was not loaded from one)."""
        return self._candidate_path

    @property
    def source(self) -> Path | None:
        """The file of the contract that declares this rollout (promotion rewrites it)."""
        return self._source

    def bind(self, candidate: Contract, *, path: Path | None, source: Path | None) -> None:
        """Attach the loaded candidate (the loader calls this once, before anyone reads it)."""
        self._contract = candidate
        self._candidate_path = path
        self._source = source


class ToolDeclaration(_Strict):
    """What a contract says of a tool that comes without its own declaration (imported
    from an MCP server, an OpenAPI document, function specs): its effect and risk."""

    effect: Literal["read", "write"] | None = None
    risk: Literal["low", "medium", "high"] | None = None
    idempotent: bool | None = None


class Contract(_Strict):
    """A workflow contract, loaded from YAML (``load_contract``)."""

    workflow: str
    version: str = "1"
    description: str = ""
    allowed_tools: list[str] | None = None
    """If set, only these tools may be called."""
    forbidden_tools: list[str] = Field(default_factory=list)
    required_steps: list[str] = Field(default_factory=list)
    """Tools that must succeed before the run may end ``resolved``."""
    ordering: list[OrderingRule] = Field(default_factory=list)
    default: Literal["allow", "deny"] = "allow"
    """``deny``: a call the contract otherwise permits still needs a matching allow rule."""
    on_violation: Violation | None = None
    """What a denial by ``default: deny`` leads to (as a rule's ``on_violation``)."""
    rules: list[Rule] = Field(default_factory=list)
    """Conditional ``deny`` and ``allow`` rules, checked in order after ordering."""
    trust: TrustSpec = Field(default_factory=TrustSpec)
    """Which sources' data is trusted (provenance): the input, each tool's output."""
    tools: dict[str, ToolDeclaration] = Field(default_factory=dict)
    """Effect and risk of imported tools, by name or glob (``github.get_*``)."""
    scopes: dict[str, str] = Field(default_factory=dict)
    """Named values computed once at run start by CEL over ``input`` (``scopes.NAME``)."""
    final: list[FinalCheck] = Field(default_factory=list)
    """Conditions the final answer must not meet."""
    limits: Limits = Field(default_factory=Limits)
    approvals: list[ApprovalRule] = Field(default_factory=list)
    escalation: Escalation = Field(default_factory=Escalation)
    model: ModelPolicy = Field(default_factory=ModelPolicy)
    checker: Checker = Field(default_factory=Checker)
    """The second model for approvals ``by: checker`` (separation of duties)."""
    credentials: Credentials = Field(default_factory=Credentials)
    """Scoped, short-lived credentials for the tools that check them."""
    retention_days: PositiveInt | None = None
    """Days after a run finishes before ``proctor retention apply`` purges its payloads."""
    redaction: Redaction = Field(default_factory=Redaction)
    """What the run's record keeps of personal data and secrets (on by default)."""
    rollout: Rollout | None = None
    """A canary: a share of new runs starts under a candidate contract. Not one of the
    contract's terms: its hash and stored version leave it out (see ``terms``)."""

    _file: Path | None = PrivateAttr(default=None)

    @property
    def file(self) -> Path | None:
        """The YAML file the contract was loaded from (None when built in Python or parsed
        from text); ``proctor contract check WORKFLOW`` checks it."""
        return self._file

    def __eq__(self, other: object) -> bool:
        # Equal by content: the same contract read from two files is one contract.
        if not isinstance(other, Contract):
            return NotImplemented
        return type(self) is type(other) and self.__dict__ == other.__dict__

    @model_validator(mode="after")
    def _no_contradictions(self) -> Contract:
        conflicts = _conflicts(self)
        if conflicts:
            raise ContractConflictError(conflicts)
        return self

    @property
    def content_hash(self) -> str:
        """Digest of the contract's meaning (not its formatting).

        Keys left at their defaults are not part of it, so a Proctor version that adds a
        contract key does not change the hash of contracts that do not use it (a run
        started before an upgrade can still resume).
        """
        return digest(self.terms())

    def declared(self, tool: str) -> ToolDeclaration | None:
        """What ``tools:`` says of ``tool``: its own entry, else the most specific glob
        (the longest pattern) that matches it, else ``None``."""
        own = self.tools.get(tool)
        if own is not None:
            return own
        matching = [p for p in self.tools if any(c in p for c in "*?[") and fnmatchcase(tool, p)]
        return self.tools[max(matching, key=len)] if matching else None

    def terms(self) -> dict[str, Any]:
        """What a run is decided by, as hashed and stored: every key that differs from
        its default, except ``rollout`` (which picks runs, and decides none)."""
        return self.model_dump(mode="json", exclude_defaults=True, exclude={"rollout"})


Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Conflict:
    """One contradiction inside a contract; ``loc`` is the offending key's path."""

    loc: Loc
    message: str
    fix: str


class ContractConflictError(ValueError):
    """The contract contradicts itself; the loader reports each conflict at its line."""

    def __init__(self, conflicts: list[Conflict]) -> None:
        self.conflicts = conflicts
        super().__init__("; ".join(f"{c.message}: {c.fix}" for c in conflicts))


def _conflicts(contract: Contract) -> list[Conflict]:
    found: list[Conflict] = []
    forbidden = set(contract.forbidden_tools)
    for i, name in enumerate(contract.required_steps):
        if name in forbidden:
            found.append(
                Conflict(
                    ("required_steps", i),
                    f"{name!r} is both required and forbidden",
                    "remove it from one of required_steps and forbidden_tools",
                )
            )
    if contract.allowed_tools is not None:
        allowed = set(contract.allowed_tools)
        for i, name in enumerate(contract.required_steps):
            if name not in allowed:
                found.append(
                    Conflict(
                        ("required_steps", i),
                        f"required step {name!r} is not in allowed_tools",
                        "add it there, or drop it from required_steps",
                    )
                )
    for i, rule in enumerate(contract.ordering):
        if rule.tool in forbidden:
            found.append(
                Conflict(
                    ("ordering", i, "tool"),
                    f"ordering rule for {rule.tool!r} can never apply: the tool is forbidden",
                    f"remove the rule, or remove {rule.tool!r} from forbidden_tools",
                )
            )
        for j, before in enumerate(rule.after):
            if before in forbidden:
                found.append(
                    Conflict(
                        ("ordering", i, "after", j),
                        f"{rule.tool!r} must come after {before!r}, but {before!r} is "
                        "forbidden, so it could never run",
                        f"remove {before!r} from the rule's after list, or from forbidden_tools",
                    )
                )
    for i, approval in enumerate(contract.approvals):
        if approval.by != "human" and contract.checker.model is None:
            found.append(
                Conflict(
                    ("approvals", i, "by"),
                    f"approval rule {approval.rule_id!r} is decided by a checker, but no checker "
                    "model is configured",
                    "set checker.model to a route of proctor.yaml (a different model than "
                    "the agent's), or use by: human",
                )
            )
    found.extend(
        Conflict(*problem) for problem in credential_problems(contract.credentials, forbidden)
    )
    found.extend(Conflict(*problem) for problem in redaction_problems(contract.redaction))
    return found
