"""Evals layer: recorded runs replayed as behaviour tests.

A *case* (one YAML file) holds a workflow's input, fixtures for its tools, optionally the
recorded model responses, and expectations on behaviour: tools that must and must not be
called, their order, argument matchers, ceilings, the outcome, what policy did, and
optional checks on the final answer. A *suite* is a folder of cases. ``run_suite``
replays every case through the same loop as a live run, with tools answered from
fixtures (no tool runs, so no write happens) and the model live or recorded;
``capture_case`` turns a recorded run into a case. See docs/evals.md.
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
from proctor.evals._order import check_order
from proctor.evals._problems import CaseFileError, CaseProblem
from proctor.evals._recorded import RecordedModel
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
    "ORDER_MODES",
    "CallPattern",
    "Case",
    "CaseFileError",
    "CaseProblem",
    "CaseResult",
    "Ceilings",
    "Deviation",
    "DiffThresholds",
    "DriftMetric",
    "DriftReport",
    "DriftThresholds",
    "Expectations",
    "Failure",
    "FailureRecord",
    "Fixture",
    "Gate",
    "Matcher",
    "MemoryStore",
    "MetricChange",
    "NoFixture",
    "NoRunsError",
    "Observed",
    "ObservedCall",
    "OrderMode",
    "Promotion",
    "PromotionCheck",
    "RecordedModel",
    "RecordedResponse",
    "Recording",
    "ReplayOptions",
    "RolloutStatus",
    "Suite",
    "SuiteDiff",
    "SuiteReplay",
    "SuiteResult",
    "ToolChange",
    "ToolDrift",
    "Version",
    "VersionRuns",
    "WorkflowLoader",
    "capture_case",
    "case_yaml",
    "check",
    "check_order",
    "check_promotion",
    "compare",
    "diff_results",
    "drift_report",
    "find_result",
    "find_version",
    "fixture_registry",
    "junit_xml",
    "load_case",
    "load_result",
    "load_suite",
    "load_workflow_ref",
    "observe",
    "parse_since",
    "promote_candidate",
    "results_dir",
    "rollout_of",
    "rollout_status",
    "run_suite",
    "save_result",
    "store_result",
    "version_runs",
]
