"""Token estimates: tiktoken's o200k_base, shipped for offline use, counted once per text."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import tiktoken.load

from proctor.gateway import _tokens
from proctor.gateway._tokens import (
    REPLY_PRIMING_TOKENS,
    count_text,
    estimate_tokens,
    message_tokens,
    tools_tokens,
)
from proctor.gateway._types import (
    AssistantMessage,
    Message,
    SystemMessage,
    ToolSpec,
    UserMessage,
)
from proctor.store import RecordedToolCall

O200K_SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"
INVOICE = orjson.dumps(
    {"invoice_id": "INV-1042", "vendor": "Acme Tools GmbH", "amount": 1250.0, "po": "PO-7731"}
).decode()


@pytest.fixture
def fresh_encoder() -> Iterator[None]:
    """Load the encoder again in the test, and leave a working one behind."""
    _tokens._encoder.cache_clear()
    _tokens._memo.clear()
    yield
    _tokens._encoder.cache_clear()
    _tokens._memo.clear()


def test_counts_are_o200k_tokens_not_characters() -> None:
    assert count_text("hello world") == 2
    assert count_text("") == 0
    # JSON is denser in tokens than prose: four characters a token undercounts it.
    assert count_text(INVOICE) == 31
    assert count_text(INVOICE) > len(INVOICE) // 4


def test_messages_and_tools_carry_their_framing() -> None:
    assert message_tokens(UserMessage(content="hello world")) == 2 + 3
    call = RecordedToolCall(id="c1", name="erp.lookup", arguments={"id": "INV-1042"})
    assistant = AssistantMessage(text=None, tool_calls=(call,))
    assert (
        message_tokens(assistant)
        == 3 + count_text("erp.lookup") + count_text('{"id":"INV-1042"}') + 3
    )
    tool = ToolSpec(name="t", description="look it up", parameters={"type": "object"})
    assert tools_tokens([tool]) > count_text("look it up")
    messages: list[Message] = [SystemMessage(content="s"), UserMessage(content="hello world")]
    assert estimate_tokens(messages, [tool]) == (
        message_tokens(messages[0])
        + message_tokens(messages[1])
        + tools_tokens([tool])
        + REPLY_PRIMING_TOKENS
    )
    assert estimate_tokens([], []) == 0


def test_a_long_text_is_encoded_once(monkeypatch: pytest.MonkeyPatch) -> None:
    text = INVOICE * 4 + "memo"
    first = count_text(text)
    encoder = _tokens._encoder()
    calls: list[str] = []

    def counting(value: str) -> int:
        calls.append(value)
        return encoder(value)

    monkeypatch.setattr(_tokens, "_encoder", lambda: counting)
    assert count_text(text) == first
    assert calls == []  # answered from the memo
    assert count_text(text + " ") > 0
    assert len(calls) == 1


def test_the_shipped_encoding_seeds_tiktokens_cache_so_no_download_is_needed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    _tokens._seed_tiktoken_cache()
    seeded = list(tmp_path.iterdir())
    assert [p.name for p in seeded] == [hashlib.sha1(_tokens._URL.encode()).hexdigest()]
    assert hashlib.sha256(seeded[0].read_bytes()).hexdigest() == O200K_SHA256

    def no_network(blobpath: str) -> bytes:
        raise AssertionError(f"tiktoken tried to download {blobpath}")

    monkeypatch.setattr(tiktoken.load, "read_file", no_network)
    ranks = tiktoken.load.load_tiktoken_bpe(_tokens._URL, expected_hash=O200K_SHA256)
    assert len(ranks) == 199998


def test_an_encoding_that_cannot_load_falls_back_with_a_warning(
    fresh_encoder: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def read_only() -> None:
        raise PermissionError("read-only file system: '/tmp/data-gym-cache'")

    monkeypatch.setattr(_tokens, "_seed_tiktoken_cache", read_only)
    with caplog.at_level(logging.WARNING, logger="proctor.gateway.tokens"):
        assert count_text("x" * 10) == 3  # four characters a token, rounded up
    assert "fall back to 4 characters a token" in caplog.text
    assert "read-only file system" in caplog.text
    assert "TIKTOKEN_CACHE_DIR" in caplog.text
