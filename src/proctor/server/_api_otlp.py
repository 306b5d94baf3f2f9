"""``POST /v1/traces``: an OTLP/HTTP receiver, so an agent's GenAI spans become observed runs.

An agent already instrumented (pydantic-ai, the OpenAI Agents SDK's or LangGraph's
instrumentations) points its OTLP exporter at ``proctor serve``
(``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://HOST:8000/v1/traces``) with an API key whose
role may start runs (``OTEL_EXPORTER_OTLP_HEADERS=authorization=Bearer%20KEY``). Bodies are
``application/json`` (the OTLP JSON encoding) or ``application/x-protobuf`` (needs
``opentelemetry-proto``, the ``otel`` extra), optionally gzip-compressed. The workflow
whose contract judges a trace is the ``x-proctor-workflow`` header, else the trace's
``proctor.workflow`` resource (or span) attribute; without either, the request is refused
with an OTLP ``Status``. Traces are buffered until whole (``TraceBuffer``).

The answer is OTLP's ``ExportTraceServiceResponse``, in the request's encoding; a trace
that was recorded with something the contract would have refused says so in
``partialSuccess.errorMessage`` (with no span rejected: a warning, as OTLP allows).
"""

from __future__ import annotations

import gzip
import zlib
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from proctor.errors import ProctorError, UsageError
from proctor.evals import TraceFormatError
from proctor.evals._trace_otlp import Span, decode_protobuf, decode_requests, spans_of
from proctor.server._appstate import current_principal, state_of
from proctor.server._errors import status_and_code
from proctor.server._otlp import TraceBuffer

router = APIRouter(tags=["otlp"])

WORKFLOW_HEADER = "x-proctor-workflow"
_PROTOBUF = "application/x-protobuf"
_MAX_INFLATED = 64 * 1024 * 1024
# google.rpc.Code values, as OTLP's Status carries them.
_RPC = {400: 3, 401: 16, 403: 7, 404: 5, 409: 9, 413: 8, 422: 3, 415: 3}


def buffer_of(request: Request) -> TraceBuffer:
    """The app's trace buffer (made on first use, over the service's runners)."""
    buffer: TraceBuffer | None = getattr(request.app.state, "otlp_traces", None)
    if buffer is None:
        buffer = TraceBuffer(state_of(request).service.runner)
        request.app.state.otlp_traces = buffer
    return buffer


# Not in the OpenAPI document: it speaks OTLP (docs/evals.md), not the API's JSON.
@router.post("/v1/traces", response_class=Response, include_in_schema=False)
async def receive_traces(request: Request) -> Response:
    """Each whole trace with GenAI spans becomes an observed run of its workflow (the
    ``x-proctor-workflow`` header, else the ``proctor.workflow`` resource attribute),
    judged by that workflow's contract. Needs a key whose role may start runs."""
    protobuf = _PROTOBUF in request.headers.get("content-type", "")
    try:
        principal = await current_principal(request)
        principal.require("start")
        body = _inflate(await request.body(), request.headers.get("content-encoding", ""))
        requests = [decode_protobuf(body)] if protobuf else _json(request, body)
        spans = spans_of(requests)
        header = request.headers.get(WORKFLOW_HEADER, "").strip()
        _check_workflows(request, spans, header)
        imported = await buffer_of(request).add(spans, workflow=header, tenant=principal.tenant)
    except (ProctorError, UsageError) as exc:
        status, _ = status_and_code(exc)
        status = 400 if isinstance(exc, TraceFormatError) else status
        return _status(status, str(exc), protobuf)
    warnings = []
    for item in imported:
        if item.check.findings:
            refused = ", ".join(
                f"{f.tool or 'the final answer'} [{f.rule}]" for f in item.check.findings
            )
            warnings.append(
                f"trace {item.trajectory.id}: observed run {item.run_id} ({item.outcome}); "
                f"the contract would have refused {refused}"
            )
    return _answer("; ".join(warnings), protobuf)


def _json(request: Request, body: bytes) -> list[dict[str, Any]]:
    kind = request.headers.get("content-type", "application/json")
    if "json" not in kind:
        raise UsageError(
            f"Content-Type {kind!r} is not OTLP: send application/json or application/x-protobuf"
        )
    return decode_requests(body, where="the request")


def _inflate(body: bytes, encoding: str) -> bytes:
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "deflate"):
        raise UsageError(f"Content-Encoding {encoding!r} is not supported: send gzip or none")
    try:
        inflater = zlib.decompressobj(wbits=31 if encoding == "gzip" else 15)
        inflated = inflater.decompress(body, _MAX_INFLATED)
    except (zlib.error, gzip.BadGzipFile) as exc:
        raise UsageError(f"the body is not valid {encoding} ({exc})") from None
    if inflater.unconsumed_tail:
        raise UsageError(
            f"the body inflates past {_MAX_INFLATED // 2**20} MiB: send smaller batches"
        )
    return inflated


def _check_workflows(request: Request, spans: list[Span], header: str) -> None:
    """Refuse a trace no workflow is named for, or one naming a workflow unknown here."""
    named: dict[str, set[str]] = {}
    for span in spans:
        for attrs in (span.resource, span.attributes):
            value = attrs.get("proctor.workflow")
            if isinstance(value, str) and value:
                named.setdefault(span.trace_id, set()).add(value)
    traces = {span.trace_id for span in spans}
    if not header:
        missing = sorted(traces - set(named))
        if missing:
            raise UsageError(
                f"no workflow is named for trace {missing[0]}: the contract that judges it "
                f"must be known. Fix: send the header '{WORKFLOW_HEADER}: NAME', or set the "
                "resource attribute proctor.workflow=NAME (OTEL_RESOURCE_ATTRIBUTES)"
            )
    service = state_of(request).service
    for name in ({header} | {n for names in named.values() for n in names}) - {""}:
        service.runner(name)  # an unknown workflow is refused now, with the known ones


def _answer(warning: str, protobuf: bool) -> Response:
    if protobuf:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceResponse,
        )

        message = ExportTraceServiceResponse()
        if warning:
            message.partial_success.error_message = warning
        return Response(message.SerializeToString(), media_type=_PROTOBUF)
    body: dict[str, Any] = {}
    if warning:
        body["partialSuccess"] = {"rejectedSpans": "0", "errorMessage": warning}
    return Response(orjson.dumps(body), media_type="application/json")


def _status(status: int, message: str, protobuf: bool) -> Response:
    """An OTLP failure: a ``google.rpc.Status`` with the HTTP status to match."""
    code = _RPC.get(status, 13)
    if protobuf:
        try:
            from google.rpc.status_pb2 import Status

            encoded = Status(code=code, message=message).SerializeToString()
            return Response(encoded, status_code=status, media_type=_PROTOBUF)
        except ImportError:  # no googleapis-common-protos: answer in JSON
            pass
    body = orjson.dumps({"code": code, "message": message})
    return Response(body, status_code=status, media_type="application/json")
