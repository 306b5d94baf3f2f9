"""Errors as JSON: ``{"error": {"code": ..., "message": ...}}``, with a stable code per
kind, a status to match, and never a stack trace."""

from __future__ import annotations

import logging

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from proctor.errors import (
    AccessDenied,
    ChainConflictError,
    ConfigError,
    NotFoundError,
    ProctorError,
    RunStateError,
    UsageError,
)

logger = logging.getLogger("proctor.server")


def error_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def status_and_code(exc: BaseException) -> tuple[int, str]:
    """The HTTP status and stable error code of a Proctor error."""
    if isinstance(exc, AccessDenied):
        return exc.status, "unauthenticated" if exc.status == 401 else "forbidden"
    if isinstance(exc, NotFoundError):
        return 404, "not_found"
    if isinstance(exc, ChainConflictError):
        return 409, "conflict"
    if isinstance(exc, RunStateError):
        return 409, "invalid_state"
    if isinstance(exc, UsageError):
        return 400, "bad_request"
    if isinstance(exc, ConfigError):
        return 422, "invalid_config"
    return 500, "internal_error"


async def _proctor_error(request: Request, exc: Exception) -> Response:
    status, code = status_and_code(exc)
    if status >= 500:
        logger.error("request %s %s failed: %s", request.method, request.url.path, exc)
    response = error_response(status, code, str(exc))
    if status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    return response


async def _validation_error(request: Request, exc: Exception) -> Response:
    # A value that fails its declared type or range is as bad as one that cannot be used:
    # both are the client's to fix, so both are 400 (FastAPI's default is 422).
    assert isinstance(exc, RequestValidationError)
    problems = []
    for problem in exc.errors()[:5]:
        if problem.get("type") == "json_invalid":
            reason = problem.get("ctx", {}).get("error", "invalid")
            problems.append(f"the body is not JSON ({reason}); send a JSON object")
            continue
        where = ".".join(str(part) for part in problem.get("loc", ()) if part != "body")
        message = str(problem.get("msg", "invalid")).removeprefix("Value error, ")
        problems.append(f"{where or 'body'}: {message}")
    return error_response(400, "invalid_request", "; ".join(problems) or "invalid request")


_HTTP_CODES = {
    400: "invalid_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "request_too_large",
}


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        message = (
            f"no such endpoint: {request.method} {request.url.path}. The API is listed at /docs"
        )
    elif exc.status_code == 400 and exc.detail == "There was an error parsing the body":
        message = (  # FastAPI's words for a body json cannot read (too deep, too long a number)
            "the body could not be read as JSON (nested too deeply, or a number too long). "
            "Fix: send a JSON object of plain values"
        )
    else:
        message = str(exc.detail)
    response = error_response(
        exc.status_code, _HTTP_CODES.get(exc.status_code, "http_error"), message
    )
    response.headers.update(exc.headers or {})
    return response


async def _unexpected(request: Request, exc: Exception) -> Response:
    # Logged with its traceback for the operator; the client gets no internals.
    logger.exception("request %s %s failed", request.method, request.url.path, exc_info=exc)
    return error_response(
        500, "internal_error", "the server failed to answer; its log has the details"
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ProctorError, _proctor_error)
    app.add_exception_handler(UsageError, _proctor_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
