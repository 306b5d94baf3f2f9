"""The case and suite file formats, as pydantic models (the edge where YAML comes in).

Every key is described in docs/evals.md. The models only check shape; argument matchers
are compiled (regexes, CEL) by ``_case.compile_case``, which knows their lines.
"""

from __future__ import annotations

from typing import Any, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

OrderMode: TypeAlias = Literal["strict", "unordered", "subset", "superset", "prefix", "in_order"]
ORDER_MODES: tuple[OrderMode, ...] = (
    "strict",
    "unordered",
    "subset",
    "superset",
    "prefix",
    "in_order",
)
OutcomeName: TypeAlias = Literal[
    "resolved", "escalated", "failed", "draft_only", "cancelled", "awaiting_approval"
]
ApprovalPlan: TypeAlias = Literal["pending", "approve", "deny"]
CallStatus: TypeAlias = Literal[
    "proposed", "ok", "error", "denied", "awaiting_approval", "draft", "invalid"
]


def _listed(value: Any) -> Any:
    """A single value where a list is expected becomes a one-item list."""
    return [value] if isinstance(value, str | dict) else value


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CallSpec(_Spec):
    """A call pattern: a tool name, and matchers for the arguments that matter.

    Written as a bare tool name (``erp.fetch_po``) or as a mapping.
    """

    tool: str = Field(min_length=1)
    """The tool's registered name."""
    arguments: dict[str, Any] = Field(default_factory=dict)
    """Argument name -> matcher; arguments not listed match anything."""
    status: list[CallStatus] = Field(default_factory=list)
    """What must have become of the call (any of these); default: anything."""
    ignore: list[str] = Field(default_factory=list)
    """Argument paths (``note``, ``order.comment``) whose values never matter: free text."""

    _one_or_many = field_validator("status", "ignore", mode="before")(_listed)

    @model_validator(mode="before")
    @classmethod
    def _bare_name(cls, value: Any) -> Any:
        return {"tool": value} if isinstance(value, str) else value


class FixtureErrorSpec(_Spec):
    """A fixture that fails the call, as the recorded tool failed."""

    type: str = Field(default="ToolError", pattern=r"^[A-Za-z_]\w*$")
    """The error's class name as recorded (``CredentialDenied`` is replayed as a denial)."""
    message: str = ""


class FixtureSpec(_Spec):
    """A tool result served instead of running the tool."""

    tool: str = Field(min_length=1)
    arguments: dict[str, Any] = Field(default_factory=dict)
    """Argument name -> matcher; the fixture answers calls whose arguments all match."""
    result: Any = None
    """The JSON result the call returns (ignored when ``error`` is set)."""
    error: FixtureErrorSpec | None = None


class UsageSpec(_Spec):
    input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)
    cached_input_tokens: int = Field(default=0, ge=0)
    cache_write_tokens: int = Field(default=0, ge=0)
    reasoning_tokens: int = Field(default=0, ge=0)


class ResponseSpec(_Spec):
    """One recorded model response: tool calls, or a final text."""

    text: str | None = None
    calls: list[CallSpec] = Field(default_factory=list)
    usage: UsageSpec = Field(default_factory=UsageSpec)


class RecordedSpec(_Spec):
    """The model responses of the recorded run, replayed turn by turn with ``--recorded``."""

    model: str = "recorded"
    """The model that answered (traces only)."""
    priced_as: str | None = None
    """Whose prices apply to the replayed usage (default: ``model``)."""
    responses: list[ResponseSpec] = Field(default_factory=list)


class CallsSpec(_Spec):
    """The run's tool calls compared with an expected sequence, by ``order`` mode."""

    order: OrderMode = "in_order"
    sequence: list[CallSpec] = Field(default_factory=list)
    only: Literal["all", "writes"] = "all"
    """``writes``: compare only the calls of tools whose effect is ``write`` (reads may
    come in any number and order)."""


class BeforeSpec(_Spec):
    """A partial order: every call fitting ``then`` comes after a call fitting each
    pattern of ``all_of``, and after one fitting some pattern of ``any_of``."""

    all_of: list[CallSpec] = Field(default_factory=list)
    any_of: list[CallSpec] = Field(default_factory=list)
    then: list[CallSpec] = Field(min_length=1)

    _one_or_many = field_validator("all_of", "any_of", "then", mode="before")(_listed)

    @model_validator(mode="after")
    def _something_first(self) -> BeforeSpec:
        if not self.all_of and not self.any_of:
            raise ValueError("say what must come first: all_of and/or any_of")
        return self


class CountSpec(_Spec):
    """How many calls may fit ``call``: in the whole run, or for each value of ``per``."""

    call: CallSpec
    per: str | None = None
    """An argument path (``reservation_id``, ``order.id``): its values are counted apart,
    so ``at_most: 1`` means "at most once per reservation"."""
    at_most: int | None = Field(default=None, ge=0)
    at_least: int | None = Field(default=None, ge=0)
    exactly: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _bounds(self) -> CountSpec:
        bounds = [b for b in (self.at_most, self.at_least, self.exactly) if b is not None]
        if not bounds:
            raise ValueError("give at_most, at_least or exactly")
        if self.exactly is not None and len(bounds) > 1:
            raise ValueError("exactly says it all: leave out at_most and at_least")
        low, high = self.at_least, self.at_most
        if low is not None and high is not None and low > high:
            raise ValueError(f"at_least {low} is above at_most {high}")
        return self


class CeilingsSpec(_Spec):
    """Upper bounds (inclusive) on what the run may consume."""

    tool_calls: int | None = Field(default=None, ge=0)
    model_calls: int | None = Field(default=None, ge=0)
    tokens: int | None = Field(default=None, ge=0)
    cost_usd: float | None = Field(default=None, ge=0)


class PolicySpec(_Spec):
    """What policy must (or must not) have done during the run."""

    no_violation: bool = False
    """No call denied by policy (invalid arguments aside) and no policy escalation."""
    require_rule: list[str] = Field(default_factory=list)
    """Rule ids that must fire at least once (a decision, approval, limit or escalation)."""
    forbid_rule: list[str] = Field(default_factory=list)
    """Rule ids that must never fire."""

    _one_or_many = field_validator("require_rule", "forbid_rule", mode="before")(_listed)


class AnswerSpec(_Spec):
    """Optional checks on the final answer's text (a run without one fails them)."""

    contains: list[str] = Field(default_factory=list)
    not_contains: list[str] = Field(default_factory=list)
    regex: list[str] = Field(default_factory=list)
    """Each must be found somewhere in the text (Python ``re.search``)."""

    _one_or_many = field_validator("contains", "not_contains", "regex", mode="before")(_listed)


class ExpectSpec(_Spec):
    """The golden behaviours: what any acceptable run of this case does."""

    outcome: list[OutcomeName] = Field(default_factory=list)
    """The run's outcome (any of the listed ones)."""
    must_call: list[CallSpec] = Field(default_factory=list)
    must_not_call: list[CallSpec] = Field(default_factory=list)
    calls: CallsSpec | None = None
    before: list[BeforeSpec] = Field(default_factory=list)
    """Partial orders: reads in any order, all before a write."""
    counts: list[CountSpec] = Field(default_factory=list)
    """How many times calls may happen (a write done twice is a failure)."""
    ceilings: CeilingsSpec = Field(default_factory=CeilingsSpec)
    policy: PolicySpec = Field(default_factory=PolicySpec)
    final_answer: AnswerSpec = Field(default_factory=AnswerSpec)

    _one_or_many = field_validator(
        "outcome", "must_call", "must_not_call", "before", "counts", mode="before"
    )(_listed)


class CaseSpec(_Spec):
    """One case file."""

    description: str = ""
    workflow: str | None = None
    """A workflow name or ``package.module:attribute`` (default: the suite's)."""
    model: str | None = None
    """Model spec for live replays (default: the suite's, then the workflow's)."""
    input: dict[str, Any] = Field(default_factory=dict)
    approvals: ApprovalPlan = "pending"
    """How the replay answers approval requests: leave them pending, approve, or deny."""
    allow_unmatched_calls: bool = False
    """A call with no matching fixture gets an error result instead of failing the case."""
    fixtures: list[FixtureSpec] = Field(default_factory=list)
    include: list[str] = Field(default_factory=list)
    """Fixture files (relative to the case) whose fixtures follow the case's own."""
    recorded: RecordedSpec | None = None
    expect: ExpectSpec = Field(default_factory=ExpectSpec)


class SuiteSpec(_Spec):
    """The optional ``suite.yaml`` of a suite folder."""

    name: str | None = None
    """Names the suite in results (default: the folder's name)."""
    description: str = ""
    workflow: str | None = None
    """Default workflow of the cases."""
    model: str | None = None
    """Default model spec for live replays."""
    contract: str | None = None
    """A contract file (relative to this file) to replay every case under."""
    fixtures: list[FixtureSpec] = Field(default_factory=list)
    """Fixtures every case shares, after its own (read once for the whole suite)."""
    expect: ExpectSpec | None = None
    """Default expectations: a case's own ``expect`` keys replace these, key by key."""
    ignore_arguments: dict[str, list[str]] = Field(default_factory=dict)
    """Tool -> argument paths whose values never matter (free text), in every fixture
    and expectation of the suite."""


class FixtureFileSpec(_Spec):
    """A file of shared fixtures, named by cases' ``include``."""

    fixtures: list[FixtureSpec] = Field(default_factory=list)
