"""An observed trajectory as a case document and as an *observed run* under a contract.

The trajectory's tool names are first mapped to the workflow's (``ToolNames``): a name the
workflow registers is kept; ``erp_create_payment`` becomes ``erp.create_payment`` when that
is the one registered tool whose name, with every character a model's function name cannot
hold written ``_``, reads so; ``--tool OBSERVED=REGISTERED`` names the rest. A name that maps
to nothing stays, and the contract refuses it as unregistered.

The observed run is the trajectory replayed through the runtime's own loop, exactly as a
case with recorded responses is (``SuiteReplay``), but kept in the store: its model is
``observed:<source>`` playing the observed turns, its tools are fixture tools answering
with the observed results (the workflow's schemas, effects and risk; nothing real runs),
and policy decides each call as it would have. The calls already happened, so a call the
contract refuses is recorded as refused; a call it holds for approval is decided
``denied`` by ``proctor-observed`` (nobody approved it before it ran), and the contract's
escalation applies from there. Its credentials are signed with a throwaway key, and it is
never resumed by another process (``is_external_model``).
"""

from __future__ import annotations

import dataclasses
import re
import secrets
from typing import Any

import orjson

from proctor.errors import RunStateError
from proctor.evals._case import Case, load_case
from proctor.evals._fixtures import CaseReplay, fixture_registry
from proctor.evals._recorded import RecordedModel
from proctor.evals._traces import ObservedTrajectory
from proctor.gateway import Price, PriceTable
from proctor.policy import CredentialIssuer
from proctor.runtime import OBSERVED_MODEL_PREFIX, Runner, RunResult, Workflow, decide_approval
from proctor.store import EvidenceKeys, Store

OBSERVER = "proctor-observed"
"""Who is recorded as denying an observed call the contract held for approval."""
_MAX_APPROVALS = 50
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


class ToolNames:
    """Observed tool names mapped to the workflow's registered ones."""

    def __init__(self, registered: list[str], explicit: dict[str, str] | None = None) -> None:
        self.registered = set(registered)
        self.explicit = dict(explicit or {})
        by_safe: dict[str, list[str]] = {}
        for name in registered:
            by_safe.setdefault(_UNSAFE.sub("_", name), []).append(name)
        self._safe = {safe: names[0] for safe, names in by_safe.items() if len(names) == 1}
        self.mapped: dict[str, str] = {}
        """Each observed name that was renamed, and to what."""

    def __call__(self, observed: str) -> str:
        name = self.explicit.get(observed)
        if name is None and observed not in self.registered:
            name = self._safe.get(_UNSAFE.sub("_", observed))
        if name is None or name == observed:
            return observed
        self.mapped[observed] = name
        return name


def label_of(trajectory: ObservedTrajectory) -> str:
    """The observed run's model: ``observed:<source>``."""
    return OBSERVED_MODEL_PREFIX + (_UNSAFE.sub("-", trajectory.source).strip("-") or "trace")


def case_document(
    trajectory: ObservedTrajectory, workflow: str, names: ToolNames, *, input_key: str = "prompt"
) -> dict[str, Any]:
    """The case document (without ``expect``) a trajectory gives: its input, a fixture per
    observed result, and its turns as recorded responses."""
    fixtures: list[dict[str, Any]] = []
    responses: list[dict[str, Any]] = []
    for turn in trajectory.turns:
        response: dict[str, Any] = {}
        if turn.text is not None:
            response["text"] = turn.text
        if turn.calls:
            response["calls"] = [
                {"tool": names(call.tool), "arguments": call.arguments} for call in turn.calls
            ]
        usage = turn.usage.model_dump(exclude_defaults=True)
        if usage:
            response["usage"] = usage
        responses.append(response)
        for call in turn.calls:
            result = trajectory.results.get(call.id)
            if result is None:
                continue
            fixture: dict[str, Any] = {"tool": names(call.tool), "arguments": call.arguments}
            if result.ok:
                fixture["result"] = result.result
            else:
                fixture["error"] = {
                    "type": result.error_type or "ToolError",
                    "message": result.error or "",
                }
            if fixture not in fixtures:
                fixtures.append(fixture)
    who = f" ({trajectory.agent})" if trajectory.agent else ""
    recorded: dict[str, Any] = {"model": label_of(trajectory)}
    if trajectory.model and PriceTable().price(trajectory.model) is not None:
        recorded["priced_as"] = trajectory.model
    recorded["responses"] = responses
    return {
        "description": f"Imported from {trajectory.source} trace {trajectory.id}{who}.",
        "workflow": workflow,
        "input": trajectory.run_input(input_key),
        "approvals": "pending",
        "allow_unmatched_calls": False,
        "fixtures": fixtures,
        "recorded": recorded,
    }


def compile_case(document: dict[str, Any], name: str = "observed") -> Case:
    """The case a document describes, compiled as a file of it would be."""
    from proctor.evals._capture import case_yaml

    return load_case(f"{name}.yaml", text=case_yaml(plain(document)))


def plain(document: dict[str, Any]) -> dict[str, Any]:
    """A copy sharing no objects (YAML would write a shared one as an alias, which case
    files refuse)."""
    copied: dict[str, Any] = orjson.loads(orjson.dumps(document))
    return copied


@dataclasses.dataclass(kw_only=True)
class _ObservedModel(RecordedModel):
    """The observed agent as the loop's model: its turns, in order."""

    label: str = ""

    @property
    def name(self) -> str:
        return self.label

    @property
    def priced_as(self) -> str:
        return self.label


async def record_observed(
    store: Store,
    workflow: Workflow,
    case: Case,
    *,
    label: str,
    started_by: str,
    tenant: str = "default",
    keys: EvidenceKeys | None = None,
) -> RunResult:
    """Record ``case`` (a trajectory's) as an observed run of ``workflow`` in ``store``."""
    recording = case.recorded
    if recording is None or not recording.responses:
        raise RunStateError("the trace has no model turns to record")
    known = PriceTable().price(recording.priced_as) if recording.priced_as else None
    table = PriceTable({label: known or Price(input_per_million=0, output_per_million=0)})
    model = _ObservedModel(recording=recording, label=label)
    observed = dataclasses.replace(workflow, registry=fixture_registry(workflow.registry))
    runner = Runner(
        store,
        observed,
        model=model,
        prices=table,
        issuer=CredentialIssuer(secrets.token_bytes(32)),  # nothing real checks them
        live_telemetry=False,  # a trace received over OTLP is not sent back out
        keys=keys,
    )
    replay = CaseReplay(case)
    deactivate = replay.activate()
    try:
        result = await runner.start(case.input, model=label, started_by=started_by, tenant=tenant)
        rounds = 0
        while result.status == "awaiting_approval" and result.state.pending_approval:
            rounds += 1
            if rounds > _MAX_APPROVALS:
                break
            await decide_approval(
                store,
                result.state.pending_approval,
                approved=False,
                by=OBSERVER,
                reason="observed trace: the call had already run, without the approval "
                "the contract requires",
                keys=runner.deps.keys,
            )
            result = await runner.resume(result.run_id, reason="observed: approval not given")
    finally:
        deactivate()
    return result
