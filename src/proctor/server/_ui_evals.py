"""Stored eval results: the list with pass and fail counts, and one result's cases with
their failed checks, compared with the suite's previous result (``evals.diff_results``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from proctor.errors import NotFoundError
from proctor.evals import SuiteDiff, SuiteResult, diff_results
from proctor.server._appstate import state_of
from proctor.server._keys import Principal
from proctor.server._ui_base import guarded, render
from proctor.store import EvalResultRecord, Store

router = APIRouter(include_in_schema=False)

LISTED = 100


@router.get("/evals")
async def evals_page(request: Request) -> Response:
    async def page(principal: Principal) -> Response:
        principal.require("read")
        store = state_of(request).service.store
        results = await store.eval_results(tenant=principal.tenant, limit=LISTED)
        return await render(request, principal, "evals.html", {"results": results}, nav="evals")

    return await guarded(request, page)


@router.get("/evals/{result_id}")
async def eval_page(request: Request, result_id: str) -> Response:
    async def page(principal: Principal) -> Response:
        principal.require("read")
        store = state_of(request).service.store
        record = await _record(store, principal, result_id)
        result = _parse(record)
        previous = await _previous(store, principal, record)
        before = None if previous is None else _parse(previous)
        drift: SuiteDiff | None = None
        if result is not None and before is not None:
            drift = diff_results(before, result)
        context: dict[str, Any] = {
            "record": record,
            "result": result,
            "previous": previous,
            "drift": drift,
        }
        return await render(request, principal, "eval.html", context, nav="evals")

    return await guarded(request, page)


async def _record(store: Store, principal: Principal, result_id: str) -> EvalResultRecord:
    record = await store.get_eval_result(result_id)
    if record is None or record.tenant != principal.tenant:
        raise NotFoundError(f"no eval result {result_id!r} in tenant {principal.tenant!r}")
    return record


async def _previous(
    store: Store, principal: Principal, record: EvalResultRecord
) -> EvalResultRecord | None:
    """The suite's result stored just before ``record``, with its body."""
    listed = await store.eval_results(record.suite, tenant=principal.tenant, limit=LISTED)
    for other in listed:  # newest first
        if other.result_id != record.result_id and other.created_at < record.created_at:
            return await store.get_eval_result(other.result_id)
    return None


def _parse(record: EvalResultRecord) -> SuiteResult | None:
    """The result's cases, or ``None`` when its stored body is not a readable result."""
    try:
        return SuiteResult.model_validate_json(record.body or "")
    except ValidationError:
        return None
