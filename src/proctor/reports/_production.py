"""Production runs of one contract version in a time window, and their figures.

A version is named by its content hash (``Version``); its runs are those of one workflow
started under that hash in ``[since, until)``. ``version_runs`` counts the finished ones
(outcomes, tool calls per tool, cost) and, apart, those still running or waiting.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from proctor.contracts import Contract
from proctor.errors import NotFoundError, UsageError
from proctor.reports._metrics import call_counts
from proctor.store import RunFilter, Store

_ALL = 2**62
_HEX = re.compile(r"[0-9a-f]{4,64}")
_SPAN = re.compile(r"(\d+(?:\.\d+)?)\s*([mhdw])")
_SPAN_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class NoRunsError(NotFoundError):
    """A version has no finished runs in the window, so there is nothing to compare."""


@dataclass(frozen=True, kw_only=True)
class Version:
    """One contract version: its content hash and its version label."""

    content_hash: str
    label: str

    @property
    def name(self) -> str:
        return f"{self.content_hash[:12]} (v{self.label})"

    @classmethod
    def of(cls, contract: Contract) -> Version:
        return cls(content_hash=contract.content_hash, label=contract.version)


@dataclass(frozen=True, kw_only=True)
class VersionRuns:
    """The figures of one version's runs in the window (finished runs only)."""

    version: Version
    runs: int = 0
    in_progress: int = 0
    resolved: int = 0
    failed: int = 0
    escalated: int = 0
    """Runs that ended ``escalated`` or ``draft_only``."""
    tool_calls: int = 0
    cost_runs: int = 0
    """Runs whose cost is known (every model call priced)."""
    cost_usd: float = 0.0
    """Total over ``cost_runs``."""
    resolved_cost_runs: int = 0
    """Resolved runs among ``cost_runs``."""
    tools: dict[str, dict[int, int]] = field(default_factory=dict)
    """Per tool: calls per run -> number of runs (every finished run, zeros included)."""

    def _rate(self, count: int) -> float | None:
        return count / self.runs if self.runs else None

    @property
    def resolved_rate(self) -> float | None:
        return self._rate(self.resolved)

    @property
    def failure_rate(self) -> float | None:
        return self._rate(self.failed)

    @property
    def escalation_rate(self) -> float | None:
        return self._rate(self.escalated)

    @property
    def tool_calls_per_run(self) -> float | None:
        return self._rate(self.tool_calls)

    @property
    def cost_per_run(self) -> float | None:
        return self.cost_usd / self.cost_runs if self.cost_runs else None

    @property
    def cost_per_resolved_run(self) -> float | None:
        return self.cost_usd / self.resolved_cost_runs if self.resolved_cost_runs else None

    def tool_mean(self, tool: str) -> float:
        counts = self.tools.get(tool, {})
        return sum(calls * n for calls, n in counts.items()) / self.runs if self.runs else 0.0


def side_json(figures: VersionRuns) -> dict[str, Any]:
    """One side of a comparison as JSON-ready values: its version and run counts."""
    return {
        "hash": figures.version.content_hash,
        "version": figures.version.label,
        "runs": figures.runs,
        "in_progress": figures.in_progress,
    }


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_since(text: str, *, now: float) -> float:
    """``7d``, ``24h``, ``90m``, ``2w`` (that long before ``now``) or an ISO date or time
    (``2026-11-01``, ``2026-11-01T09:30``; UTC unless it names an offset)."""
    span = _SPAN.fullmatch(text.strip().lower())
    if span is not None:
        return now - float(span.group(1)) * _SPAN_SECONDS[span.group(2)]
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(
            f"--since {text!r} is not a time span or a date. Fix: write e.g. 7d, 24h, 90m, 2w, "
            "or an ISO date such as 2026-11-01"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


async def find_version(store: Store, workflow: str, ref: str) -> Version:
    """The stored contract version of ``workflow`` named by a hash prefix or a label."""
    stored = await store.contracts(workflow=workflow)
    if not stored:
        latest = await store.list_runs(RunFilter(workflow=workflow, limit=1))
        if not latest:
            raise NotFoundError(
                f"no runs of workflow {workflow!r} in this store. Fix: check the name "
                "(`proctor runs` lists runs with their workflow)"
            )
        stored = await store.contracts(workflow=latest[0].contract_name)
    wanted = ref.strip()
    by_hash = [v for v in stored if _HEX.fullmatch(wanted) and v.content_hash.startswith(wanted)]
    found = by_hash or [v for v in stored if v.version == wanted.removeprefix("v")]
    if not found:
        known = ", ".join(f"{v.content_hash[:12]} (v{v.version})" for v in stored) or "none"
        raise NotFoundError(
            f"workflow {workflow!r} has no contract version {ref!r}. Fix: give a version label "
            f"or a hash prefix of at least 4 characters; stored versions: {known}"
        )
    if len(found) > 1:
        matches = ", ".join(f"{v.content_hash[:12]} (v{v.version})" for v in found)
        raise UsageError(
            f"{ref!r} names {len(found)} contract versions of {workflow!r} ({matches}). "
            "Fix: give a hash prefix long enough to name one"
        )
    return Version(content_hash=found[0].content_hash, label=found[0].version)


async def version_runs(
    store: Store, workflow: str, version: Version, *, since: float, until: float
) -> VersionRuns:
    """The figures of ``version``'s runs of ``workflow`` started in ``[since, until)``."""
    query = RunFilter(
        workflow=workflow,
        contract_hash=version.content_hash,
        since=since,
        until=until,
        limit=_ALL,
    )
    runs = [
        run
        for run in await store.list_runs(query)
        if run.contract_hash == version.content_hash and since <= run.started_at < until
    ]
    finished = [run for run in runs if run.status == "finished"]
    per_run: list[Counter[str]] = []
    for run in finished:
        rows = await store.events(run.run_id)
        per_run.append(Counter(str(r.meta.get("tool")) for r in rows if r.type == "tool_proposed"))
    names = sorted({tool for counts in per_run for tool in counts})
    priced = [run for run in finished if run.cost_usd is not None]
    return VersionRuns(
        version=version,
        runs=len(finished),
        in_progress=len(runs) - len(finished),
        resolved=sum(run.outcome == "resolved" for run in finished),
        failed=sum(run.outcome == "failed" for run in finished),
        escalated=sum(run.outcome in ("escalated", "draft_only") for run in finished),
        tool_calls=sum(run.tool_calls for run in finished),
        cost_runs=len(priced),
        cost_usd=sum(run.cost_usd or 0.0 for run in priced),
        resolved_cost_runs=sum(run.outcome == "resolved" for run in priced),
        tools={tool: call_counts(per_run, tool) for tool in names},
    )
