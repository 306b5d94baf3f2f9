"""The contract's data-flow terms: trust of sources, run scopes, rules, final-answer checks.

```yaml
default: deny              # a call needs an `allow` rule (allow: the default)
trust:
  input: trusted           # or untrusted, or {default: trusted, fields: {notes: untrusted}}
  tools:                   # a tool not listed here returns untrusted data
    contacts.search: trusted
    email.read: {default: untrusted, fields: {sender: trusted, id: trusted}}
scopes:
  recipients: "emails(input.request) + input.contacts"
rules:
  - deny: email.send
    when: "untrusted(args.to)"
    on_violation: deny_and_continue
  - allow: [email.read, contacts.search]
final:
  - when: "urls(text).exists(u, untrusted(u))"
    reason: the answer links to a site the agent only read about
```
"""

from __future__ import annotations

import functools
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Violation = Literal["deny_and_continue", "handoff", "draft_only", "fail", "require_approval"]
"""What breaking a rule leads to: the call is refused and the model told why, the run is
handed to a person, the run's writes become drafts, the run fails, or a person decides."""

TrustLevel = Literal["trusted", "untrusted"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceTrust(_Strict):
    """Trust of one source's data: a default, and exceptions by field path.

    A path is dotted keys (``sender``, ``messages.sender``); lists are walked through, so
    a path never names an index. The longest declared path that is a prefix of a value's
    path decides."""

    default: TrustLevel = "untrusted"
    fields: dict[str, TrustLevel] = Field(default_factory=dict)

    @field_validator("fields")
    @classmethod
    def _paths(cls, fields: dict[str, TrustLevel]) -> dict[str, TrustLevel]:
        for path in fields:
            if not path or any(not part for part in path.split(".")):
                raise ValueError(
                    f"field path {path!r} is not dotted keys; fix: write e.g. sender or "
                    "messages.sender (lists are walked through, never indexed)"
                )
        return fields

    def trusted(self, path: str) -> bool:
        """Whether the value at ``path`` is trusted."""
        return _trusted(self.default, tuple(self.fields.items()), path)


@functools.lru_cache(maxsize=4096)
def _trusted(default: TrustLevel, fields: tuple[tuple[str, TrustLevel], ...], path: str) -> bool:
    level, best = default, -1
    for declared, declared_level in fields:
        if (path == declared or path.startswith(declared + ".")) and len(declared) > best:
            best, level = len(declared), declared_level
    return level == "trusted"


def _as_source(value: object, default: TrustLevel) -> object:
    """``trusted``/``untrusted`` is short for ``{default: ...}``."""
    if isinstance(value, str):
        return {"default": value}
    if isinstance(value, dict) and "default" not in value:
        return {"default": default, **value}
    return value


class TrustSpec(_Strict):
    """Which sources a contract trusts: the run input (trusted unless said otherwise) and
    each tool's output (untrusted unless declared)."""

    input: SourceTrust = Field(default_factory=lambda: SourceTrust(default="trusted"))
    tools: dict[str, SourceTrust] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _short_forms(cls, data: object) -> object:
        if not isinstance(data, dict):
            return data
        out = dict(data)
        if "input" in out:
            out["input"] = _as_source(out["input"], "trusted")
        if isinstance(out.get("tools"), dict):
            out["tools"] = {
                name: _as_source(value, "untrusted") for name, value in out["tools"].items()
            }
        return out

    def input_trusted(self, path: str) -> bool:
        return self.input.trusted(path)

    def tool_trusted(self, tool: str, path: str) -> bool:
        source = self.tools.get(tool)
        return source is not None and source.trusted(path)


ToolNames = str | list[str]


class Rule(_Strict):
    """A conditional ``deny`` or ``allow`` of calls: ``deny: TOOLS`` refuses the calls it
    matches (where ``when`` holds); ``allow: TOOLS`` permits them under ``default: deny``.
    ``TOOLS`` is a tool's name, a list of names, or ``"*"`` (every tool)."""

    deny: ToolNames | None = None
    allow: ToolNames | None = None
    when: str | None = None
    """CEL over ``args``, ``input``, ``state``, ``calls``, ``scopes`` and ``tool``; absent
    means every call of the tools."""
    id: str | None = None
    reason: str | None = None
    on_violation: Violation | None = None
    """What a denial leads to; absent: ``escalation.on_policy_violation`` decides."""

    @model_validator(mode="after")
    def _one_kind(self) -> Rule:
        if (self.deny is None) == (self.allow is None):
            raise ValueError(
                "a rule needs exactly one of deny: and allow:; fix: name the tools it "
                "covers under one of them (a name, a list of names, or '*')"
            )
        if self.allow is not None and self.on_violation is not None:
            raise ValueError(
                "on_violation belongs to deny rules, an allow rule only permits calls; fix: "
                "say what an unpermitted call leads to with the top-level on_violation"
            )
        return self

    @property
    def kind(self) -> Literal["deny", "allow"]:
        return "deny" if self.deny is not None else "allow"

    @property
    def tools(self) -> list[str]:
        names = self.deny if self.deny is not None else self.allow
        assert names is not None
        return [names] if isinstance(names, str) else list(names)

    def rule_id(self, index: int) -> str:
        """``rule.<id>``; without an id, ``rule.<kind>.<first tool>.<position>``."""
        if self.id:
            return f"rule.{self.id}"
        first = self.tools[0] if self.tools else "none"
        return f"rule.{self.kind}.{first}.{index}"


class FinalCheck(_Strict):
    """A condition the run's final answer must not meet: ``when`` holding refuses it."""

    when: str
    """CEL over ``text`` (the answer), ``input``, ``state``, ``calls`` and ``scopes``."""
    id: str | None = None
    reason: str | None = None
    on_violation: Violation = "deny_and_continue"
    """``deny_and_continue``: the model is told why and answers again; ``handoff``,
    ``draft_only`` or ``fail`` end the run so; ``require_approval`` is not available for
    answers."""

    @field_validator("on_violation")
    @classmethod
    def _not_approval(cls, value: Violation) -> Violation:
        if value == "require_approval":
            raise ValueError(
                "an answer cannot wait for approval; fix: use deny_and_continue (the model "
                "answers again), handoff, draft_only or fail"
            )
        return value

    def rule_id(self, index: int) -> str:
        return f"final.{self.id or index}"
