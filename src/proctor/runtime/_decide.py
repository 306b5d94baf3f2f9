"""A person deciding an approval: recorded in the run's own log, bound to the exact call.

``decide_and_continue`` is the use case behind ``proctor approve``/``deny`` and the API:
``decide_approval`` records the decision (or the expiry, if it came too late), then the
run continues, here or, if it is in the run queue, in a worker. Whoever started a run may
not decide its approvals (separation of duties, ``same_person``).
"""

from __future__ import annotations

import hmac
import re
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from proctor.errors import AccessDenied, NotFoundError, RunStateError, UsageError
from proctor.policy import Redactor, identity_key, name_mac, pseudonym_key
from proctor.runtime._clock import Clock
from proctor.runtime._verified import (
    ensure_approval_matches,
    ensure_checkpointed,
    ensure_verified,
    opened_events,
    run_key_of,
)
from proctor.runtime._worker import in_queue
from proctor.store import (
    ApprovalDecided,
    ApprovalExpired,
    ApprovalRecord,
    EvidenceKeys,
    RunJournal,
    RunStarted,
    RunState,
    Store,
    load_evidence_keys,
    load_signing_key,
)

if TYPE_CHECKING:
    from proctor.runtime._runner import Runner, RunResult

Drive = Callable[[Coroutine[Any, Any, "RunResult"]], Awaitable[object]]
"""How a caller continues a run: await the resume (the CLI), or start it as a task."""


@dataclass(frozen=True, kw_only=True)
class Continuation:
    """What became of a decision: the approval as recorded, and where the run goes on."""

    approval: ApprovalRecord
    queued: bool = False
    """The run is in the run queue: its workers continue it."""
    continued: bool = False
    """The run was handed to ``drive`` to continue here."""


async def decide_and_continue(
    store: Store,
    approval_id: str,
    *,
    approved: bool,
    by: str,
    reason: str = "",
    runner: Runner | None,
    drive: Drive | None,
    on_decided: Callable[[ApprovalRecord], object] | None = None,
    clock: Clock = time.time,
) -> Continuation:
    """Record a person's decision on an approval (``decide_approval``), then continue its
    run, unless the run queue holds it (its workers continue it then).

    ``runner`` is the run's workflow's, if it could be loaded: the run's own contract's
    redactor (``Runner.for_contract``, a rollout's candidate included) redacts the reason,
    else the built-in detectors do, and ``runner.resume`` continues the run through
    ``drive``. ``drive`` ``None``: record the decision only. ``on_decided`` sees the
    approval once it is recorded, before the run goes on. An expired approval is recorded
    as expired, the run continued (it escalates), and ``ApprovalExpiredError`` raised.
    """
    own = await _own_runner(store, approval_id, runner)
    try:
        approval = await decide_approval(
            store,
            approval_id,
            approved=approved,
            by=by,
            reason=reason,
            redactor=None if own is None else own.redactor,
            clock=clock,
            keys=None if own is None else own.deps.keys,
        )
    except ApprovalExpiredError as exc:
        # Too late: the run escalates now, here or (if it is queued) in a worker.
        if drive is not None and runner is not None and not await in_queue(store, exc.run_id):
            await drive(runner.resume(exc.run_id, reason="approval expired"))
        raise
    if on_decided is not None:
        on_decided(approval)
    if drive is None:
        return Continuation(approval=approval)
    if await in_queue(store, approval.run_id):
        return Continuation(approval=approval, queued=True)
    if runner is None:
        return Continuation(approval=approval)
    verdict = "approved" if approved else "denied"
    await drive(runner.resume(approval.run_id, reason=f"{verdict} by {by}"))
    return Continuation(approval=approval, continued=True)


async def _own_runner(store: Store, approval_id: str, runner: Runner | None) -> Runner | None:
    """The runner enforcing the contract the approval's run started under, if any."""
    if runner is None:
        return None
    pending = await store.get_approval(approval_id)
    run = None if pending is None else await store.get_run(pending.run_id)
    return None if run is None else await runner.under_contract(run.contract_hash)


async def decide_approval(
    store: Store,
    approval_id: str,
    *,
    approved: bool,
    by: str,
    reason: str = "",
    redactor: Redactor | None = None,
    clock: Clock = time.time,
    keys: EvidenceKeys | None = None,
) -> ApprovalRecord:
    """Record who approved or denied a pending call, and why.

    ``by`` is the decider's identity: whoever started the run may not decide its approvals
    (separation of duties, compared by ``same_person``), whichever channel they use.
    The decision is bound to the exact call (tool and argument digest) the approval was
    requested for. The run's log and record must verify, and the approvals row must say what
    the log's request said (``UnverifiedRunError`` otherwise: nothing is recorded). The run
    does not continue here: resume it (the CLI does so at once).
    The reason is redacted like the rest of the run's record, by ``redactor`` (the
    workflow's ``Runner.redactor``) or else by the built-in detectors. ``clock`` tells
    whether the approval expired, and times the decision. ``keys`` MAC and sign the
    decision (default: ``load_evidence_keys()``).
    """
    if not by.strip():
        raise UsageError("say who decides: an approval must name its approver (--as NAME)")
    if identity_key(by).startswith("checker:"):
        raise UsageError(f"{by!r} names the checker model; a person decides under their own name")
    if not approved and not reason.strip():
        raise UsageError("a denial needs a reason (--reason ...) so the run's log can explain it")
    approval = await store.get_approval(approval_id)
    if approval is None:
        raise NotFoundError(
            f"no approval {approval_id!r}; list pending ones with `proctor approvals`"
        )
    if approval.status != "pending":
        raise RunStateError(
            f"approval {approval_id} was already {approval.status} by {approval.decided_by}"
        )
    rows = await store.events(approval.run_id)
    run = await store.get_run(approval.run_id)
    keys = keys if keys is not None else load_evidence_keys()
    ensure_verified(approval.run_id, rows, run, "decide an approval of", keys=keys)
    await ensure_checkpointed(store, approval.run_id, rows, "decide an approval of")
    ensure_approval_matches(approval, rows)
    key = await run_key_of(store, keys, approval.run_id)
    events = opened_events(approval.run_id, rows, key, "decide an approval of")
    state = RunState.from_events(events)
    call = state.calls.get(approval.call_id)
    if state.pending_approval != approval_id or call is None:
        raise RunStateError(
            f"run {approval.run_id} is not waiting for approval {approval_id} "
            f"(status {state.status}); nothing to decide"
        )
    started = events[0].data
    starter = started.started_by if isinstance(started, RunStarted) else ""
    if same_person(by, starter):
        raise AccessDenied(
            f"{by} started run {approval.run_id} (as {starter}), so may not decide its "
            "approvals: separation of duties. Ask another person to decide",
            status=403,
        )
    if call.args_digest != approval.args_digest:
        raise RunStateError(
            f"approval {approval_id} no longer matches the call it was requested for"
        )
    if call.approver == "checker":
        raise RunStateError(
            f"approval {approval_id} is decided by the contract's checker model, not a person "
            f"(its rule says by: checker). Resume the run to let the checker decide: "
            f"proctor resume {approval.run_id}"
        )
    if call.approver == "checker_then_human" and call.checker_approved is not True:
        raise RunStateError(
            f"approval {approval_id} needs the checker's verdict before a person's. Resume the "
            f"run to let the checker decide first: proctor resume {approval.run_id}"
        )
    redact = (
        redactor if redactor is not None else Redactor(names_key=pseudonym_key(load_signing_key()))
    )
    journal = RunJournal.resume(
        store, rows, redact=redact, clock=clock, keys=keys, run_key=key, redact_name=redact.name
    )
    now = clock()
    if call.approval_expires_at is not None and now >= call.approval_expires_at:
        approval.status, approval.decided_at, approval.decided_by = "expired", now, "expiry"
        if run is not None:
            run.status, run.updated_at = "running", now
        expired = ApprovalExpired(approval_id=approval_id, call_id=call.call.id, expired_at=now)
        await journal.append([expired], span_id=approval.call_id, run=run, approval=approval)
        raise ApprovalExpiredError(
            f"approval {approval_id} expired {_ago(now - call.approval_expires_at)} ago and can "
            "no longer be granted; it is recorded as expired. Resume the run so it escalates: "
            f"proctor resume {approval.run_id}",
            run_id=approval.run_id,
        )
    approval.status = "approved" if approved else "denied"
    approval.decided_at = now
    approval.decided_by = redact.name(by)  # as the chained decision records it
    approval.decision_reason = redact({"reason": reason})["reason"]
    if run is not None:
        run.status = "running"
        run.updated_at = now
    decided = ApprovalDecided(
        approval_id=approval_id,
        call_id=approval.call_id,
        approved=approved,
        decided_by=by,
        reason=reason,
    )
    await journal.append([decided], span_id=approval.call_id, run=run, approval=approval)
    return approval


def same_person(a: str, b: str, *, names_key: bytes | None = None) -> bool:
    """Whether two recorded identities (``started_by``, an approver) are one person. With
    ``names_key`` (the store's, ``pseudonym_key``), a name is also the person its
    pseudonym in a record stands for (``[email:sha256:3f1c0a9be2d4]``)."""
    key = identity_key(a)
    if key and key == identity_key(b):
        return True
    if names_key is None:
        return False
    for name, recorded in ((a, b), (b, a)):
        found = _PSEUDONYM.fullmatch(recorded.strip())
        mac = found.group(1) if found else ""
        if mac and identity_key(name) and hmac.compare_digest(mac, name_mac(name, names_key)):
            return True
    return False


_PSEUDONYM = re.compile(r"\[[a-z][a-z0-9_]*:sha256:([0-9a-f]{12})\]")


class ApprovalExpiredError(RunStateError):
    """A decision came after the approval expired; the expiry is recorded instead."""

    def __init__(self, message: str, *, run_id: str) -> None:
        super().__init__(message)
        self.run_id = run_id


def _ago(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
