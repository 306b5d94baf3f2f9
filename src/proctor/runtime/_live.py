"""``LiveRun``: one run as this process drives it, the loop's mutable state.

It holds the run's journal, the ``RunState``, ``Transcript`` and policy's ``RunFacts``
folded from its log, the run's summary row, and the gateway route it started on. Events
are sealed (chained and folded at once) and committed in batches: folding before writing
lets a decision see the proposal it decides, and ``run_finished`` totals include their own
batch. If a write fails, the exception ends the drive and resume rebuilds state from what
the log holds.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from proctor.gateway import Gateway
from proctor.policy import Redactor, RunFacts
from proctor.runtime._transcript import Transcript
from proctor.store import (
    ApprovalRecord,
    Event,
    EventData,
    Outcome,
    RunFinished,
    RunInterrupted,
    RunJournal,
    RunRecord,
    RunState,
    summary_answer,
    summary_tools,
)
from proctor.telemetry import LiveExporter

# Events that change the run's status, so its summary row is written with them.
_STATUS_EVENTS = frozenset({"run_resumed", "approval_requested"})


class LiveRun:
    """A run's journal, state, transcript and summary row, kept in step."""

    def __init__(
        self,
        journal: RunJournal,
        record: RunRecord,
        *,
        gateway: Gateway,
        route: str,
        facts: RunFacts,
        secret: bytes | None = None,
        redact: Redactor | None = None,
        telemetry: LiveExporter | None = None,
    ) -> None:
        self.journal = journal
        self.run_id = journal.run_id
        self.record = record
        self.gateway = gateway
        self.route = route
        """The route the run started on."""
        # Rate limits charge the prompt's tokens before a call is sent.
        self.count_prompts = gateway.limiter is not None or gateway.router.limiter is not None
        self.state = RunState()
        self.transcript = Transcript(key=secret)
        self.secret = secret
        """Keys the digests of raw content this run records (``keyed_digest``)."""
        self.facts = facts
        """What policy knows beyond the counters: provenance, earlier calls, scopes."""
        # Values redaction keeps out of the log are fingerprinted, so that provenance
        # survives a resume: only when some condition asks where values came from.
        self._witness = redact if redact is not None and facts.track_values else None
        # OpenTelemetry export of each written batch; None (the default) costs one check.
        self.telemetry = telemetry
        # The status the stored row has (``record`` itself runs ahead of a failed write).
        self._written = record.status, record.outcome, record.finished_at

    def observe(self, events: Sequence[Event]) -> None:
        """Fold events (already in the log, or just sealed) into state and transcript."""
        for event in events:
            self.state.apply(event)
            self.transcript.apply(event)
            self.facts.apply(event)

    def seal(self, items: Sequence[EventData], *, span_id: str | None = None) -> None:
        """Chain ``items`` and fold them now; ``commit`` writes them."""
        events = self.journal.seal(items, span_id=span_id)
        self.observe(events)
        self.witness(events, span_id=span_id)

    def witness(self, events: Sequence[Event], *, span_id: str | None = None) -> None:
        """Seal ``values_seen`` for new events whose values redaction keeps out of the log."""
        if self._witness is None:
            return
        seen = [found for e in events if (found := self.facts.lost_values(e, self._witness))]
        if seen:
            self.observe(self.journal.seal(seen, span_id=span_id))

    async def commit(self, *, approval: ApprovalRecord | None = None) -> None:
        """Write every sealed event in one transaction, with the approvals row if given
        (and the run's summary row when its status changes)."""
        changes = approval is not None or any(
            row.type in _STATUS_EVENTS for row in self.journal.pending
        )
        await self._commit(self._updated_record() if changes else None, approval)

    async def write(
        self,
        items: Sequence[EventData],
        *,
        span_id: str | None = None,
        approval: ApprovalRecord | None = None,
    ) -> None:
        """Seal ``items`` and commit them with everything sealed before."""
        self.seal(items, span_id=span_id)
        await self.commit(approval=approval)

    async def finish(self, outcome: Outcome, reason: str, *, now: float) -> None:
        """End the run: ``run_finished`` with its totals, and the summary row, at once."""
        state = self.state
        finished = RunFinished(
            outcome=outcome, reason=reason, totals=state.totals(now), final_text=state.final_text
        )
        self.seal([finished])
        await self._commit(self._updated_record(), None)

    async def save_progress(self) -> None:
        """Write the run's summary row with its totals so far, at its last commit. Events
        sealed since are dropped, as a crash would drop them: a ``run_finished`` sealed
        but never written must not mark the row finished."""
        record = self._updated_record()
        record.status, record.outcome, record.finished_at = self._written
        record.last_seq, record.head_hash = self.journal.committed
        await self.journal.store.append([], run=record)

    async def interrupted(self, reason: str) -> None:
        """Record that this process stopped driving the run (``run_interrupted``), with the
        summary row. Events sealed since the last commit are dropped first, as a crash
        would drop them: what they describe never reached the log, so a resume redoes it."""
        self.journal.discard()
        self.seal([RunInterrupted(reason=reason, pid=os.getpid())])
        record = self._updated_record()
        record.status, record.outcome, record.finished_at = self._written
        await self.journal.commit(run=record)

    async def _commit(self, record: RunRecord | None, approval: ApprovalRecord | None) -> None:
        rows = await self.journal.commit(run=record, approval=approval)
        if record is not None:
            self._written = record.status, record.outcome, record.finished_at
        if self.telemetry is not None:
            await self.telemetry.on_flush(self.journal.store, self.run_id, rows, self.state.status)

    def _updated_record(self) -> RunRecord:
        """The run's summary row, from the state after this batch."""
        record = self.record
        state = self.state
        totals = state.totals(state.last_ts)
        record.updated_at = state.last_ts
        record.status = state.status
        record.outcome = state.outcome
        record.finished_at = state.last_ts if state.status == "finished" else None
        record.tool_calls, record.model_calls = totals.tool_calls, totals.model_calls
        record.input_tokens, record.output_tokens = totals.input_tokens, totals.output_tokens
        record.cost_usd, record.duration_s = totals.cost_usd, totals.duration_s
        record.tools_used = summary_tools(call.call.name for call in state.calls.values())
        ended = next((row for row in self.journal.pending if row.type == "run_finished"), None)
        if ended is not None and ended.content is not None:
            # The answer as the log records it (redacted), for search and the session view.
            record.answer_text = summary_answer(ended.content.get("final_text"))
        return record
