"""Reports: read-only views of the runs in the store, for the CLI and the server.

- outcomes (``build_report``): cost per resolved task, escalation rate, tool calls and
  latency, grouped by workflow, model, contract version or day;
- runs over time (``run_series``): by hour over a day or less, by day over longer windows,
  counted by the store in one aggregate query;
- production runs of one contract version in a window (``version_runs``, ``find_version``);
- drift between two versions' runs (``drift_report``, ``compare``), with the thresholds
  that alert;
- canary rollouts (``rollout_status``, ``check_promotion``; ``promote_candidate``, the one
  writer here, copies the candidate contract's file over the contract's once the check
  passes);
- the figures these and ``proctor.evals``' suite diff share (``Figure``, ``relative``,
  ``call_counts``, ``mean_calls``).

Reports read only ``store`` and ``contracts``: the server's pages and ``proctor report``
load neither the runtime nor the evals.
"""

from __future__ import annotations

from proctor.reports._drift import (
    DriftMetric,
    DriftReport,
    DriftThresholds,
    Gate,
    ToolDrift,
    compare,
    drift_report,
    show,
)
from proctor.reports._metrics import Figure, call_counts, mean_calls, relative
from proctor.reports._outcomes import GROUPINGS, GroupBy, Report, ReportRow, build_report
from proctor.reports._production import (
    NoRunsError,
    Version,
    VersionRuns,
    find_version,
    iso,
    parse_since,
    side_json,
    version_runs,
)
from proctor.reports._rollout import (
    MIN_RUNS,
    Promotion,
    PromotionCheck,
    RolloutStatus,
    check_promotion,
    promote_candidate,
    rollout_of,
    rollout_status,
)
from proctor.reports._series import Series, SeriesPoint, run_series, series_unit

__all__ = [
    "GROUPINGS",
    "MIN_RUNS",
    "DriftMetric",
    "DriftReport",
    "DriftThresholds",
    "Figure",
    "Gate",
    "GroupBy",
    "NoRunsError",
    "Promotion",
    "PromotionCheck",
    "Report",
    "ReportRow",
    "RolloutStatus",
    "Series",
    "SeriesPoint",
    "ToolDrift",
    "Version",
    "VersionRuns",
    "build_report",
    "call_counts",
    "check_promotion",
    "compare",
    "drift_report",
    "find_version",
    "iso",
    "mean_calls",
    "parse_since",
    "promote_candidate",
    "relative",
    "rollout_of",
    "rollout_status",
    "run_series",
    "series_unit",
    "show",
    "side_json",
    "version_runs",
]
