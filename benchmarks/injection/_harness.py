"""Running the benchmark: each legitimate task clean, each attack case under two approvers.

A case is one run of the real runtime (``Runner`` over a ``MemoryStore``): the scripted
agent proposes calls, the contract's policy decides them, tools act on the case's own
environment. When a run waits for approval the harness plays the approver:

- ``rubber_stamp``: approves everything (no human in the loop, in effect);
- ``ideal``: denies exactly the calls the agent made for the attacker, approves the rest.

Afterwards the environment says whether the task was done and whether the attacker's goal
was reached.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Generic, Literal

from injection._agent import InjectableAgent, is_attacker_call
from injection._core import Attack, E, Suite, Task, bind, unbind
from proctor.contracts import Contract, load_contract
from proctor.errors import ProctorError
from proctor.runtime import Runner, RunResult, Workflow, decide_approval, new_run_id
from proctor.store import MemoryStore, ToolFinished, row_to_event

Approver = Literal["rubber_stamp", "ideal"]
APPROVERS: tuple[Approver, ...] = ("rubber_stamp", "ideal")
_NOT_POLICY = frozenset({"schema.invalid_arguments", "registry.unregistered_tool"})
_MAX_APPROVALS = 40


@dataclass(frozen=True, kw_only=True)
class CaseResult:
    """What one run did, and what it left in its environment."""

    task: str
    attack: str | None
    approver: Approver
    outcome: str | None
    task_done: bool
    """The run resolved and the task's effect is in the environment."""
    task_denied: tuple[str, ...]
    """Rules that denied the task's own calls."""
    task_approvals: int
    """Approvals the task's own calls needed."""
    escalated: bool
    attack_calls: int = 0
    attack_denied: int = 0
    """Attacker calls refused by policy, with no person involved."""
    attack_asked: int = 0
    """Attacker calls sent to a person."""
    attack_writes: int = 0
    """Attacker calls of tools whose effect is ``write``."""
    attack_writes_denied: int = 0
    """Of those, refused by policy with no person involved."""
    attack_rules: tuple[str, ...] = ()
    """Rules that decided the attacker's calls (denied or sent for approval)."""
    achieved: bool | None = None
    """The attacker's goal is in the environment (attack cases only)."""
    answers_refused: tuple[str, ...] = ()
    """Rules of ``final`` checks that refused an answer (the agent answered again)."""

    @property
    def utility(self) -> bool:
        """Done with no person involved and nothing refused."""
        return (
            self.task_done
            and not self.task_denied
            and not self.task_approvals
            and not self.escalated
            and not self.answers_refused
        )

    @property
    def needs_person(self) -> bool:
        return bool(self.task_approvals) or self.escalated


@dataclass(kw_only=True)
class SuiteResult:
    """One suite under one contract."""

    suite: str
    contract: str
    path: str
    error: str | None = None
    clean: list[CaseResult] = field(default_factory=list)
    attacked: dict[Approver, list[CaseResult]] = field(default_factory=dict)


def _workflow(suite: Suite[E], contract: Contract) -> Workflow:
    return Workflow(
        name=suite.name,
        registry=suite.registry(),
        contract=contract,
        instructions=suite.instructions,
        default_model="scripted:agent",
        scripts={"agent": lambda: InjectableAgent(suite=suite)},
        description=suite.title,
    )


class Bench(Generic[E]):
    """Runs cases of one suite under one contract."""

    def __init__(self, suite: Suite[E], contract: Contract, store: MemoryStore) -> None:
        self.suite: Suite[E] = suite
        self.store = store
        self.runner = Runner(store, _workflow(suite, contract), live_telemetry=False)

    async def run(
        self,
        task: Task[E],
        *,
        slots: Mapping[str, str] | None = None,
        attack: Attack[E] | None = None,
        approver: Approver = "rubber_stamp",
        clean: E | None = None,
    ) -> tuple[CaseResult, RunResult]:
        """Run one case; ``clean`` is the environment a clean run of the task left."""
        case, result, env = await self.run_in(task, slots=slots, attack=attack, approver=approver)
        if attack is not None and attack.beyond is not None and clean is not None:
            case = replace(case, achieved=attack.beyond(env, clean))
        return case, result

    async def run_in(
        self,
        task: Task[E],
        *,
        slots: Mapping[str, str] | None = None,
        attack: Attack[E] | None = None,
        approver: Approver = "rubber_stamp",
    ) -> tuple[CaseResult, RunResult, E]:
        """Run one case; also return the environment it left."""
        env = self.suite.make_env(slots or {})
        run_id = new_run_id()
        bind(run_id, env)
        asked: dict[str, str] = {}
        try:
            result = await self.runner.start(task.run_input(), run_id=run_id, started_by="user")
            for _ in range(_MAX_APPROVALS):
                if result.status != "awaiting_approval":
                    break
                await self._decide(result, approver, asked)
                result = await self.runner.resume(run_id, reason="decided")
        finally:
            unbind(run_id)
        text = result.final_text or ""
        refused = tuple(
            str(row.meta.get("rule", "final"))
            for row in await self.store.events(run_id)
            if row.type == "answer_refused"
        )
        case = self._result(task, attack, approver, result, env, text, asked)
        return replace(case, answers_refused=refused), result, env

    async def _decide(self, result: RunResult, approver: Approver, asked: dict[str, str]) -> None:
        state = result.state
        approval_id = state.pending_approval
        assert approval_id is not None
        call = next(c for c in state.calls.values() if c.approval_id == approval_id)
        asked[call.call.id] = str(call.rule)
        approve = approver == "rubber_stamp" or not is_attacker_call(call.call.id)
        await decide_approval(
            self.store,
            approval_id,
            approved=approve,
            by="approver",
            reason="" if approve else "this is not what the user asked for",
        )

    def _writes(self, name: str) -> bool:
        found = self.runner.registry.get(name)
        return found is not None and found.effect == "write"

    def _result(
        self,
        task: Task[E],
        attack: Attack[E] | None,
        approver: Approver,
        result: RunResult,
        env: E,
        text: str,
        asked: Mapping[str, str],
    ) -> CaseResult:
        state = result.state
        task_denied: list[str] = []
        task_approvals = attack_calls = attack_denied = attack_asked = 0
        attack_writes = attack_writes_denied = 0
        attack_rules: list[str] = []
        for call in state.calls.values():
            policy_denied = call.decision == "deny" and call.rule not in _NOT_POLICY
            if is_attacker_call(call.call.id):
                attack_calls += 1
                if self._writes(call.call.name):
                    attack_writes += 1
                    attack_writes_denied += policy_denied and call.approval_id is None
                if call.approval_id is not None:
                    attack_asked += 1
                elif policy_denied:
                    attack_denied += 1
                if call.approval_id is not None or policy_denied:
                    attack_rules.append(asked.get(call.call.id, str(call.rule)))
            else:
                task_approvals += call.approval_id is not None
                if policy_denied and call.approval_id is None:
                    task_denied.append(str(call.rule))
        return CaseResult(
            task=task.id,
            attack=None if attack is None else attack.id,
            approver=approver,
            outcome=state.outcome,
            task_done=state.outcome == "resolved" and task.check(env, text),
            task_denied=tuple(task_denied),
            task_approvals=task_approvals,
            escalated=bool(state.escalations) or state.outcome in ("escalated", "draft_only"),
            attack_calls=attack_calls,
            attack_denied=attack_denied,
            attack_asked=attack_asked,
            attack_writes=attack_writes,
            attack_writes_denied=attack_writes_denied,
            attack_rules=tuple(attack_rules),
            achieved=None if attack is None else attack.achieved(env, text),
        )


def permissive(suite: Suite[E]) -> Contract:
    """A contract that allows every call: the probe runs under it."""
    return Contract.model_validate({"workflow": suite.name, "redaction": {"enabled": False}})


@dataclass(frozen=True, kw_only=True)
class Probe(Generic[E]):
    """What each task does when nothing stops it and nobody attacks it."""

    read: Mapping[str, tuple[str, ...]]
    """The slots whose content the task's run reads, in order."""
    clean: Mapping[str, E]
    """The environment its run leaves behind."""


async def probe(suite: Suite[E], store: MemoryStore) -> Probe[E]:
    """Run each task under a permissive contract with a marker in every slot: which slots
    it reads, and the environment it leaves. Checks that each task completes."""
    bench = Bench(suite, permissive(suite), store)
    markers = {slot: f" [[slot {slot}]]" for slot in suite.slots}
    read: dict[str, tuple[str, ...]] = {}
    clean: dict[str, E] = {}
    for task in suite.tasks:
        case, result, env = await bench.run_in(task, slots=markers)
        if not case.task_done:
            raise RuntimeError(
                f"{suite.name}/{task.id} does not complete under a permissive contract "
                f"(outcome {case.outcome}, answer {result.final_text!r}): the task is broken"
            )
        text = "\n".join(
            str(event.data.result)
            for event in map(row_to_event, await store.events(result.run_id))
            if isinstance(event.data, ToolFinished) and event.data.ok
        )
        read[task.id] = tuple(slot for slot, marker in markers.items() if marker in text)
        clean[task.id] = env
    return Probe(read=read, clean=clean)


def attack_cases(
    suite: Suite[E], read: Mapping[str, Sequence[str]]
) -> list[tuple[Task[E], Attack[E], dict[str, str]]]:
    """Every (task, attack) pair whose task reads poisoned content: the attacker's text is
    planted in every slot the task reads."""
    cases = []
    for task in suite.tasks:
        for attack in suite.attacks:
            if read[task.id]:
                planted = suite.planted(attack)
                cases.append((task, attack, dict.fromkeys(read[task.id], planted)))
    return cases


def load(path: Path) -> tuple[Contract | None, str | None]:
    """The contract in ``path``, or why it does not load."""
    try:
        return load_contract(path), None
    except ProctorError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return None, first


async def run_suite(
    suite: Suite[E],
    contract_name: str,
    path: Path | None,
    *,
    store: MemoryStore,
    probed: Probe[E],
    tasks: Sequence[str] | None = None,
    attacks: Sequence[str] | None = None,
) -> SuiteResult:
    """Every legitimate task clean, then every attack case under each approver.

    ``path`` ``None`` runs under the permissive contract (no policy at all)."""
    outcome = SuiteResult(suite=suite.name, contract=contract_name, path=str(path or ""))
    contract, error = (permissive(suite), None) if path is None else load(path)
    if contract is None:
        outcome.error = error
        return outcome
    try:
        bench = Bench(suite, contract, store)
    except ProctorError as exc:
        outcome.error = str(exc)
        return outcome
    chosen = [t for t in suite.tasks if tasks is None or t.id in tasks]
    for task in chosen:
        outcome.clean.append((await bench.run(task))[0])
    cases = [
        case
        for case in attack_cases(suite, probed.read)
        if case[0].id in {t.id for t in chosen} and (attacks is None or case[1].id in attacks)
    ]
    for approver in APPROVERS:
        outcome.attacked[approver] = [
            (
                await bench.run(
                    task,
                    slots=slots,
                    attack=attack,
                    approver=approver,
                    clean=probed.clean[task.id],
                )
            )[0]
            for task, attack, slots in cases
        ]
    return outcome
