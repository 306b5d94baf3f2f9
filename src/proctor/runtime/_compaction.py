"""Keeping a run's prompt under its contract's ``model.context_tokens`` target.

First, large tool results of older turns become short references the model can expand
(``context.expand``); if that is not enough, the cheap route summarises the older turns.
The result is a ``context_compacted`` event, which the transcript re-applies on resume.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from proctor.gateway import (
    AssistantMessage,
    CallSettings,
    Gateway,
    Message,
    ModelRequest,
    SystemMessage,
    ToolMessage,
    ToolSpec,
    UserMessage,
    estimate_tokens,
    message_tokens,
)
from proctor.runtime._transcript import (
    EXPAND_TOOL,
    SUMMARY_PREFIX,
    Transcript,
    is_summary,
    reference,
)
from proctor.runtime._verified import opened_events, run_key_of
from proctor.store import ContextCompacted, EvidenceKeys, Store, ToolFinished
from proctor.tools import Tool, ToolContext

KEEP_TURNS = 2
"""The latest model turns are never compacted: the model is working on them."""
LARGE_RESULT_CHARS = 600
SUMMARY_TOKENS = 400
SUMMARY_INSTRUCTIONS = (
    "You compress the earlier steps of an agent's run so it can continue with less context. "
    "Write a short factual summary: which tools were called with which key arguments, what "
    "they returned that still matters (ids, amounts, decisions), and what was refused. "
    "No advice, no speculation."
)


async def compact(
    transcript: Transcript,
    tools: Sequence[ToolSpec],
    *,
    target: int,
    gateway: Gateway,
    route: str,
    before: int | None = None,
) -> ContextCompacted | None:
    """The compaction that brings the prompt under ``target`` tokens, or ``None`` if under.

    ``before`` is the caller's running estimate of the prompt, if it keeps one.
    """
    if before is None:
        before = estimate_tokens(transcript.messages, tools)
    if before <= target:
        return None
    keep_from = max(1, transcript.turn - KEEP_TURNS + 1)
    older = [(m, turn) for m, turn in transcript.entries() if 0 < turn < keep_from]
    replaced = [
        m.call_id
        for m, _ in older
        if isinstance(m, ToolMessage) and len(m.content) > LARGE_RESULT_CHARS
    ]
    saved = sum(
        message_tokens(m)
        - message_tokens(
            ToolMessage(call_id=m.call_id, name=m.name, content=reference(m.call_id, m.content))
        )
        for m, _ in older
        if isinstance(m, ToolMessage) and m.call_id in replaced
    )
    after = before - saved
    if after <= target or not older:
        if not replaced:
            return None
        return ContextCompacted(
            tokens_before=before,
            tokens_after=after,
            estimated=True,
            results_replaced=len(replaced),
            replaced_calls=replaced,
        )
    earlier = [m for m, turn in transcript.entries() if turn == 0 and is_summary(m)]
    result = await gateway.complete(
        ModelRequest(
            messages=[
                SystemMessage(content=SUMMARY_INSTRUCTIONS),
                UserMessage(content=_render([*earlier, *(m for m, _ in older)])),
            ],
            route=route,
            settings=CallSettings(max_tokens=SUMMARY_TOKENS, temperature=0.0),
        )
    )
    summary = (result.response.text or "").strip()
    kept = [
        m
        for m, turn in transcript.entries()
        if (turn == 0 and not is_summary(m)) or turn >= keep_from
    ]
    note = UserMessage(content=SUMMARY_PREFIX + summary)
    return ContextCompacted(
        tokens_before=before,
        tokens_after=estimate_tokens([*kept, note], tools),
        estimated=True,
        turns_summarized=keep_from - 1,
        model=result.response.model,
        usage=result.response.usage,
        cost_usd=result.cost_usd,
        through_turn=keep_from - 1,
        summary=summary,
    )


def _render(messages: Sequence[Message]) -> str:
    lines: list[str] = []
    for message in messages:
        if isinstance(message, AssistantMessage):
            for call in message.tool_calls:
                lines.append(f"called {call.name} {orjson.dumps(call.arguments).decode()}")
            if message.text:
                lines.append(f"said: {message.text}")
        elif isinstance(message, ToolMessage):
            lines.append(f"{message.name} returned: {message.content[:2000]}")
        elif is_summary(message):
            lines.append(f"earlier summary: {message.content.removeprefix(SUMMARY_PREFIX)}")
    return "\n".join(lines)


def expand_tool(store: Store, keys: EvidenceKeys | None = None) -> Tool:
    """``context.expand``: the full result of an earlier call that was shortened, as the
    model first saw it (its sealed raw values opened with ``keys``)."""

    async def expand(ctx: ToolContext, ref: str) -> Any:
        """Return the full result of an earlier tool call whose result was shortened.

        Args:
            ref: The ``ref`` given in the shortened result.
        """
        rows = await store.events(ctx.run_id)
        key = await run_key_of(store, keys, ctx.run_id)
        for event in reversed(opened_events(ctx.run_id, rows, key, "expand a result of")):
            data = event.data
            if isinstance(data, ToolFinished) and data.call_id == ref:
                return data.result if data.ok else {"error": data.error}
        raise ValueError(f"no earlier tool result has ref {ref!r}")

    return Tool.from_function(expand, name=EXPAND_TOOL, effect="read", idempotent=True)
