"""How OpenAIModel classifies provider failures: the kind a router acts on, and the message."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from proctor.errors import ModelError
from proctor.gateway import OpenAIModel, UserMessage
from proctor.gateway._errors import ModelCallError
from proctor.gateway.providers.wire import retry_after_s
from support.fake_openai import (
    Completion,
    ErrorReply,
    FakeOpenAIServer,
    RawReply,
    Reply,
    TruncatedStream,
    context_length_error,
)

HELLO = [UserMessage(content="hello")]


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as fake:
        yield fake


@pytest.fixture
async def model(server: FakeOpenAIServer) -> AsyncIterator[OpenAIModel]:
    async with OpenAIModel("fake-model", base_url=server.base_url, api_key="unused") as m:
        yield m


@pytest.mark.parametrize(
    ("reply", "kind", "words"),
    [
        (ErrorReply(status=401, message="bad key"), "auth", ["401", "OPENAI_API_KEY", "bad key"]),
        (ErrorReply(status=403, message="no access"), "auth", ["403", "permission"]),
        (
            ErrorReply(status=404, message="no such model"),
            "not_found",
            ["404", "model not found", "/models"],
        ),
        (ErrorReply(status=429, retry_after=7), "rate_limited", ["429", "retry after 7s"]),
        (ErrorReply(status=500, message="boom"), "server_error", ["HTTP 500", "boom"]),
        (ErrorReply(status=503), "server_error", ["HTTP 503", "server error"]),
        (ErrorReply(status=408), "timeout", ["HTTP 408"]),
        (ErrorReply(status=400, message="bad messages"), "bad_request", ["HTTP 400", "bad"]),
        (ErrorReply(status=422, message="no"), "bad_request", ["HTTP 422"]),
        (ErrorReply(status=413, message="too big"), "bad_request", ["HTTP 413"]),
        (context_length_error(), "context_length", ["maximum context length", "larger"]),
        (
            ErrorReply(status=400, message="prompt is too long: 9000 tokens"),
            "context_length",
            ["context window"],
        ),
        (
            ErrorReply(status=413, message="too many tokens in the request"),
            "context_length",
            ["HTTP 413"],
        ),
        (Completion(empty_choices=True), "invalid_response", ["no choices"]),
        (RawReply(body=b"{this is not json"), "invalid_response", ["not valid JSON", "/v1"]),
        (
            RawReply(body=b'{"choices": [{"message": null}]}'),
            "invalid_response",
            ["not a chat completion"],
        ),
        (TruncatedStream(), "connection", ["broke before the answer"]),
    ],
)
async def test_provider_failures_become_model_errors(
    server: FakeOpenAIServer, model: OpenAIModel, reply: Reply, kind: str, words: list[str]
) -> None:
    server.enqueue(reply)

    with pytest.raises(ModelCallError) as caught:
        await model.complete(HELLO, [])

    assert isinstance(caught.value, ModelError)
    assert caught.value.kind == kind
    expected_status = reply.status if isinstance(reply, ErrorReply) else None
    assert caught.value.status == expected_status
    message = str(caught.value)
    for word in words:
        assert word in message
    assert "fake-model" in message
    assert server.base_url in message
    if not isinstance(reply, Completion) or isinstance(reply, TruncatedStream):
        assert caught.value.__cause__ is not None


async def test_a_body_that_is_not_json_at_all(server: FakeOpenAIServer, model: OpenAIModel) -> None:
    # The SDK hands back the text of a non-JSON content type instead of raising.
    server.enqueue(RawReply(body=b"<html>hello</html>", content_type="text/html"))

    with pytest.raises(ModelCallError, match="not valid JSON") as caught:
        await model.complete(HELLO, [])
    assert caught.value.kind == "invalid_response"


async def test_the_sdk_does_not_retry_by_itself(
    server: FakeOpenAIServer, model: OpenAIModel
) -> None:
    # Retrying is the router's job: one failure, one request, one error.
    server.enqueue(ErrorReply(status=500), ErrorReply(status=429, retry_after=0))

    with pytest.raises(ModelCallError, match="HTTP 500"):
        await model.complete(HELLO, [])

    assert len(server.requests) == 1
    assert server.pending == 1


@pytest.mark.parametrize(
    ("reply", "seconds"),
    [
        (ErrorReply(status=429, retry_after=2.5), 2.5),
        (ErrorReply(status=429, retry_after=3, retry_after_ms=1500), 1.5),
        (ErrorReply(status=429), None),
        (ErrorReply(status=429, headers={"Retry-After": "soon"}), None),
    ],
)
async def test_retry_after_is_parsed(
    server: FakeOpenAIServer, model: OpenAIModel, reply: ErrorReply, seconds: float | None
) -> None:
    server.enqueue(reply)
    with pytest.raises(ModelCallError) as caught:
        await model.complete(HELLO, [])
    assert caught.value.kind == "rate_limited"
    assert caught.value.retry_after_s == seconds


async def test_retry_after_as_an_http_date(server: FakeOpenAIServer, model: OpenAIModel) -> None:
    server.enqueue(
        ErrorReply(status=429, retry_after_date=datetime.now(UTC) + timedelta(seconds=30))
    )
    with pytest.raises(ModelCallError) as caught:
        await model.complete(HELLO, [])
    # An HTTP date has whole seconds, and the round trip takes a moment: about 30s.
    assert caught.value.retry_after_s is not None
    assert 20 < caught.value.retry_after_s <= 30


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after": "Wed, 21 Oct 2015 07:28:20 GMT"}, 20.0),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:20"}, 20.0),  # no zone: GMT anyway
        ({"retry-after": "Wed, 21 Oct 2015 07:27:00 GMT"}, 0.0),  # in the past
        ({"retry-after": "-3"}, 0.0),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after-ms": "x", "retry-after": "9"}, 9.0),
        ({}, None),
    ],
)
def test_retry_after_header_forms(headers: dict[str, str], seconds: float | None) -> None:
    now = datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC).timestamp()
    assert retry_after_s(headers, now=now) == seconds
