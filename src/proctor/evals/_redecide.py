"""Re-deciding recorded runs under a candidate contract: a policy unit test over history.

Each selected run's log is folded, event by event, into a fresh ``RunState`` and the
candidate policy's ``RunFacts``, exactly as the runtime folds them. At each proposed
call's original decision (the first ``policy_decided`` after its ``tool_proposed``; the
decisions that follow a person or a credential are not ``Policy.decide``'s), the
candidate decides the same call over the state the recorded decision saw; at each final
answer, the candidate's required steps and ``final:`` checks judge it. A decision whose
kind or rule differs is a change.

Each decision is judged on the recorded history before it: where the candidate would
have refused an earlier call, the run would have gone differently from there, and
nothing here simulates that. Runs whose content retention purged are not compared. Calls
whose arguments (and answers whose text) redaction rewrote are decided on the record's
placeholders, and counted and marked as such: the live values may decide otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence

from proctor.contracts import Contract
from proctor.errors import NotFoundError, UsageError
from proctor.evals._redecide_report import DecisionChange, RunChanges, Unchecked, Verdict
from proctor.policy import Decision, Policy, ProposedCall, Redactor, RuleId, RunFacts
from proctor.runtime import opened_events, run_key_of
from proctor.store import (
    AnswerRefused,
    Escalated,
    Event,
    EvidenceKeys,
    ModelCalled,
    PolicyDecided,
    RunFilter,
    RunFinished,
    RunLog,
    RunRecord,
    RunStarted,
    RunState,
    Store,
    ToolProposed,
    row_to_event,
)
from proctor.tools import Registry, ToolArgumentsError

_NOT_POLICYS: tuple[RuleId, ...] = (
    "approval.granted",
    "approval.denied",
    "approval.expired",
    "credential.denied",
)
NOT_DECIDED_BY_POLICY = frozenset(_NOT_POLICYS)
"""Rules of recorded decisions that ``Policy.decide`` never makes: a person's or the
checker's verdict, an approval that expired, a tool's credential check."""

_DEFAULT_ALLOW: RuleId = "default.allow"
_ACCEPTED = Verdict(kind="allow", rule=_DEFAULT_ALLOW, reason="the answer stood")


async def recorded_runs(
    store: RunLog,
    workflow: str,
    *,
    run_ids: Sequence[str] = (),
    since: float | None = None,
    limit: int = 50,
) -> list[RunRecord]:
    """The recorded runs of ``workflow`` to re-decide: the ones named (``run_ids``), else
    the newest ``limit`` started at or after ``since``, newest first."""
    if not run_ids:
        return await store.list_runs(RunFilter(workflow=workflow, since=since, limit=limit))
    records = []
    for run_id in dict.fromkeys(run_ids):
        record = await store.get_run(run_id)
        if record is None:
            raise NotFoundError(f"no run {run_id!r} in this store; list runs with `proctor runs`")
        if record.workflow != workflow:
            raise UsageError(
                f"run {run_id} is a run of workflow {record.workflow!r}, but the contract is "
                f"for {workflow!r}; pick runs of {workflow!r} (proctor runs --workflow "
                f"{workflow})"
            )
        records.append(record)
    return records


async def redecide_runs(
    store: Store,
    contract: Contract,
    registry: Registry,
    runs: Sequence[str],
    *,
    keys: EvidenceKeys | None = None,
) -> list[RunChanges]:
    """Re-decide each recorded run (by id) under ``contract``: what would change.

    ``registry`` is the workflow's, so a call is judged with its tool's schema as live.
    With ``keys`` (the store secret's), runs are re-decided on the raw values their
    record keeps sealed, as they were decided live; without, on the redacted record.
    """
    policy = Policy(contract, registry)
    results = []
    for run_id in runs:
        rows = await store.events(run_id)
        if not rows:
            raise NotFoundError(f"no run {run_id!r} in this store; list runs with `proctor runs`")
        key = await run_key_of(store, keys, run_id)
        if key is None:
            events = [row_to_event(row) for row in rows]
        else:
            events = opened_events(run_id, rows, key, "re-decide")
        results.append(redecide_events(events, policy))
    return results


def redecide_events(events: Sequence[Event], policy: Policy) -> RunChanges:
    """Re-decide one run's log under ``policy`` (the candidate's)."""
    started = events[0].data
    run = RunChanges(
        run_id=events[0].run_id,
        contract_hash=started.contract_hash if isinstance(started, RunStarted) else "",
    )
    if any(event.purged for event in events):
        run.purged = True
        run.notes.append("retention purged this run's content: nothing was compared")
        return run
    state, facts = RunState(), policy.new_facts()
    proposals: dict[str, ToolProposed] = {}
    for at, event in enumerate(events):
        data = event.data
        if (
            isinstance(data, PolicyDecided)
            and data.call_id in proposals
            and data.rule not in NOT_DECIDED_BY_POLICY
        ):
            proposed = proposals.pop(data.call_id)
            _compare_call(run, proposed, data, policy, state, facts, now=event.ts)
        state.apply(event)
        facts.apply(event)
        match data:
            case ToolProposed():
                proposals[data.call_id] = data
            case ModelCalled(tool_calls=[]):
                _compare_answer(run, data, events[at + 1 :], policy, state, facts, now=event.ts)
            case _:
                pass
    if Redactor.has_placeholder(state.input):
        run.notes.append(
            "redaction rewrote part of the run's input: conditions on it read the placeholders"
        )
    return run


def _compare_call(
    run: RunChanges,
    proposed: ToolProposed,
    decided: PolicyDecided,
    policy: Policy,
    state: RunState,
    facts: RunFacts,
    *,
    now: float,
) -> None:
    redacted = Redactor.has_placeholder([proposed.arguments, proposed.raw_arguments])
    run.redacted += redacted
    decision = policy.decide(_proposed_call(proposed, policy.registry), state, now=now, facts=facts)
    recorded = Verdict(kind=decided.decision, rule=decided.rule, reason=decided.reason)
    run.checked += 1
    if (decision.kind, decision.rule) != (recorded.kind, recorded.rule):
        run.changes.append(
            DecisionChange(
                run_id=run.run_id,
                subject="call",
                call_id=proposed.call_id,
                tool=proposed.tool,
                step=proposed.step,
                recorded=recorded,
                candidate=_verdict(decision),
                redacted=redacted,
            )
        )


def _compare_answer(
    run: RunChanges,
    answer: ModelCalled,
    after: Sequence[Event],
    policy: Policy,
    state: RunState,
    facts: RunFacts,
    *,
    now: float,
) -> None:
    recorded = _answer_outcome(after)
    if recorded is None:
        run.unchecked.append(
            Unchecked(
                subject="answer",
                call_id=None,
                tool=None,
                step=answer.turn,
                why="the record does not say what became of it (the run stopped there)",
            )
        )
        return
    redacted = Redactor.has_placeholder(answer.text or "")
    run.redacted += redacted
    refused = policy.check_finish(state) or policy.check_answer(
        state.final_text or "", state, facts=facts, now=now
    )
    candidate = _ACCEPTED if refused is None else _verdict(refused)
    run.checked += 1
    same_rule = recorded.rule is None or recorded.rule == candidate.rule
    if recorded.kind != candidate.kind or not same_rule:
        run.changes.append(
            DecisionChange(
                run_id=run.run_id,
                subject="answer",
                call_id=None,
                tool=None,
                step=answer.turn,
                recorded=recorded,
                candidate=candidate,
                redacted=redacted,
            )
        )


def _answer_outcome(after: Sequence[Event]) -> Verdict | None:
    """What the record says became of a final answer: it was refused (``answer_refused``),
    ended the run by a rule (``escalated``), stood (``run_finished`` resolved or
    draft-only), or ended it failed (rule unknown); ``None`` if the log stops first."""
    for event in after:
        match event.data:
            case AnswerRefused(rule=rule, reason=reason) | Escalated(rule=rule, reason=reason):
                return Verdict(kind="deny", rule=rule, reason=reason)
            case RunFinished(outcome=outcome, reason=reason):
                if outcome in ("resolved", "draft_only"):
                    return _ACCEPTED
                return Verdict(kind="deny", rule=None, reason=reason)
            case ModelCalled():
                return None
            case _:
                pass
    return None


def _proposed_call(proposed: ToolProposed, registry: Registry) -> ProposedCall:
    """The call as the runtime put it to policy: its tool, and why its arguments do not
    fit the tool's schema (if they do not)."""
    tool = registry.get(proposed.tool)
    invalid = None
    if proposed.raw_arguments is not None:
        invalid = f"arguments for {proposed.tool} are not a JSON object"
    elif tool is not None:
        try:
            tool.validate(proposed.arguments)
        except ToolArgumentsError as exc:
            invalid = str(exc)
    return ProposedCall(
        name=proposed.tool,
        arguments=proposed.arguments,
        args_digest=proposed.args_digest,
        tool=tool,
        invalid=invalid,
    )


def _verdict(decision: Decision) -> Verdict:
    return Verdict(kind=decision.kind, rule=decision.rule, reason=decision.reason)
