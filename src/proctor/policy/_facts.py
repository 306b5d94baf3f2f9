"""``RunFacts``: what policy knows about one run beyond its counters, folded from its log.

Where values came from (``Provenance``), the calls made so far with their arguments and
the trusted part of their results (``calls`` in conditions), the run's scopes, and how
often a person raised a ceiling. The runtime folds each event into it as it folds
``RunState``, so a resumed or replayed run decides from the same facts.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from proctor.contracts import CompiledCondition, ConditionError, Contract
from proctor.policy._provenance import Provenance
from proctor.store import (
    ApprovalDecided,
    Event,
    PolicyDecided,
    RunStarted,
    ToolFinished,
    ToolProposed,
    ToolStarted,
    ValuesSeen,
)

logger = logging.getLogger("proctor.policy")

CallStatus = Literal["proposed", "running", "ok", "failed", "denied"]


@dataclass(kw_only=True, slots=True)
class CallFact:
    """One call the model proposed, as conditions see it."""

    tool: str
    args: dict[str, Any]
    status: CallStatus = "proposed"
    rule: str | None = None
    at: float = 0.0
    """When it started running (0 before)."""
    result: Any = None
    """The trusted part of its result (filled in when conditions first read it)."""
    raw: Any = None
    """Its result as the tool returned it."""

    @property
    def counted(self) -> bool:
        """It ran and did not fail, or it is running: it counts against totals."""
        return self.status in ("ok", "running")

    def as_cel(self) -> dict[str, Any]:
        return {
            "tool": self.tool,
            "args": self.args,
            "ok": self.status == "ok",
            "status": self.status,
            "result": self.result,
            "at": self.at,
        }


@dataclass(kw_only=True)
class RunFacts:
    """Provenance, call history and scopes of one run."""

    provenance: Provenance
    track_values: bool = True
    """Index every value read (``False`` when no condition asks where values came from:
    the fold then costs nothing per result)."""
    active: bool = True
    """Fold events at all (``False`` when the contract reads neither history, scopes nor
    provenance: a step then pays nothing for facts)."""
    scope_programs: dict[str, CompiledCondition] = field(default_factory=dict)
    evaluate_scope: Callable[[CompiledCondition, dict[str, Any]], Any] | None = None
    calls: dict[str, CallFact] = field(default_factory=dict)
    scopes: dict[str, Any] = field(default_factory=dict)
    limit_raises: int = 0
    """Approvals a person gave to go past ``max_tool_calls`` (``on_limit: require_approval``)."""
    _cel_calls: list[dict[str, Any]] | None = None
    _counted: Counter[str] | None = None

    @classmethod
    def for_contract(
        cls,
        contract: Contract,
        scopes: dict[str, CompiledCondition],
        evaluate_scope: Callable[[CompiledCondition, dict[str, Any]], Any],
        *,
        track_values: bool = True,
        active: bool = True,
        key: bytes | None = None,
    ) -> RunFacts:
        return cls(
            provenance=Provenance(contract.trust, key=key),
            active=active or track_values,
            track_values=track_values,
            scope_programs=scopes,
            evaluate_scope=evaluate_scope,
        )

    def apply(self, event: Event) -> None:
        """Fold one event of the run's log."""
        if not self.active:
            return
        data = event.data
        match data:
            case RunStarted():
                if self.track_values:
                    self.provenance.add_input(data.input)
                self._compute_scopes(data.input)
            case ToolProposed():
                self.calls[data.call_id] = CallFact(tool=data.tool, args=dict(data.arguments))
                self._cel_calls = self._counted = None
            case PolicyDecided():
                call = self.calls.get(data.call_id)
                if call is not None:
                    call.rule = data.rule
                    if data.decision == "deny":
                        call.status = "denied"
            case ApprovalDecided():
                call = self.calls.get(data.call_id)
                if call is not None and data.approved and (call.rule or "").startswith("limit."):
                    self.limit_raises += 1
            case ToolStarted():
                call = self.calls.get(data.call_id)
                if call is not None:
                    call.status, call.at = "running", event.ts
                    self._cel_calls = self._counted = None
            case ToolFinished():
                if self.track_values:
                    self.provenance.add_result(data.tool, data.result)
                    if data.error:
                        self.provenance.add_result(data.tool, data.error)
                call = self.calls.get(data.call_id)
                if call is not None:
                    call.status = "ok" if data.ok else "failed"
                    call.raw = data.result
                    self._cel_calls = self._counted = None
            case ValuesSeen():
                self.provenance.add_fingerprints(data.source, data.trusted, data.untrusted)
            case _:
                pass

    def lost_values(
        self, event: Event, redact: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> ValuesSeen | None:
        """For a new event that gives the run values (its input, a tool's result): the
        fingerprints of what redaction will keep out of the record, if anything."""
        data = event.data
        raw: Any
        if not self.track_values:
            return None
        if isinstance(data, RunStarted):
            source, call_id, raw = "input", None, data.input
        elif isinstance(data, ToolFinished):
            source, call_id, raw = data.tool, data.call_id, [data.result, data.error]
        else:
            return None
        redacted = redact({"value": raw})["value"]
        if redacted == raw:
            return None
        trusted, untrusted = self.provenance.lost(source, raw, redacted)
        if not trusted and not untrusted:
            return None
        return ValuesSeen(source=source, call_id=call_id, trusted=trusted, untrusted=untrusted)

    def counted(self, tool: str) -> int:
        """How many calls of ``tool`` ran and did not fail, or are running."""
        if self._counted is None:
            self._counted = Counter(call.tool for call in self.calls.values() if call.counted)
        return self._counted[tool]

    def ran(self) -> list[CallFact]:
        """The calls that ran or are running, in the order they were proposed."""
        return [call for call in self.calls.values() if call.status in ("ok", "failed", "running")]

    def cel_calls(self) -> list[dict[str, Any]]:
        """``calls`` as conditions read it (built once per change)."""
        if self._cel_calls is None:
            self._cel_calls = [self.cel_call(call) for call in self.ran()]
        return self._cel_calls

    def cel_call(self, call: CallFact) -> dict[str, Any]:
        """One call as conditions read it, with the trusted part of its result."""
        if call.result is None and call.raw is not None:
            call.result = self.provenance.trusted_part(call.tool, call.raw)
        return call.as_cel()

    def _compute_scopes(self, run_input: dict[str, Any]) -> None:
        if self.evaluate_scope is None:
            return
        for name, program in self.scope_programs.items():
            try:
                self.scopes[name] = self.evaluate_scope(program, run_input)
            except ConditionError as exc:
                # Absent: every condition that reads it fails closed. Said once, here.
                logger.warning("scope %r could not be computed from the run input: %s", name, exc)
