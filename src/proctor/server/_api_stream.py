"""``/api/v1/runs/{run_id}/events/stream``: a run's events live, as Server-Sent Events.

Each event is ``id: <seq>``, ``event: <type>``, ``data: <the event as JSON>``; the stream
ends with ``event: end`` once the run has finished. A client that reconnects sends the
last id it saw (``Last-Event-ID``), and the stream goes on from there. A run still
waiting in the run queue (``proctor serve --enqueue``) streams once a worker starts it.

The store is polled for events after the last one sent: one indexed range read every
``POLL_S`` while the run is quiet, never the whole log again.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated

import anyio
from fastapi import APIRouter, Header, Query, Request
from starlette.responses import StreamingResponse

from proctor.errors import AccessDenied, UsageError
from proctor.runtime import in_queue
from proctor.server._api_deps import MAX_SEQ, Auth, RunId, Svc, errors
from proctor.server._appstate import state_of
from proctor.server._schemas import EventOut
from proctor.store import EventRow, Store

router = APIRouter(prefix="/api/v1/runs", tags=["runs"])

POLL_S = 0.2
KEEPALIVE_S = 15.0
BATCH = 500
"""Events read per store query; a long backlog is sent in batches, without pausing."""


def sse_message(row: EventRow) -> str:
    """One event as an SSE message."""
    return f"id: {row.seq}\nevent: {row.type}\ndata: {EventOut.of(row).model_dump_json()}\n\n"


def end_message(run_id: str, last_seq: int, status: str, outcome: str | None) -> str:
    data = json.dumps(
        {"run_id": run_id, "last_seq": last_seq, "status": status, "outcome": outcome}
    )
    return f"event: end\ndata: {data}\n\n"


def refused_message(message: str) -> str:
    """The last message of a stream whose key was revoked or whose session ended."""
    data = json.dumps({"error": {"code": "unauthenticated", "message": message}})
    return f"event: unauthenticated\ndata: {data}\n\n"


def _never() -> bool:
    return False


async def _allowed() -> str | None:
    return None


async def follow(
    store: Store,
    run_id: str,
    *,
    after: int,
    poll_s: float = POLL_S,
    keepalive_s: float = KEEPALIVE_S,
    stopping: Callable[[], bool] = _never,
    refusal: Callable[[], Awaitable[str | None]] = _allowed,
) -> AsyncIterator[str]:
    """SSE messages of ``run_id``'s events with ``seq > after``, as they are appended,
    until the run has finished, or ``stopping()`` (the server is shutting down: the client
    reconnects with Last-Event-ID). Cancelled by the server when the client goes away.

    Before each read, ``refusal()`` says why the client may no longer read (its key was
    revoked, its session ended), or ``None``: a refused stream ends with that reason."""
    last = after
    quiet_since = time.monotonic()
    while not stopping():
        refused = await refusal()
        if refused is not None:
            yield refused_message(refused)
            return
        rows = await store.events(run_id, after=last, limit=BATCH)
        for row in rows:
            yield sse_message(row)
            last = row.seq
        if rows:
            quiet_since = time.monotonic()
            if rows[-1].type == "run_finished":
                yield end_message(run_id, last, "finished", rows[-1].meta.get("outcome"))
                return
            if len(rows) == BATCH:
                continue  # more backlog: no pause
        else:
            # Nothing new: the run may have finished before `after` (a reconnecting client
            # that saw it all). Its record and last event are written in one transaction,
            # so a finished run read here has no event left to send.
            run = await store.get_run(run_id)
            if run is None and await in_queue(store, run_id):
                pass  # queued (serve --enqueue): a worker has yet to start it
            elif run is None or (run.status == "finished" and run.last_seq <= last):
                status = "finished" if run is None else run.status
                yield end_message(run_id, last, status, None if run is None else run.outcome)
                return
            if time.monotonic() - quiet_since >= keepalive_s:
                yield ": keep-alive\n\n"  # a comment: keeps proxies from closing the stream
                quiet_since = time.monotonic()
        await anyio.sleep(poll_s)


def _start_after(after: int | None, last_event_id: str | None) -> int:
    if after is not None:
        return after
    if last_event_id is None or not last_event_id.strip():
        return -1
    text = last_event_id.strip()
    # A seq is digits (int() would also take "1_000", "+5" or 5,000 digits).
    if (text.isascii() and text.isdigit() and len(text) < 20) or text == "-1":
        seq = int(text)
        if seq <= MAX_SEQ:
            return seq
    raise UsageError(
        f"Last-Event-ID {last_event_id[:40]!r} is not an event's seq. Fix: send the id of "
        "the last event received, or leave the header out to start from the beginning"
    )


@router.get(
    "/{run_id}/events/stream",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": "SSE: id = seq, event = the event's type, data = the event "
            "as JSON; last, `event: end` once the run has finished.",
        },
        **errors(404),
    },
)
async def stream_events(
    run_id: RunId,
    principal: Auth,
    service: Svc,
    request: Request,
    after: Annotated[
        int | None,
        Query(
            ge=-1,
            le=MAX_SEQ,
            description="Start after this seq (default: Last-Event-ID, else -1).",
        ),
    ] = None,
    last_event_id: Annotated[
        str | None,
        Header(
            max_length=40,
            description="Resume after this seq: the id of the last event received.",
        ),
    ] = None,
) -> StreamingResponse:
    """The run's events live, as Server-Sent Events, until the run finishes."""
    start = _start_after(after, last_event_id)
    # 404 before the stream starts, not inside it; a queued run streams once it starts.
    await service.run_or_queued(principal, run_id)
    stopping: Callable[[], bool] = getattr(request.app.state, "stopping", _never)
    auth = state_of(request).auth

    async def refusal() -> str | None:
        # The request's key or session, looked up again (remembered for the key lookup's
        # TTL): a stream must not outlive the right to read it.
        try:
            await auth.principal(request)
        except AccessDenied as exc:
            return str(exc)
        return None

    return StreamingResponse(
        follow(service.store, run_id, after=start, stopping=stopping, refusal=refusal),
        media_type="text/event-stream",
        # No caching, and no buffering by a reverse proxy (nginx): events must flow.
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
