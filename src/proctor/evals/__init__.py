"""Evals layer: recorded runs replayed as behaviour tests.

A *case* (one YAML file) holds a workflow's input, fixtures for its tools, optionally the
recorded model responses, and expectations on behaviour: tools that must and must not be
called, their order, argument matchers, ceilings, the outcome, what policy did, and
optional checks on the final answer. A *suite* is a folder of cases. ``run_suite``
replays every case through the same loop as a live run, with tools answered from
fixtures (no tool runs, so no write happens) and the model live or recorded;
``capture_case`` turns a recorded run into a case. See docs/evals.md.

``read_traces`` reads what other systems recorded (OpenTelemetry GenAI spans, OpenInference,
Langfuse, chat-completions transcripts, JSON datasets) as ``ObservedTrajectory`` values;
``import_trajectory`` checks one against a contract (``check_observed``), records it as an
observed run and builds its case.

``redecide_runs`` replays recorded runs' decisions under a candidate contract (``proctor
contract test``): which tool calls and final answers it would decide differently.
"""

from __future__ import annotations

from proctor.evals._capture import capture_case, case_yaml
from proctor.evals._case import (
    Case,
    Ceilings,
    Expectations,
    Fixture,
    RecordedResponse,
    Recording,
    Suite,
    load_case,
    load_suite,
)
from proctor.evals._diff import DiffThresholds, MetricChange, SuiteDiff, ToolChange, diff_results
from proctor.evals._expect import Deviation, Failure, check
from proctor.evals._fixtures import NoFixture, fixture_registry
from proctor.evals._matchers import CallPattern, Matcher
from proctor.evals._observe import Observed, ObservedCall, observe
from proctor.evals._observed_check import Finding, ObservedCheck, check_observed
from proctor.evals._observed_run import OBSERVER, ToolNames, record_observed
from proctor.evals._order import check_order
from proctor.evals._problems import CaseFileError, CaseProblem
from proctor.evals._recorded import RecordedModel
from proctor.evals._redecide import (
    NOT_DECIDED_BY_POLICY,
    recorded_runs,
    redecide_events,
    redecide_runs,
)
from proctor.evals._redecide_report import (
    ChangeKind,
    ChangeTotals,
    DecisionChange,
    RunChanges,
    Unchecked,
    Verdict,
    changes_json,
)
from proctor.evals._replay import ReplayOptions, SuiteReplay, WorkflowLoader, run_suite
from proctor.evals._results import (
    CaseResult,
    FailureRecord,
    SuiteResult,
    junit_xml,
    load_result,
    results_dir,
    save_result,
)
from proctor.evals._spec import ORDER_MODES, OrderMode
from proctor.evals._stored import find_result, store_result
from proctor.evals._trace_files import DatasetFields
from proctor.evals._trace_import import ImportedTrace, import_trajectory
from proctor.evals._trace_read import read_traces, trajectories_of
from proctor.evals._traces import (
    TRACE_FORMATS,
    ObservedResult,
    ObservedToolCall,
    ObservedTrajectory,
    ObservedTurn,
    TraceFormat,
    TraceFormatError,
)

# Drift, production runs and rollouts are reports (proctor.reports); still importable here.
from proctor.reports import (
    MIN_RUNS,
    DriftMetric,
    DriftReport,
    DriftThresholds,
    Gate,
    NoRunsError,
    Promotion,
    PromotionCheck,
    RolloutStatus,
    ToolDrift,
    Version,
    VersionRuns,
    check_promotion,
    compare,
    drift_report,
    find_version,
    parse_since,
    promote_candidate,
    rollout_of,
    rollout_status,
    version_runs,
)
from proctor.runtime import load_workflow_ref
from proctor.store import MemoryStore

__all__ = [
    "MIN_RUNS",
    "NOT_DECIDED_BY_POLICY",
    "OBSERVER",
    "ORDER_MODES",
    "TRACE_FORMATS",
    "CallPattern",
    "Case",
    "CaseFileError",
    "CaseProblem",
    "CaseResult",
    "Ceilings",
    "ChangeKind",
    "ChangeTotals",
    "DatasetFields",
    "DecisionChange",
    "Deviation",
    "DiffThresholds",
    "DriftMetric",
    "DriftReport",
    "DriftThresholds",
    "Expectations",
    "Failure",
    "FailureRecord",
    "Finding",
    "Fixture",
    "Gate",
    "ImportedTrace",
    "Matcher",
    "MemoryStore",
    "MetricChange",
    "NoFixture",
    "NoRunsError",
    "Observed",
    "ObservedCall",
    "ObservedCheck",
    "ObservedResult",
    "ObservedToolCall",
    "ObservedTrajectory",
    "ObservedTurn",
    "OrderMode",
    "Promotion",
    "PromotionCheck",
    "RecordedModel",
    "RecordedResponse",
    "Recording",
    "ReplayOptions",
    "RolloutStatus",
    "RunChanges",
    "Suite",
    "SuiteDiff",
    "SuiteReplay",
    "SuiteResult",
    "ToolChange",
    "ToolDrift",
    "ToolNames",
    "TraceFormat",
    "TraceFormatError",
    "Unchecked",
    "Verdict",
    "Version",
    "VersionRuns",
    "WorkflowLoader",
    "capture_case",
    "case_yaml",
    "changes_json",
    "check",
    "check_observed",
    "check_order",
    "check_promotion",
    "compare",
    "diff_results",
    "drift_report",
    "find_result",
    "find_version",
    "fixture_registry",
    "import_trajectory",
    "junit_xml",
    "load_case",
    "load_result",
    "load_suite",
    "load_workflow_ref",
    "observe",
    "parse_since",
    "promote_candidate",
    "read_traces",
    "record_observed",
    "recorded_runs",
    "redecide_events",
    "redecide_runs",
    "results_dir",
    "rollout_of",
    "rollout_status",
    "run_suite",
    "save_result",
    "store_result",
    "trajectories_of",
    "version_runs",
]
