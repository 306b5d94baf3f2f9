"""The runs list, one run's page (header, waterfall, pending approval), and the small
endpoints its script fetches: one event's payload, and the run's status for live refresh.

The list reads one page (plus one row, to know whether another page exists) in the order
chosen, by keyset: newest first through the ``(tenant, started_at, run_id)`` index, the
other orders through their own (migration 16). Its totals (count, cost, tokens of the
runs the filters match) add up the newest ``TOTALS_CAP`` of them at most, so a page reads
a bounded number of rows however large the store (a search is a LIKE, which reads the
rows it passes over until the page is full).
"""

from __future__ import annotations

import time
from typing import Any, get_args
from urllib.parse import urlencode

from fastapi import APIRouter
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from proctor.audit import build_receipt, chained_approvals, receipt_html
from proctor.errors import NotFoundError, UsageError
from proctor.runtime import build_contexts
from proctor.server._api_query import decode_cursor, encode_cursor
from proctor.server._appstate import state_of
from proctor.server._keys import Principal
from proctor.server._timeline import build_timeline
from proctor.server._ui_base import (
    checker_verdicts,
    guarded,
    render,
    secure,
)
from proctor.store import (
    TOTALS_CAP,
    ContractRecord,
    EventRow,
    Outcome,
    QueueItem,
    RunFilter,
    RunRecord,
    RunSort,
    RunStatus,
    Store,
    check_session_key,
    check_sort,
    search_terms,
    sort_key,
    totals_of,
    verify_rows,
)

router = APIRouter(include_in_schema=False)

PAGE = 50
SINCE: dict[str, tuple[str, float | None]] = {
    "": ("any time", None),
    "1h": ("last hour", 3600.0),
    "24h": ("last 24 hours", 86400.0),
    "7d": ("last 7 days", 7 * 86400.0),
    "30d": ("last 30 days", 30 * 86400.0),
}
STATUSES: tuple[str, ...] = get_args(RunStatus)
OUTCOMES: tuple[str, ...] = get_args(Outcome)
_FILTERS = ("workflow", "status", "outcome", "model", "version", "since", "session", "search")
SORTS: dict[str, str] = {
    "-started": "newest first",
    "started": "oldest first",
    "-cost": "costliest first",
    "cost": "cheapest first",
    "-duration": "longest first",
    "duration": "shortest first",
    "status": "status (awaiting approval first)",
    "-status": "status (running first)",
}
# The columns whose header sorts the list: the order a first click picks.
_HEADER_SORTS = {
    "status": "status",
    "cost": "-cost",
    "duration": "-duration",
    "started": "-started",
}
# Contract versions offered in the filter: the newest ones, each checked to have a run of
# the tenant (versions are shared by tenants; another tenant's must not be listed).
_VERSIONS_OFFERED = 30


@router.get("/runs")
async def runs_page(request: Request) -> Response:
    return await guarded(request, lambda principal: _runs(request, principal))


@router.get("/runs/{run_id}")
async def run_page(request: Request, run_id: str) -> Response:
    return await guarded(request, lambda principal: _run(request, principal, run_id))


@router.get("/runs/{run_id}/receipt")
async def run_receipt(request: Request, run_id: str) -> Response:
    async def receipt(principal: Principal) -> Response:
        service = state_of(request).service
        await service.run(principal, run_id)  # the tenant check
        return secure(HTMLResponse(receipt_html(await build_receipt(service.store, run_id))))

    return await guarded(request, receipt)


@router.get("/ui/runs/{run_id}/events/{seq}")
async def event_payload(request: Request, run_id: str, seq: str) -> Response:
    """One event as stored (content redacted at write time), for a waterfall row."""

    async def payload(principal: Principal) -> Response:
        number = _int(seq, "event number")
        rows = await state_of(request).service.events(principal, run_id, after=number - 1, limit=1)
        if not rows or rows[0].seq != number:
            raise NotFoundError(f"run {run_id} has no event {number}")
        return secure(JSONResponse(_event_json(rows[0])))

    return await guarded(request, payload, fragment=True)


@router.get("/ui/runs/{run_id}/status")
async def run_status(request: Request, run_id: str) -> Response:
    """What the run page polls while a run is going: it reloads when ``last_seq`` moves."""

    async def status(principal: Principal) -> Response:
        run = await state_of(request).service.run_or_queued(principal, run_id)
        if isinstance(run, QueueItem):
            body: dict[str, Any] = {"status": "queued", "outcome": None, "last_seq": -1}
        else:
            body = {"status": run.status, "outcome": run.outcome, "last_seq": run.last_seq}
        return secure(JSONResponse(body))

    return await guarded(request, status, fragment=True)


async def _runs(request: Request, principal: Principal) -> Response:
    principal.require("read")
    store = state_of(request).service.store
    params = request.query_params
    filters = {name: params.get(name, "").strip() for name in _FILTERS}
    sort = params.get("sort", "-started") or "-started"
    cursor = params.get("before", "")
    query = _run_filter(principal.tenant, filters, sort, cursor)
    found = await store.list_runs(query)
    runs = found[:PAGE]
    # A first page that holds them all adds itself up; otherwise the store does.
    totals = (
        totals_of(runs)
        if not cursor and len(found) <= PAGE
        else await store.run_totals(query, cap=TOTALS_CAP)
    )
    versions = await _versions(store, principal.tenant, runs)
    short = {v.content_hash: f"v{v.version} · {v.content_hash[:12]}" for v in versions}
    labels = {v.content_hash: f"{v.workflow} {short[v.content_hash]}" for v in versions}
    chosen = {k: v for k, v in filters.items() if v}
    ordered = {**chosen, **({"sort": sort} if sort != "-started" else {})}
    next_url = ""
    if len(found) > PAGE:
        after = encode_cursor(query.sort, sort_key(query.sort, runs[-1]))
        next_url = "/runs?" + urlencode({**ordered, "before": after})
    context: dict[str, Any] = {
        "runs": runs,
        "totals": totals,
        "filters": filters,
        "sort": sort,
        "sorts": list(SORTS.items()),
        "header_sorts": {
            column: _header_sort(chosen, sort, first) for column, first in _HEADER_SORTS.items()
        },
        "cursor": cursor,
        "next_url": next_url,
        "first_url": "/runs" + (f"?{urlencode(ordered)}" if ordered else ""),
        "statuses": STATUSES,
        "outcomes": OUTCOMES,
        "sinces": [(value, label) for value, (label, _) in SINCE.items()],
        "versions": list(labels.items()),
        "version_labels": short,
        "workflows": sorted({run.workflow for run in runs} | {v.workflow for v in versions}),
        "models": sorted({run.model for run in runs}),
    }
    return await render(request, principal, "runs.html", context, nav="runs")


def _header_sort(chosen: dict[str, str], sort: str, first: str) -> tuple[str, str | None]:
    """A sortable column header's link (its order, or the reverse if it is the current
    one) and its ``aria-sort`` (``None`` when the list is not sorted by it)."""
    column = first.lstrip("-")
    current = sort.lstrip("-") == column
    target = (sort[1:] if sort.startswith("-") else f"-{sort}") if current else first
    query = {**chosen, **({"sort": target} if target != "-started" else {})}
    link = "/runs" + (f"?{urlencode(query)}" if query else "")
    state = ("descending" if sort.startswith("-") else "ascending") if current else None
    return link, state


def _run_filter(tenant: str, filters: dict[str, str], sort: str, cursor: str) -> RunFilter:
    """The store query of the list's form; a value no form offers is a 400, not a guess."""
    if filters["status"] and filters["status"] not in STATUSES:
        raise UsageError(f"unknown status {filters['status']!r}: use one of {', '.join(STATUSES)}")
    if filters["outcome"] and filters["outcome"] not in OUTCOMES:
        raise UsageError(
            f"unknown outcome {filters['outcome']!r}: use one of {', '.join(OUTCOMES)}"
        )
    if filters["since"] not in SINCE:
        raise UsageError(f"unknown period {filters['since']!r}: use 1h, 24h, 7d or 30d")
    if filters["session"]:
        check_session_key(filters["session"])
    search_terms(filters["search"])
    order = check_sort(sort)
    window = SINCE[filters["since"]][1]
    return RunFilter(
        tenant=tenant,
        workflow=filters["workflow"] or None,
        status=filters["status"] or None,
        outcome=filters["outcome"] or None,
        model=filters["model"] or None,
        contract_hash=filters["version"] or None,
        since=None if window is None else time.time() - window,
        session=filters["session"] or None,
        search=filters["search"],
        sort=order,
        before=_cursor(cursor, order) if cursor else None,
        limit=PAGE + 1,
    )


def _cursor(text: str, sort: RunSort) -> tuple[float | str, ...]:
    try:
        return decode_cursor(text, sort)
    except UsageError:
        raise UsageError(
            "this page link is not valid (its 'before' cursor is damaged, or was made for "
            "another order); start again from the first page"
        ) from None


async def _versions(store: Store, tenant: str, runs: list[RunRecord]) -> list[ContractRecord]:
    """The contract versions the tenant has runs under (those on the page, and the newest
    ones that a one-row query finds a run of)."""
    on_page = {run.contract_hash for run in runs}
    mine: list[ContractRecord] = []
    for number, version in enumerate(await store.contracts()):
        if version.content_hash not in on_page:
            if number >= _VERSIONS_OFFERED:
                continue
            probe = RunFilter(tenant=tenant, contract_hash=version.content_hash, limit=1)
            if not await store.list_runs(probe):
                continue
        mine.append(version)
    return mine


async def _run(request: Request, principal: Principal, run_id: str) -> Response:
    service = state_of(request).service
    found = await service.run_or_queued(principal, run_id)
    if isinstance(found, QueueItem):  # `serve --enqueue`: no worker has started it yet
        return await render(request, principal, "queued.html", {"item": found}, nav="runs")
    run = found
    events = await service.store.events(run_id)
    started = events[0] if events and events[0].type == "run_started" else None
    finished = next((e for e in reversed(events) if e.type == "run_finished"), None)
    waiting = await chained_approvals(
        service.store,
        await service.store.list_approvals("pending", tenant=principal.tenant, run_ids=[run_id]),
    )
    context: dict[str, Any] = {
        "run": run,
        "chain": verify_rows(run_id, events, run, service.evidence_keys()),
        "timeline": build_timeline(events),
        "contexts": build_contexts(events, key=service.transcript_key()),
        "contract_version": "?" if started is None else started.meta.get("contract_version"),
        "outcome_reason": None if finished is None else finished.meta.get("reason"),
        "input": _content(started, "input"),
        "final_text": _content(finished, "final_text"),
        "waiting": waiting,
        "verdicts": await checker_verdicts(request, waiting),
        "live": run.status != "finished",
        "message": _flash(request.query_params),
        "now": time.time(),
    }
    return await render(request, principal, "run.html", context, nav="runs")


def _content(row: EventRow | None, field: str) -> Any:
    if row is None or row.content is None:
        return None
    return row.content.get(field)


def _event_json(row: EventRow) -> dict[str, Any]:
    return {
        "seq": row.seq,
        "type": row.type,
        "ts": row.ts,
        "span_id": row.span_id,
        "parent_span_id": row.parent_span_id,
        "data": {**row.meta, **(row.content or {})},
        "content": "purged under retention (its digest remains)" if row.content is None else "kept",
        "hash": row.hash,
    }


def _flash(params: QueryParams) -> dict[str, str] | None:
    """The message a decision redirects with (a fixed phrase, never text from the URL)."""
    verdict = params.get("decided")
    if verdict not in ("approved", "denied"):
        return None
    return {"kind": "ok", "text": f"You {verdict} the call; the run continues."}


def _int(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise UsageError(f"{what} must be a whole number, not {text!r}") from None
