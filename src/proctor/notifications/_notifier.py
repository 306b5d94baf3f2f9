"""``Notifier``: announces pending approvals on the channels their rules name (and their
decisions where they were announced, and escalated runs), logs every attempt in the store,
and tries a failed channel again with a doubling wait.

Several processes may announce from one store (two ``proctor serve``, a ``proctor notify
run``): each attempt is claimed in the delivery log before it is made, and only the
process whose claim is kept sends. A claim whose process died counts as a failed attempt
once ``CLAIM_S`` has passed, and the next process tries again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from proctor.contracts import stored_contract
from proctor.gateway import NotificationsConfig, load_config
from proctor.notifications._channels import DeliveryFailed, send
from proctor.notifications._messages import Announcement, DecisionNote, EscalationNote, Note
from proctor.store import ApprovalRecord, DeliveryRecord, RunFilter, RunRecord, Store

logger = logging.getLogger("proctor.notifications")

MAX_WAIT_S = 3600.0
CLAIM_S = 300.0
"""How long an attempt being made holds its claim: past it, its process is taken for dead."""


@dataclass(frozen=True)
class DispatchReport:
    """One pass: pending approvals, decisions and escalated runs looked at; deliveries
    made, failed, and left to another process that claimed them first."""

    pending: int = 0
    decided: int = 0
    escalated: int = 0
    sent: int = 0
    failed: int = 0
    elsewhere: int = 0


_ESCALATION = "escalation"  # the routes' key for the contract's escalation.notify
_MAX_RECENT = 1000
_DECIDED = "/decided"


def decision_subject(approval_id: str) -> str:
    """The delivery log's subject for the announcement of an approval's decision."""
    return approval_id + _DECIDED


@dataclass(frozen=True)
class _Subject:
    """Something to announce: its id in the delivery log, its channels, and its message
    (built only when a delivery is due)."""

    subject_id: str
    channels: list[str]
    note: Callable[[], Awaitable[Note]]


class Notifier:
    """Announces the store's pending approvals; ``dispatch`` is one pass, ``run`` a loop.

    A rule's channels are read from the contract version its run started under (the
    store keeps it by hash), so what a rule says when the run asked is what is used.
    """

    def __init__(
        self,
        store: Store,
        config: NotificationsConfig,
        *,
        clock: Callable[[], float] = time.time,
        http: Any = None,
    ) -> None:
        self.store = store
        self.config = config
        self.clock = clock
        self._http = http
        self._routes: dict[str, dict[str, list[str]]] = {}
        self._every_s = 5.0
        self.last_pass: float | None = None
        """When (``time.monotonic``) a pass of ``run`` last read the store through."""

    def not_ready(self, now: float | None = None) -> str | None:
        """Why the loop of ``run`` is not doing its work, or ``None``: ready while its last
        whole pass ended within three intervals (at least 30 s). What ``proctor notify
        run --health-port`` answers at ``/readyz``; safe to call from another thread."""
        if self.last_pass is None:
            return "no pass over the pending approvals has ended yet"
        quiet = (time.monotonic() if now is None else now) - self.last_pass
        if quiet > max(3 * self._every_s, 30.0):
            return f"no pass over the pending approvals has ended for {quiet:.0f} s"
        return None

    @classmethod
    def for_project(cls, store: Store, config: str | None = None) -> Notifier | None:
        """The notifier ``proctor.yaml`` (``config``, else the default file) configures,
        or ``None`` when its ``notifications:`` names no channel."""
        settings = load_config(config, check_env=False).notifications
        return cls(store, settings) if settings.channels else None

    async def dispatch(self) -> DispatchReport:
        """Announce each pending approval asked lately, each decision made lately where its
        request was announced, and each run escalated lately, on each channel not yet told
        (lately: within ``announce_within_s``)."""
        since = self.clock() - self.config.announce_within_s
        # From `since` on, in request order: a pass reads what is recent, not every
        # approval still pending (each pass would read them all again).
        approvals = await self.store.list_approvals("pending", after=(since, ""))
        if not (self.config.channels or self.config.default):
            return DispatchReport(pending=len(approvals))
        escalated = await self.store.list_runs(
            RunFilter(outcome="escalated", since=since, limit=_MAX_RECENT)
        )
        latest = await self.store.list_approvals(
            None, decided_since=since, order="-decided", limit=_MAX_RECENT
        )
        decided = latest[::-1]  # announced in the order they were made
        subjects = [await self._approval(approval) for approval in approvals]
        subjects += [await self._escalation(run) for run in escalated]
        ids = [subject.subject_id for subject in subjects]
        ids += [a.approval_id for a in decided] + [decision_subject(a.approval_id) for a in decided]
        tried: dict[tuple[str, str], list[DeliveryRecord]] = {}
        told: dict[str, list[str]] = {}
        for attempt in await self.store.deliveries(ids, limit=len(ids) * 64):
            tried.setdefault((attempt.subject_id, attempt.channel), []).append(attempt)
            if attempt.ok:
                told.setdefault(attempt.subject_id, []).append(attempt.channel)
        subjects += [
            self._decision(approval, told[approval.approval_id])
            for approval in decided
            if approval.approval_id in told
        ]
        counts = {True: 0, False: 0, None: 0}
        for subject in subjects:
            for name in subject.channels:
                attempts = tried.get((subject.subject_id, name), [])
                if self._due(attempts):
                    counts[await self._deliver(subject, name, len(attempts) + 1)] += 1
        return DispatchReport(
            pending=len(approvals),
            decided=len(decided),
            escalated=len(escalated),
            sent=counts[True],
            failed=counts[False],
            elsewhere=counts[None],
        )

    async def _approval(self, approval: ApprovalRecord) -> _Subject:
        run = await self.store.get_run(approval.run_id)
        link = f"{self._base}/ui/approvals#{approval.approval_id}"

        async def note() -> Note:
            return Announcement(approval=approval, run=run, link=link)

        channels = await self._channels(run, approval.rule)
        return _Subject(approval.approval_id, channels, note)

    def _decision(self, approval: ApprovalRecord, channels: list[str]) -> _Subject:
        link = f"{self._base}/runs/{approval.run_id}"

        async def note() -> Note:
            run = await self.store.get_run(approval.run_id)
            return DecisionNote(approval=approval, run=run, link=link)

        return _Subject(decision_subject(approval.approval_id), sorted(set(channels)), note)

    async def _escalation(self, run: RunRecord) -> _Subject:
        async def note() -> Note:
            rows = await self.store.events(run.run_id)
            last = rows[-1] if rows else None
            reason = str(last.meta.get("reason", "")) if last is not None else ""
            return EscalationNote(run=run, reason=reason, link=f"{self._base}/runs/{run.run_id}")

        return _Subject(run.run_id, await self._channels(run, _ESCALATION), note)

    async def run(self, stop: asyncio.Event, *, every_s: float = 5.0) -> None:
        """Dispatch every ``every_s`` until ``stop`` is set; a failing pass is logged."""
        self._every_s = every_s
        while not stop.is_set():
            try:
                await self.dispatch()
                self.last_pass = time.monotonic()
            except Exception:  # the store may be away for a moment: try next time
                logger.exception("announcing pending approvals failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=every_s)

    def _due(self, attempts: list[DeliveryRecord]) -> bool:
        if any(attempt.ok for attempt in attempts):
            return False
        if not attempts:
            return True
        last = attempts[-1]
        if len(attempts) >= self.config.max_attempts:
            return False
        return last.next_at is not None and last.next_at <= self.clock()

    async def _deliver(self, subject: _Subject, name: str, attempt: int) -> bool | None:
        """Claim attempt number ``attempt``, make it and log how it went: whether it was
        delivered, or ``None`` when another process claimed it first."""
        now = self.clock()
        claim = DeliveryRecord(
            delivery_id=f"dl_{secrets.token_hex(8)}",
            subject_id=subject.subject_id,
            channel=name,
            attempt=attempt,
            at=now,
            ok=False,
            detail="sending",
            next_at=now + CLAIM_S,
        )
        if not await self.store.claim_delivery(claim):
            return None
        channel = self.config.channels.get(name)
        try:
            if channel is None:
                known = ", ".join(sorted(self.config.channels)) or "none"
                raise DeliveryFailed(
                    f"no channel named {name!r} in proctor.yaml's notifications (known: "
                    f"{known}). Fix: define it, or change the contract's notify:"
                )
            detail = await send(channel, await subject.note(), self._client())
            ok = True
        except DeliveryFailed as exc:
            detail, ok = str(exc), False
            logger.warning("%s on %s: %s", subject.subject_id, name, detail)
        again = None
        if not ok and channel is not None and attempt < self.config.max_attempts:
            again = now + min(MAX_WAIT_S, self.config.retry_after_s * 2 ** (attempt - 1))
        settled = replace(claim, at=self.clock(), ok=ok, detail=detail[:500], next_at=again)
        await self.store.settle_delivery(settled)
        return ok

    @property
    def _base(self) -> str:
        return self.config.base_url.rstrip("/")

    async def _channels(self, run: RunRecord | None, rule: str) -> list[str]:
        """The channels the run's contract names for ``rule`` (an approval rule's id, or
        escalations), else the configured default ones."""
        named: list[str] = []
        if run is not None:
            if run.contract_hash not in self._routes:
                self._routes[run.contract_hash] = await self._rules(run.contract_hash)
            named = self._routes[run.contract_hash].get(rule, [])
        return named or list(self.config.default)

    async def _rules(self, content_hash: str) -> dict[str, list[str]]:
        contract = await stored_contract(self.store, content_hash)
        if contract is None:
            return {}
        routes = {rule.rule_id: list(rule.notify) for rule in contract.approvals}
        return routes | {_ESCALATION: list(contract.escalation.notify)}

    def _client(self) -> Any:
        if self._http is None:
            import httpx2

            self._http = httpx2.AsyncClient()
        return self._http

    async def close(self) -> None:
        """Close the HTTP client it opened."""
        if self._http is not None:
            await self._http.aclose()
            self._http = None
