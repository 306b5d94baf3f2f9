"""A session as a conversation: every run started with one session key, in the order they
started, each with its input and final answer (as the runs' summary rows keep them:
redacted, cut short) and a link to the run's own page.

A session's runs are read through the ``(session, started_at, run_id)`` index, a page
at a time by keyset; the totals are the store's, over all of them.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from proctor.errors import UsageError
from proctor.server._api_query import decode_cursor, encode_cursor
from proctor.server._appstate import state_of
from proctor.server._keys import Principal
from proctor.server._ui_base import guarded, render
from proctor.store import TOTALS_CAP, RunFilter, RunRecord, check_session_key, sort_key

router = APIRouter(include_in_schema=False)

PAGE = 100


@router.get("/sessions/{key}")
async def session_page(request: Request, key: str) -> Response:
    return await guarded(request, lambda principal: _session(request, principal, key))


async def _session(request: Request, principal: Principal, key: str) -> Response:
    principal.require("read")
    check_session_key(key)
    store = state_of(request).service.store
    cursor = request.query_params.get("after", "")
    query = RunFilter(tenant=principal.tenant, session=key, sort="started", limit=PAGE + 1)
    if cursor:
        try:
            query.before = decode_cursor(cursor, "started")
        except UsageError:
            raise UsageError(
                "this page link is not valid (its 'after' cursor is damaged); start again "
                "from the session's first run"
            ) from None
    found = await store.list_runs(query)
    runs = found[:PAGE]
    next_url = ""
    if len(found) > PAGE:
        after = encode_cursor("started", sort_key("started", runs[-1]))
        next_url = f"/sessions/{key}?{urlencode({'after': after})}"
    context: dict[str, Any] = {
        "key": key,
        "turns": [_turn(run) for run in runs],
        "totals": await store.run_totals(query, cap=TOTALS_CAP),
        "first": not cursor,
        "next_url": next_url,
    }
    return await render(request, principal, "session.html", context, nav="runs")


def _turn(run: RunRecord) -> dict[str, Any]:
    """One run of the conversation: the run, and its input's fields as readable text."""
    return {"run": run, "input": _fields(run.input_text)}


def _fields(text: str) -> list[tuple[str, str]]:
    """An input as people read it: each field of a JSON object with its text (strings as
    they are, other values as JSON); anything else, or JSON cut short (the row keeps a
    bounded excerpt), as one unnamed field."""
    if not text:
        return []
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return [("", text)]
    if not isinstance(value, dict):
        return [("", text)]
    return [
        (str(name), item if isinstance(item, str) else orjson.dumps(item).decode())
        for name, item in value.items()
    ]
