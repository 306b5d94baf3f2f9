"""Importing an observed trajectory: its check, its observed run, its case.

``import_trajectory`` does the three things ``proctor eval import`` (and the OTLP receiver
of ``proctor serve``) do with each trajectory read from a trace: list what the contract
would have refused (``check_observed``), record it as an observed run (in the given store,
else a scratch one), and write the case: the trajectory's input, fixtures and turns, with
the default expectations ``capture_case`` gives the observed run, so the case passes
``proctor eval run --recorded`` as imported, and a person then edits it into the
behaviours that matter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from proctor.evals._capture import capture_case, case_yaml
from proctor.evals._observed_check import ObservedCheck, check_observed
from proctor.evals._observed_run import (
    ToolNames,
    case_document,
    compile_case,
    label_of,
    plain,
    record_observed,
)
from proctor.evals._traces import ObservedTrajectory
from proctor.runtime import Workflow
from proctor.store import EvidenceKeys, MemoryStore, Store


@dataclass(kw_only=True)
class ImportedTrace:
    """What importing one trajectory gave."""

    trajectory: ObservedTrajectory
    check: ObservedCheck
    document: dict[str, Any]
    """The case document (file order)."""
    run_id: str | None = None
    """The observed run, when it was stored."""
    outcome: str = ""
    """How the observed run ended under the contract."""
    renamed: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """A case file name: the source and the trace id's start (or the line)."""
        ident = re.sub(r"[^A-Za-z0-9]+", "-", self.trajectory.id).strip("-")[:12]
        source = re.sub(r"[^A-Za-z0-9]+", "-", self.trajectory.source).strip("-")
        return f"{source}-{ident}".lower()

    def case_text(self) -> str:
        """The case as YAML, with a header saying where it came from."""
        return case_yaml(plain(self.document), header=_header(self))


async def import_trajectory(
    trajectory: ObservedTrajectory,
    workflow: Workflow,
    *,
    workflow_ref: str | None = None,
    store: Store | None = None,
    tool_map: dict[str, str] | None = None,
    input_key: str = "prompt",
    tenant: str = "default",
    keys: EvidenceKeys | None = None,
) -> ImportedTrace:
    """Check ``trajectory`` against ``workflow``'s contract, record it as an observed run
    (kept in ``store``; without one, in a scratch store), and build its case."""
    names = ToolNames([tool.name for tool in workflow.registry], tool_map)
    check = check_observed(trajectory, _policy(workflow), names, input_key=input_key)
    document = case_document(trajectory, workflow_ref or workflow.name, names, input_key=input_key)
    case = compile_case(document)
    target: Store = store if store is not None else MemoryStore()
    who = trajectory.agent or trajectory.source
    result = await record_observed(
        target,
        workflow,
        case,
        label=label_of(trajectory),
        started_by=f"observed:{who}",
        tenant=tenant,
        keys=keys,
    )
    captured = await capture_case(target, result.run_id, workflow=workflow)
    document["approvals"] = captured["approvals"]
    document["expect"] = captured["expect"]
    if store is None and isinstance(target, MemoryStore):
        target.forget(result.run_id)
    return ImportedTrace(
        trajectory=trajectory,
        check=check,
        document=document,
        run_id=None if store is None else result.run_id,
        outcome=result.state.outcome or result.status,
        renamed=dict(names.mapped),
    )


def _policy(workflow: Workflow) -> Any:
    from proctor.policy import Policy

    return Policy(workflow.contract, workflow.registry)


def _header(imported: ImportedTrace) -> str:
    trajectory = imported.trajectory
    day = datetime.now(UTC).date().isoformat()
    lines = [
        f"# A Proctor eval case, imported from {trajectory.source} trace {trajectory.id} on {day}.",
        "# Its fixtures are the tools' observed results, its recorded responses the agent's",
        "# observed turns; its expectations are what the observed run did under the contract.",
        "# Edit them into the behaviours that matter (docs/evals.md).",
    ]
    if imported.check.findings:
        lines.append("# The contract would have refused:")
        for finding in imported.check.findings:
            where = f"call {finding.call} {finding.tool}: " if finding.call else ""
            lines.append(f"#   {where}{finding.kind} [{finding.rule}] {finding.reason}"[:200])
    return "\n".join(lines) + "\n"
