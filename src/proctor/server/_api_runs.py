"""``/api/v1/runs``: start runs, list them a page at a time, read one and its events."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Query, Response

from proctor.errors import UsageError
from proctor.server._api_deps import MAX_SEQ, Auth, RunId, Svc, errors, text_query
from proctor.server._api_query import decode_cursor, encode_cursor, parse_time, resolve_version
from proctor.server._keys import Principal
from proctor.server._schemas import (
    ApiRunStatus,
    EventOut,
    EventPage,
    ListTotals,
    RunPage,
    RunSummary,
    StartRun,
)
from proctor.server._service import Service
from proctor.store import (
    Outcome,
    QueueItem,
    RunFilter,
    RunRecord,
    RunSort,
    check_session_key,
    search_terms,
    sort_key,
    totals_of,
)

router = APIRouter(prefix="/api/v1/runs", tags=["runs"])


async def summaries(
    service: Service, principal: Principal, runs: list[RunRecord]
) -> list[RunSummary]:
    """The API's view of ``runs``: each with its contract's version and pending approval."""
    pending = await service.pending_approvals(principal, runs)
    return [
        RunSummary.of(
            run,
            version=await service.contract_version(run.contract_hash),
            pending_approval=pending.get(run.run_id) if run.status == "awaiting_approval" else None,
        )
        for run in runs
    ]


async def summary(service: Service, principal: Principal, run: RunRecord | QueueItem) -> RunSummary:
    """The API's view of one run, or of a run still waiting in the queue."""
    if isinstance(run, QueueItem):
        return RunSummary.queued(run)
    [shown] = await summaries(service, principal, [run])
    return shown


@router.post("", status_code=202, responses=errors(403, 404, 422))
async def start_run(
    body: StartRun, principal: Auth, service: Svc, response: Response
) -> RunSummary:
    """Start a run of a workflow; it is driven in the background.

    Answers once the run is recorded (usually still ``running``), or, on a server started
    with ``--enqueue``, once it is queued (``queued``: ``proctor worker`` processes drive
    it). Follow it at the ``Location`` given, or live with
    ``/api/v1/runs/{run_id}/events/stream``. Needs role operator or admin.
    """
    started = await service.start_run(
        principal, body.workflow, body.input, model=body.model, session=body.session
    )
    response.headers["Location"] = f"/api/v1/runs/{started.run_id}"
    return await summary(service, principal, started)


@router.get("", responses=errors())
async def list_runs(
    principal: Auth,
    service: Svc,
    workflow: Annotated[str | None, text_query("Only runs of this workflow.")] = None,
    status: Annotated[
        ApiRunStatus | None,
        Query(
            description="Only runs in this status; queued: the runs waiting in the run "
            "queue for a worker (newest first, one page: no cursor)."
        ),
    ] = None,
    outcome: Annotated[Outcome | None, Query(description="Only runs with this outcome.")] = None,
    model: Annotated[str | None, text_query("Only runs started with this model.")] = None,
    version: Annotated[
        str | None,
        text_query(
            "Only runs under this contract version: its content hash (or a prefix "
            "of 4+ hex digits), or its version label (3 or v3) together with workflow=."
        ),
    ] = None,
    since: Annotated[
        str | None,
        text_query("Started at or after: ISO 8601, epoch seconds, or an age (7d, 24h)."),
    ] = None,
    until: Annotated[
        str | None,
        text_query("Started before: ISO 8601, epoch seconds, or an age (7d, 24h)."),
    ] = None,
    session: Annotated[str | None, text_query("Only runs started with this session key.")] = None,
    search: Annotated[
        str,
        text_query(
            "Only runs matching every word (at most 8, 200 characters): a run id prefix, or "
            "text in the input, the final answer or a proposed tool's name (ASCII letters "
            "match either case)."
        ),
    ] = "",
    sort: Annotated[
        RunSort,
        Query(
            description="The order: started, cost, duration or status; a leading - sorts "
            "descending. Ties keep a stable order (by run id)."
        ),
    ] = "-started",
    totals: Annotated[
        bool,
        Query(
            description="Add what the matching runs add up to (count, cost, tokens): the "
            "newest 10,000 of them at most (totals.capped says when more match)."
        ),
    ] = False,
    limit: Annotated[int, Query(ge=1, le=500, description="Runs per page.")] = 50,
    cursor: Annotated[
        str | None, text_query("The next_cursor of the previous page (with the same sort).")
    ] = None,
) -> RunPage:
    """The tenant's runs, newest first (or in ``sort``'s order), a page at a time.

    ``session=KEY&sort=started`` reads a conversation: its runs in the order they started.
    """
    now = time.time()
    if session is not None:
        check_session_key(session)
    search_terms(search)
    if status == "queued":
        if cursor is not None or version is not None or outcome is not None or search:
            raise UsageError(
                "status=queued lists runs no worker has started yet: they have no outcome, "
                "contract version or answer, and come in one page. Fix: leave out cursor, "
                "outcome, version and search"
            )
        waiting = await service.queued_runs(
            principal, workflow=workflow, model=model, limit=limit, session=session
        )
        return RunPage(runs=[RunSummary.queued(item) for item in waiting], next_cursor=None)
    query = RunFilter(
        workflow=workflow,
        status=status,
        outcome=outcome,
        model=model,
        since=None if since is None else parse_time("since", since, now=now),
        until=None if until is None else parse_time("until", until, now=now),
        session=session,
        search=search,
        sort=sort,
        before=None if cursor is None else decode_cursor(cursor, sort),
        # One more than a page: whether it exists says if there is a next page.
        limit=limit + 1,
    )
    if version is not None:
        query.contract_hash = await resolve_version(service.store, version, workflow=workflow)
    runs = await service.runs(principal, query)
    page, more = runs[:limit], len(runs) > limit
    last = page[-1] if more else None
    return RunPage(
        runs=await summaries(service, principal, page),
        next_cursor=None if last is None else encode_cursor(sort, sort_key(sort, last)),
        totals=await list_totals(service, principal, query, page, whole=not more and not cursor)
        if totals
        else None,
    )


async def list_totals(
    service: Service, principal: Principal, query: RunFilter, page: list[RunRecord], *, whole: bool
) -> ListTotals:
    """The totals of the runs ``query`` matches: ``page``'s own when it holds them all
    (``whole``), so a search that finds few runs reads the store once, not twice."""
    found = totals_of(page) if whole else await service.run_totals(principal, query)
    return ListTotals(
        capped=found.capped,
        runs=found.runs,
        cost_usd=found.cost_usd,
        cost_unknown=found.cost_unknown,
        input_tokens=found.input_tokens,
        output_tokens=found.output_tokens,
        tokens=found.input_tokens + found.output_tokens,
    )


@router.get("/{run_id}", responses=errors(404))
async def get_run(run_id: RunId, principal: Auth, service: Svc) -> RunSummary:
    """One run: status, outcome, totals, contract version, and the approval it waits for."""
    return await summary(service, principal, await service.run_or_queued(principal, run_id))


@router.get("/{run_id}/events", responses=errors(404))
async def run_events(
    run_id: RunId,
    principal: Auth,
    service: Svc,
    after: Annotated[
        int, Query(ge=-1, le=MAX_SEQ, description="Only events with seq > after.")
    ] = -1,
    limit: Annotated[int, Query(ge=1, le=1000, description="Events per page.")] = 200,
) -> EventPage:
    """The run's log, in order, a page at a time: content as stored (redacted), null once
    retention purged it."""
    rows = await service.events(principal, run_id, after=after, limit=limit + 1)
    page = rows[:limit]
    return EventPage(
        events=[EventOut.of(row) for row in page],
        next_after=page[-1].seq if len(rows) > limit else None,
    )
