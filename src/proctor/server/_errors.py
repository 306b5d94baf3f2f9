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
    assert isinstance(exc, RequestValidationError)
    problems = []
    for problem in exc.errors():
        where = ".".join(str(part) for part in problem.get("loc", ()) if part != "body")
        problems.append(f"{where or 'body'}: {problem.get('msg', 'invalid')}")
    return error_response(422, "invalid_request", "; ".join(problems) or "invalid request")


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    codes = {404: "not_found", 405: "method_not_allowed"}
    message = (
        f"no such endpoint: {request.method} {request.url.path}. The API is listed at /docs"
        if exc.status_code == 404
        else str(exc.detail)
    )
    return error_response(exc.status_code, codes.get(exc.status_code, "http_error"), message)


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
