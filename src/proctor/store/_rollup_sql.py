"""The outcome report's daily sums, kept by SQLite triggers as runs change (migration 19).

``run_days`` sums runs per tenant, UTC day, workflow, model, contract and tool-call count,
as ``SQLRunOutcomes`` sums a scan of ``runs``; ``run_day_durations`` counts the finished
runs per duration rounded to two significant digits (``round_duration``), from which the
report's percentiles are read; ``run_day_escalations`` counts ``escalated`` events by
trigger, per their run's cell, as each is appended (its run's row is written first, when
the run starts). A row of ``runs`` adds its cell when inserted, moves between cells when a
summed column changes, and leaves when deleted, so a month's report reads a few thousand
cells, not a million runs. Cells a run left keep zeros.
"""

from __future__ import annotations

TABLES = ("run_days", "run_day_durations", "run_day_escalations")
"""Tables only SQLite has: PostgreSQL sums the runs themselves (no triggers to keep)."""
TRIGGERS = ("runs_sum_insert", "runs_sum_update", "runs_sum_delete", "events_escalation_sum")
_CELL = "tenant, day, workflow, model, contract_hash, tool_calls"
_DURATION_CELL = "tenant, day, workflow, model, contract_hash, duration"
_ESCALATION_CELL = "tenant, day, workflow, model, contract_hash, reason"
_REASON = "COALESCE(json_extract({}.meta, '$.trigger'), 'unknown')"
# Columns whose change moves a run to another cell (a runs row is rewritten whole on each
# status change: an unchanged cell costs no write).
_SUMMED = (
    "status",
    "outcome",
    "cost_usd",
    "tool_calls",
    "duration_s",
    "started_at",
    "tenant",
    "workflow",
    "model",
    "contract_hash",
)
DAY = "CAST({}.started_at / 86400 AS INTEGER)"
ROUNDED = "CAST(printf('%.1e', {}) AS REAL)"
"""A duration to two significant digits, half up on its exact value (as SQLite's dialect
rounds it, and ``round_duration`` in Python)."""


def _count(condition: str, sign: str) -> str:
    return f"CASE WHEN {condition} THEN {sign} ELSE 0 END"


def _figures(r: str, sign: str) -> list[str]:
    """What one run adds to its cell's sums after ``runs`` and ``newest`` (``sign``: 1
    adds it, -1 takes it off)."""
    done = f"{r}.status = 'finished'"
    priced = f"{done} AND {r}.cost_usd IS NOT NULL"
    outcomes = (
        _count(f"{done} AND {r}.outcome = '{o}'", sign)
        for o in ("resolved", "escalated", "draft_only", "failed")
    )
    return [
        _count(done, sign),
        *outcomes,
        f"CASE WHEN {priced} THEN {sign} * {r}.cost_usd ELSE 0 END",
        _count(priced, sign),
        _count(f"{priced} AND {r}.outcome = 'resolved'", sign),
    ]


def _add(r: str, sign: str) -> str:
    """Statements adding (or, with ``sign`` -1, removing) row ``r`` of ``runs``."""
    key = f"{r}.tenant, {DAY.format(r)}, {r}.workflow, {r}.model, {r}.contract_hash"
    return f"""
        INSERT INTO run_days ({_CELL}, runs, newest, finished, resolved, escalated,
            draft_only, failed, cost_usd, priced, priced_resolved)
        VALUES ({key}, {r}.tool_calls, {sign}, {r}.started_at, {", ".join(_figures(r, sign))})
        ON CONFLICT ({_CELL}) DO UPDATE SET runs = runs + excluded.runs,
            newest = MAX(newest, excluded.newest), finished = finished + excluded.finished,
            resolved = resolved + excluded.resolved,
            escalated = escalated + excluded.escalated,
            draft_only = draft_only + excluded.draft_only, failed = failed + excluded.failed,
            cost_usd = cost_usd + excluded.cost_usd, priced = priced + excluded.priced,
            priced_resolved = priced_resolved + excluded.priced_resolved;
        INSERT INTO run_day_durations ({_DURATION_CELL}, runs)
        SELECT {key}, {ROUNDED.format(f"{r}.duration_s")}, {sign}
        WHERE {r}.status = 'finished'
        ON CONFLICT ({_DURATION_CELL}) DO UPDATE SET runs = runs + excluded.runs;"""


FILL = f"""
DELETE FROM run_days;
DELETE FROM run_day_durations;
DELETE FROM run_day_escalations;
INSERT INTO run_days ({_CELL}, runs, newest, finished, resolved, escalated, draft_only,
    failed, cost_usd, priced, priced_resolved)
SELECT tenant, {DAY.format("r")}, workflow, model, contract_hash, tool_calls, COUNT(*),
    MAX(started_at), {", ".join(f"SUM({part})" for part in _figures("r", "1"))}
FROM runs r GROUP BY 1, 2, 3, 4, 5, 6;
INSERT INTO run_day_durations ({_DURATION_CELL}, runs)
SELECT tenant, {DAY.format("r")}, workflow, model, contract_hash,
    {ROUNDED.format("r.duration_s")}, COUNT(*)
FROM runs r WHERE r.status = 'finished' GROUP BY 1, 2, 3, 4, 5, 6;
INSERT INTO run_day_escalations ({_ESCALATION_CELL}, escalations, first_ts)
SELECT r.tenant, {DAY.format("r")}, r.workflow, r.model, r.contract_hash, {_REASON.format("e")},
    COUNT(*), MIN(e.ts)
FROM events e JOIN runs r ON r.run_id = e.run_id WHERE e.type = 'escalated'
GROUP BY 1, 2, 3, 4, 5, 6;
"""
"""Sums every run already stored, afresh (the migration; a bulk load that bypassed the
triggers runs it again)."""

MIGRATION = f"""
CREATE TABLE run_days (
    tenant TEXT NOT NULL,
    day INTEGER NOT NULL,
    workflow TEXT NOT NULL,
    model TEXT NOT NULL,
    contract_hash TEXT NOT NULL,
    tool_calls INTEGER NOT NULL,
    runs INTEGER NOT NULL,
    newest REAL NOT NULL,
    finished INTEGER NOT NULL,
    resolved INTEGER NOT NULL,
    escalated INTEGER NOT NULL,
    draft_only INTEGER NOT NULL,
    failed INTEGER NOT NULL,
    cost_usd REAL NOT NULL,
    priced INTEGER NOT NULL,
    priced_resolved INTEGER NOT NULL,
    PRIMARY KEY ({_CELL})
) WITHOUT ROWID;
CREATE TABLE run_day_durations (
    tenant TEXT NOT NULL,
    day INTEGER NOT NULL,
    workflow TEXT NOT NULL,
    model TEXT NOT NULL,
    contract_hash TEXT NOT NULL,
    duration REAL NOT NULL,
    runs INTEGER NOT NULL,
    PRIMARY KEY ({_DURATION_CELL})
) WITHOUT ROWID;
CREATE TABLE run_day_escalations (
    tenant TEXT NOT NULL,
    day INTEGER NOT NULL,
    workflow TEXT NOT NULL,
    model TEXT NOT NULL,
    contract_hash TEXT NOT NULL,
    reason TEXT NOT NULL,
    escalations INTEGER NOT NULL,
    first_ts REAL NOT NULL,
    PRIMARY KEY ({_ESCALATION_CELL})
) WITHOUT ROWID;
CREATE TRIGGER runs_sum_insert AFTER INSERT ON runs BEGIN{_add("NEW", "1")}
END;
CREATE TRIGGER events_escalation_sum AFTER INSERT ON events WHEN NEW.type = 'escalated'
BEGIN
    INSERT INTO run_day_escalations ({_ESCALATION_CELL}, escalations, first_ts)
    SELECT r.tenant, {DAY.format("r")}, r.workflow, r.model, r.contract_hash,
        {_REASON.format("NEW")}, 1, NEW.ts
    FROM runs r WHERE r.run_id = NEW.run_id
    ON CONFLICT ({_ESCALATION_CELL}) DO UPDATE SET escalations = escalations + 1,
        first_ts = MIN(first_ts, excluded.first_ts);
END;
CREATE TRIGGER runs_sum_update AFTER UPDATE ON runs
WHEN {" OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in _SUMMED)}
BEGIN{_add("OLD", "-1")}{_add("NEW", "1")}
END;
CREATE TRIGGER runs_sum_delete AFTER DELETE ON runs BEGIN{_add("OLD", "-1")}
END;
{FILL}"""
