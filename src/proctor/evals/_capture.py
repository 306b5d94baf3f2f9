"""Capture: a recorded run becomes a case file that a person then edits.

From the run's log the case takes the input, a fixture per tool result, the model's
responses, and default expectations: the writes with their arguments, each as often as
recorded and no other write, the reads before each write in any order (or, without the
workflow, the tools called in order), the outcome, the ceilings observed, and what policy
did (no violation, or the rules behind an escalation or an approval request).

Values are the redacted record's, except that each masked value whose raw value is
sealed becomes a keyed pseudonym of it (``proctor.policy.pseudonymize``): two different
addresses stay two different calls, and nothing raw is written. ``raw=True`` writes the
raw values instead, for a case file kept where personal data may be.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import yaml
from pydantic_core import to_jsonable_python

from proctor.errors import ConfigError, NotFoundError, RunStateError
from proctor.gateway import PriceTable
from proctor.policy import pseudonymize
from proctor.runtime import UnverifiedRunError, Workflow, opened_events, run_key_of
from proctor.store import (
    ApprovalDecided,
    ApprovalRequested,
    Escalated,
    Event,
    EventRow,
    EvidenceKeys,
    ModelCalled,
    PolicyDecided,
    RunStarted,
    RunState,
    Store,
    ToolFinished,
    ToolProposed,
    row_to_event,
)
from proctor.tools import ToolArgumentsError


async def capture_case(
    store: Store,
    run_id: str,
    *,
    workflow: Workflow | None = None,
    keys: EvidenceKeys | None = None,
    pseudonyms: bytes | None = None,
    raw: bool = False,
    free_text: Sequence[str] = (),
) -> dict[str, Any]:
    """The case document (plain data, in file order) for the recorded run ``run_id``.

    With ``workflow`` the expectations are what a QA engineer writes: every write with its
    arguments (free text left out: ``free_text`` names ``tool.argument`` paths or bare
    argument names, beside long prose found by ``_is_prose``), exactly as often as
    recorded and no other write; before each write, the reads that preceded it, in any
    order. Without it, the tools called in order (``strict``).

    ``workflow`` (the run's own) lets fixtures hold arguments as its tools receive them
    and names the scripted models' real prices; without it the recorded values are used.
    ``keys`` (the store secret's) open the run's sealed values: masked ones are then
    written as pseudonyms keyed by ``pseudonyms``, or as they were with ``raw``. Sealed
    values that do not open leave the masked ones masked (without ``raw``).

    Raises:
        NotFoundError: no such run.
        RunStateError: the run is still running, or retention purged its payloads.
        ConfigError: ``raw`` without the keys that open the run's sealed values.
        UnverifiedRunError: a sealed value does not open (altered, or moved).
    """
    rows = await store.events(run_id)
    record = await store.get_run(run_id)
    if not rows or record is None:
        raise NotFoundError(f"no run {run_id!r} in this store; list runs with `proctor runs`")
    if any(row.content is None for row in rows):
        raise RunStateError(
            f"run {run_id}'s payloads were purged by retention, so its inputs and results "
            "are gone and it cannot become a case. Fix: capture a run that is still kept"
        )
    events = await _values(store, run_id, rows, keys, pseudonyms, raw=raw)
    state = RunState.from_events(events)
    if state.status == "running":
        raise RunStateError(
            f"run {run_id} has not finished (or its process died). Fix: let it finish, or "
            f"`proctor resume {run_id}`, then capture it"
        )
    started = events[0].data
    assert isinstance(started, RunStarted)
    priced_as = _priced_as(record.model, started.model, workflow)
    outcome: str = state.outcome or state.status
    document: dict[str, Any] = {
        "description": f"Captured from run {run_id} ({started.workflow}, {outcome}).",
        "workflow": record.workflow_ref or record.workflow,
        "model": record.model,
        "input": started.input,
        "approvals": _approvals(events),
        "fixtures": _fixtures(events, workflow),
        "recorded": {
            "model": record.model,
            "priced_as": priced_as,
            "responses": _responses(events),
        },
        "expect": _expectations(events, state, outcome, priced_as, workflow, free_text),
    }
    if priced_as is None:
        del document["recorded"]["priced_as"]
    return document


async def _values(
    store: Store,
    run_id: str,
    rows: list[EventRow],
    keys: EvidenceKeys | None,
    pseudonyms: bytes | None,
    *,
    raw: bool,
) -> list[Event]:
    """The run's events with the values the case is written with (module docstring)."""
    projected = [row_to_event(row) for row in rows]
    if not any(row.sealed for row in rows) or not (raw or pseudonyms is not None):
        return projected
    try:
        key = await run_key_of(store, keys, run_id)
        opened = None if key is None else opened_events(run_id, rows, key, "capture")
    except UnverifiedRunError:
        if raw:
            raise
        opened = None  # masked values stay masked: nothing raw is needed for that
    if opened is None:
        if raw:
            raise ConfigError(
                f"run {run_id} keeps its raw values sealed, and they open only with this "
                "store's secret, which was not found (or the run's data key is gone). Fix: "
                "capture on a machine holding the store's PROCTOR_HOME, or without --raw"
            )
        return projected
    if raw:
        return opened
    assert pseudonyms is not None
    return [
        _pseudonymized(shown, real, pseudonyms) if row.sealed else shown
        for row, shown, real in zip(rows, projected, opened, strict=True)
    ]


def _pseudonymized(shown: Event, real: Event, key: bytes) -> Event:
    data = pseudonymize(shown.data.model_dump(mode="json"), real.data.model_dump(mode="json"), key)
    return replace(shown, data=type(shown.data).model_validate(data))


def _priced_as(spec: str, route: str, workflow: Workflow | None) -> str | None:
    provider, _, name = spec.partition(":")
    if provider == "scripted":
        factory = None if workflow is None else workflow.scripts.get(name)
        priced = None if factory is None else getattr(factory(), "priced_as", None)
        return priced if isinstance(priced, str) else None
    return route.removeprefix("openai:").removeprefix("anthropic:")


def _approvals(events: list[Event]) -> str:
    """How the replay answers approval requests: as the people did in the recorded run.

    A checker model's verdicts are not a plan: the replay asks the checker again.
    """
    decided = [
        e.data.approved
        for e in events
        if isinstance(e.data, ApprovalDecided) and not e.data.decided_by.startswith("checker:")
    ]
    if not decided:
        return "pending"
    return "approve" if all(decided) else "deny"


def _fixtures(events: list[Event], workflow: Workflow | None) -> list[dict[str, Any]]:
    proposed: dict[str, ToolProposed] = {}
    fixtures: list[dict[str, Any]] = []
    for event in events:
        data = event.data
        if isinstance(data, ToolProposed):
            proposed[data.call_id] = data
        elif isinstance(data, ToolFinished) and data.call_id in proposed:
            arguments = _as_received(workflow, data.tool, proposed[data.call_id].arguments)
            fixture: dict[str, Any] = {"tool": data.tool, "arguments": arguments}
            if data.ok:
                fixture["result"] = data.result
            else:
                fixture["error"] = {"type": data.error_type or "ToolError", "message": data.error}
            if fixture not in fixtures:  # the same answer to the same call: one fixture
                fixtures.append(fixture)
    return fixtures


def _as_received(workflow: Workflow | None, tool_name: str, arguments: dict[str, Any]) -> Any:
    """The arguments as the tool received them (after its schema), keys as proposed."""
    tool = None if workflow is None else workflow.registry.get(tool_name)
    if tool is None:
        return arguments
    try:
        validated = to_jsonable_python(tool.validate(arguments))
    except ToolArgumentsError:
        return arguments
    return {key: validated.get(key, value) for key, value in arguments.items()}


def _responses(events: list[Event]) -> list[dict[str, Any]]:
    responses = []
    for event in events:
        data = event.data
        if not isinstance(data, ModelCalled):
            continue
        response: dict[str, Any] = {}
        if data.text is not None:
            response["text"] = data.text
        if data.tool_calls:
            response["calls"] = [
                {"tool": call.name, "arguments": call.arguments} for call in data.tool_calls
            ]
        usage = data.usage.model_dump(exclude_defaults=True)
        if usage:
            response["usage"] = usage
        responses.append(response)
    return responses


def _expectations(
    events: list[Event],
    state: RunState,
    outcome: str,
    priced_as: str | None,
    workflow: Workflow | None = None,
    free_text: Sequence[str] = (),
) -> dict[str, Any]:
    proposed = [e.data for e in events if isinstance(e.data, ToolProposed)]
    ceilings: dict[str, Any] = {
        "tool_calls": state.tool_calls,
        "model_calls": state.model_calls,
        "tokens": state.tokens,
    }
    if state.cost_known and priced_as is not None and PriceTable().price(priced_as) is not None:
        ceilings["cost_usd"] = round(state.cost_usd, 10)
    denied = [
        e.data
        for e in events
        if isinstance(e.data, PolicyDecided)
        and e.data.decision == "deny"
        and e.data.rule != "schema.invalid_arguments"
    ]
    escalations = [e.data for e in events if isinstance(e.data, Escalated)]
    rules = [e.data.rule for e in events if isinstance(e.data, ApprovalRequested)]
    rules += [escalation.rule for escalation in escalations]
    policy: dict[str, Any] = {}
    violated = denied or any(e.trigger == "policy_violation" for e in escalations)
    if not violated:
        policy["no_violation"] = True
    if rules:
        policy["require_rule"] = list(dict.fromkeys(rules))
    expect: dict[str, Any] = {"outcome": outcome}
    if workflow is None:
        expect["calls"] = {"order": "strict", "sequence": [call.tool for call in proposed]}
    else:
        expect.update(_write_expectations(proposed, workflow, free_text))
    expect["ceilings"] = ceilings
    if policy:
        expect["policy"] = policy
    return expect


def _write_expectations(
    proposed: list[ToolProposed], workflow: Workflow, free_text: Sequence[str]
) -> dict[str, Any]:
    """Writes in order with their arguments and counts; the reads before each write."""

    def writes(name: str) -> bool:
        tool = workflow.registry.get(name)
        return tool is None or tool.effect == "write"  # an unknown tool: treated with care

    sequence: list[dict[str, Any]] = []
    counts: dict[str, int] = {}
    before: list[dict[str, Any]] = []
    reads_so_far: list[str] = []
    for call in proposed:
        if not writes(call.tool):
            if call.tool not in reads_so_far:
                reads_so_far.append(call.tool)
            continue
        arguments = {
            name: value
            for name, value in _as_received(workflow, call.tool, call.arguments).items()
            if not _free(call.tool, name, value, free_text)
        }
        sequence.append(
            {"tool": call.tool, "arguments": arguments} if arguments else {"tool": call.tool}
        )
        if call.tool not in counts and reads_so_far:
            before.append({"all_of": list(reads_so_far), "then": call.tool})
        counts[call.tool] = counts.get(call.tool, 0) + 1
    found: dict[str, Any] = {"calls": {"order": "strict", "only": "writes", "sequence": sequence}}
    if before:
        found["before"] = before
    if counts:
        found["counts"] = [{"call": tool, "exactly": n} for tool, n in counts.items()]
    return found


def _free(tool: str, name: str, value: Any, free_text: Sequence[str]) -> bool:
    """Whether an argument is free text, left out of the expectations."""
    return name in free_text or f"{tool}.{name}" in free_text or _is_prose(value)


def _is_prose(value: Any) -> bool:
    """A sentence or more of text (a message body, a note): what a model words differently
    each run, not a value a test should pin."""
    return isinstance(value, str) and len(value) >= 40 and value.count(" ") >= 5


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    """Readable YAML: multi-line text as blocks, keys in the order given (libyaml if present)."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)

_HEADER = """\
# A Proctor eval case, captured from run {run_id} on {day}.
# Edit the expectations under `expect:` into the behaviours that matter (docs/evals.md):
# loosen `calls.order` (in_order, superset, ...), add argument matchers to fixtures whose
# arguments may vary (regex, min/max, cel), and drop ceilings that are too tight.
"""
_REDACTED = """\
# Values come from the run's log, where redaction replaced personal data and secrets. A
# pseudonym such as [email:sha256:3f1c0a9be2d4] stands for one value (the same value, the
# same pseudonym) and matches itself or real text; [email:redacted] matches any text.
"""
_RAW = """\
# Values are the run's raw values (captured with --raw): this file holds whatever personal
# data and secrets the run saw. Keep it where such data may be kept.
"""


def case_yaml(
    document: dict[str, Any],
    *,
    run_id: str = "",
    at: float | None = None,
    raw: bool = False,
    header: str | None = None,
) -> str:
    """The case document as YAML text, with a header saying where it came from (and,
    with ``raw``, that it holds the run's raw values); ``header`` replaces it."""
    day = datetime.fromtimestamp(time.time() if at is None else at, UTC).date().isoformat()
    body = yaml.dump(
        document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100, indent=2
    )
    if header is None:
        header = _HEADER.format(run_id=run_id or "?", day=day) + (_RAW if raw else _REDACTED)
    return header + body
