"""Runtime layer: the agent loop, workflows, approvals."""

from __future__ import annotations

from proctor.runtime._approvals import ApprovalExpiredError, decide_approval
from proctor.runtime._checker import separation_problem
from proctor.runtime._models import resolve_model
from proctor.runtime._recovery import interrupted_runs, recovery_claim
from proctor.runtime._runner import Runner, RunResult, check_run_input, new_run_id, owner_id
from proctor.runtime._transcript import Transcript
from proctor.runtime._worker import Worker, WorkerOptions, WorkerStats, in_queue, submit
from proctor.runtime._workflow import Workflow
from proctor.runtime._workflow_refs import load_workflow_ref, project_runner

__all__ = [
    "ApprovalExpiredError",
    "RunResult",
    "Runner",
    "Transcript",
    "Worker",
    "WorkerOptions",
    "WorkerStats",
    "Workflow",
    "check_run_input",
    "decide_approval",
    "in_queue",
    "interrupted_runs",
    "load_workflow_ref",
    "new_run_id",
    "owner_id",
    "project_runner",
    "recovery_claim",
    "resolve_model",
    "separation_problem",
    "submit",
]
