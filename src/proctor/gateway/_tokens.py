"""Token counts for where no provider count exists yet, with tiktoken's ``o200k_base``.

Used before a call is sent: to project its cost against a budget, to charge a rate
limit, to decide on compaction. Every figure derived from here is flagged as an
estimate; the provider's usage replaces it once the call returns. ``o200k_base`` is the
encoding of OpenAI's current models; for other providers' models it is a close estimate.

tiktoken downloads its encodings on first use. Proctor ships ``o200k_base`` (its
published file, gzipped; tiktoken checks its SHA-256 on load) and puts it in tiktoken's
cache, so counting works offline. If the encoding cannot be loaded, counts fall back to
four characters a token, with a warning.

A message's tokens are counted once per process: agents resend the same conversation
every turn, so each text is encoded on first sight and then looked up.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import tempfile
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path

import orjson

from proctor.gateway._types import AssistantMessage, Message, ToolSpec

logger = logging.getLogger("proctor.gateway.tokens")

ENCODING = "o200k_base"
_URL = "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken"
_SHIPPED = Path(__file__).parent / "_data" / "o200k_base.tiktoken.gz"

# OpenAI's chat format: a few tokens frame each message, and the reply is primed.
PER_MESSAGE = 3
REPLY_PRIMING_TOKENS = 3
PER_TOOL = 8

_MEMO_SIZE = 4096
_MEMO_MIN_CHARS = 64  # shorter texts encode faster than a lookup pays off

_memo: dict[str, int] = {}


def _tiktoken_cache_dir() -> str:
    """Where tiktoken looks for a downloaded encoding (its own rule, from ``tiktoken.load``)."""
    if "TIKTOKEN_CACHE_DIR" in os.environ:
        return os.environ["TIKTOKEN_CACHE_DIR"]
    if "DATA_GYM_CACHE_DIR" in os.environ:
        return os.environ["DATA_GYM_CACHE_DIR"]
    return os.path.join(tempfile.gettempdir(), "data-gym-cache")


def _seed_tiktoken_cache() -> None:
    """Put the shipped encoding where tiktoken would have saved its download."""
    cache_dir = _tiktoken_cache_dir()
    if not cache_dir:
        return  # caching disabled by the user: tiktoken downloads
    path = os.path.join(cache_dir, hashlib.sha1(_URL.encode()).hexdigest())
    if os.path.exists(path):
        return
    os.makedirs(cache_dir, exist_ok=True)
    partial = f"{path}.{os.getpid()}.tmp"
    with open(partial, "wb") as f:
        f.write(gzip.decompress(_SHIPPED.read_bytes()))
    os.replace(partial, path)  # atomic: a parallel reader sees all of it or nothing


def _chars_estimate(text: str) -> int:
    return (len(text) + 3) // 4


@cache
def _encoder() -> Callable[[str], int]:
    """The token counter of ``o200k_base``, loaded once (about 0.2 s)."""
    try:
        import tiktoken

        _seed_tiktoken_cache()
        encoding = tiktoken.get_encoding(ENCODING)
    except Exception as exc:  # a read-only cache dir, a corrupt file, no network
        logger.warning(
            "token counts fall back to 4 characters a token: tiktoken's %s could not be "
            "loaded (%s). Fix: make %s writable, or set TIKTOKEN_CACHE_DIR",
            ENCODING,
            exc,
            _tiktoken_cache_dir() or "tiktoken's cache directory",
        )
        return _chars_estimate
    encode = encoding.encode_ordinary
    return lambda text: len(encode(text))


def count_text(text: str) -> int:
    """Tokens of ``text`` in ``o200k_base``."""
    if len(text) < _MEMO_MIN_CHARS:
        return _encoder()(text) if text else 0
    tokens = _memo.get(text)
    if tokens is None:
        tokens = _encoder()(text)
        if len(_memo) >= _MEMO_SIZE:
            del _memo[next(iter(_memo))]  # the oldest: conversations move forward
        _memo[text] = tokens
    return tokens


def message_tokens(message: Message) -> int:
    """Tokens ``message`` adds to a prompt, framing included."""
    if isinstance(message, AssistantMessage):
        calls = sum(
            count_text(c.name) + count_text(orjson.dumps(c.arguments).decode()) + PER_MESSAGE
            for c in message.tool_calls
        )
        return PER_MESSAGE + count_text(message.text or "") + calls
    return PER_MESSAGE + count_text(message.content)


def tools_tokens(tools: Sequence[ToolSpec]) -> int:
    """Tokens the tool definitions add to a prompt (providers render them as text)."""
    return sum(
        PER_TOOL
        + count_text(t.name)
        + count_text(t.description)
        + count_text(orjson.dumps(t.parameters).decode())
        for t in tools
    )


def estimate_tokens(messages: Sequence[Message], tools: Sequence[ToolSpec]) -> int:
    """The estimated prompt size of ``messages`` with ``tools``; 0 for an empty prompt."""
    if not messages and not tools:
        return 0
    return sum(message_tokens(m) for m in messages) + tools_tokens(tools) + REPLY_PRIMING_TOKENS
