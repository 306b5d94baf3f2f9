"""Runtime layer: the agent loop, workflows, approvals."""

from __future__ import annotations

from proctor.policy import identity_key, pseudonym_key
from proctor.runtime._checker import separation_problem
from proctor.runtime._clock import Clock, ManualClock
from proctor.runtime._contexts import (
    ContextMessage,
    RunContexts,
    TurnCompaction,
    TurnContext,
    build_contexts,
)
from proctor.runtime._decide import (
    ApprovalExpiredError,
    Continuation,
    decide_and_continue,
    decide_approval,
    same_person,
)
from proctor.runtime._models import (
    AGENT_MODEL_PREFIX,
    OBSERVED_MODEL_PREFIX,
    external_model_problem,
    is_external_model,
    resolve_model,
)
from proctor.runtime._recovery import interrupted_runs, recovery_claim
from proctor.runtime._runner import Runner, RunResult, check_run_input, new_run_id, owner_id
from proctor.runtime._transcript import Transcript
from proctor.runtime._verified import UnverifiedRunError, opened_events, run_key_of
from proctor.runtime._worker import (
    Worker,
    WorkerObserver,
    WorkerOptions,
    WorkerOutcome,
    WorkerStats,
    in_queue,
    open_queued,
    submit,
)
from proctor.runtime._workflow import Workflow
from proctor.runtime._workflow_refs import (
    UnknownWorkflow,
    WorkflowCatalog,
    configured_refs,
    load_workflow_ref,
    project_runner,
    registered_workflows,
)

__all__ = [
    "AGENT_MODEL_PREFIX",
    "OBSERVED_MODEL_PREFIX",
    "ApprovalExpiredError",
    "Clock",
    "ContextMessage",
    "Continuation",
    "ManualClock",
    "RunContexts",
    "RunResult",
    "Runner",
    "Transcript",
    "TurnCompaction",
    "TurnContext",
    "UnknownWorkflow",
    "UnverifiedRunError",
    "Worker",
    "WorkerObserver",
    "WorkerOptions",
    "WorkerOutcome",
    "WorkerStats",
    "Workflow",
    "WorkflowCatalog",
    "build_contexts",
    "check_run_input",
    "configured_refs",
    "decide_and_continue",
    "decide_approval",
    "external_model_problem",
    "identity_key",
    "in_queue",
    "interrupted_runs",
    "is_external_model",
    "load_workflow_ref",
    "new_run_id",
    "open_queued",
    "opened_events",
    "owner_id",
    "project_runner",
    "pseudonym_key",
    "recovery_claim",
    "registered_workflows",
    "resolve_model",
    "run_key_of",
    "same_person",
    "separation_problem",
    "submit",
]
