"""``/api/v1/runs/{run_id}/turns``: what the model saw at each turn, rebuilt from the log.

The context is the runtime's own transcript folded over the stored (redacted) events, so
a compacted run shows the summary and shortened results the model was sent. Sealed raw
values are not opened: the server shows the record, as every other read does.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from proctor.errors import NotFoundError
from proctor.runtime import (
    ContextMessage,
    RunContexts,
    TurnCompaction,
    TurnContext,
    build_contexts,
)
from proctor.server._api_deps import Auth, RunId, Svc, errors

router = APIRouter(prefix="/api/v1/runs", tags=["runs"])

TurnNumber = Annotated[int, Path(ge=1, le=2**31 - 1, description="The model turn (1, 2, ...).")]


class ToolCallOut(BaseModel):
    id: str
    name: str
    arguments: dict[str, Any]


class MessageOut(BaseModel):
    role: Literal["system", "user", "assistant", "tool"]
    kind: Literal["instructions", "input", "summary", "note", "assistant", "result", "shortened"]
    text: str | None = Field(
        description="The message's text as recorded (redacted); a tool result is its JSON."
    )
    tool_calls: list[ToolCallOut] = Field(description="The calls an assistant message proposed.")
    call_id: str | None = Field(description="The call a tool result answers.")
    name: str | None = Field(description="The tool a result came from.")
    tokens: int = Field(description="Estimated tokens, framing included.")
    turn: int = Field(description="The model turn it belongs to (0: instructions, input).")
    seq: int = Field(description="The event it was rebuilt from.")
    purged: bool = Field(description="Its event's payload was purged under retention.")

    @classmethod
    def of(cls, message: ContextMessage) -> MessageOut:
        return cls(
            role=message.role,
            kind=message.kind,
            text=message.text,
            tool_calls=[
                ToolCallOut(id=c.id, name=c.name, arguments=c.arguments) for c in message.tool_calls
            ],
            call_id=message.call_id,
            name=message.name,
            tokens=message.tokens,
            turn=message.turn,
            seq=message.seq,
            purged=message.purged,
        )


class CompactionOut(BaseModel):
    seq: int
    through_turn: int = Field(description="Turns up to this one became a summary (0: none).")
    results_replaced: int
    tokens_before: int
    tokens_after: int

    @classmethod
    def of(cls, compaction: TurnCompaction) -> CompactionOut:
        return cls(
            seq=compaction.seq,
            through_turn=compaction.through_turn,
            results_replaced=compaction.results_replaced,
            tokens_before=compaction.tokens_before,
            tokens_after=compaction.tokens_after,
        )


class TurnOut(BaseModel):
    turn: int
    seq: int = Field(description="Its model_called event.")
    model: str
    input_tokens: int = Field(description="Prompt tokens, as the provider counted them.")
    output_tokens: int
    cached_input_tokens: int
    reasoning_tokens: int
    context_tokens: int = Field(
        description="Estimated tokens of the context's messages (tool specs not included)."
    )
    cost_usd: float | None
    latency_ms: float
    cache_hit: bool
    finish_reason: str
    compactions: list[CompactionOut] = Field(description="Compactions since the previous turn.")
    as_sent: bool | None = Field(
        description="true: the rebuilt messages hash to the digest recorded with the turn, "
        "so they are exactly what the model was sent; false: they differ (redaction replaced "
        "values in the record, retention purged a payload, or the store secret changed); "
        "null: not checked (the server cannot read the store secret)."
    )

    @classmethod
    def of(cls, turn: TurnContext) -> TurnOut:
        return cls(
            turn=turn.turn,
            seq=turn.seq,
            model=turn.model,
            input_tokens=turn.usage.input_tokens,
            output_tokens=turn.usage.output_tokens,
            cached_input_tokens=turn.usage.cached_input_tokens,
            reasoning_tokens=turn.usage.reasoning_tokens,
            context_tokens=turn.tokens,
            cost_usd=turn.cost_usd,
            latency_ms=turn.latency_ms,
            cache_hit=turn.cache_hit,
            finish_reason=turn.finish_reason,
            compactions=[CompactionOut.of(c) for c in turn.compactions],
            as_sent=turn.as_sent,
        )


class TurnIndexOut(TurnOut):
    context: list[int] = Field(description="Indexes into messages, in the order they were sent.")
    answer: int = Field(description="The index of the reply in messages.")


class RunTurns(BaseModel):
    run_id: str
    messages: list[MessageOut] = Field(
        description="Every message of every turn, once: turns name theirs by index."
    )
    turns: list[TurnIndexOut]

    @classmethod
    def of(cls, run_id: str, found: RunContexts) -> RunTurns:
        return cls(
            run_id=run_id,
            messages=[MessageOut.of(m) for m in found.messages],
            turns=[
                TurnIndexOut(**TurnOut.of(t).model_dump(), context=list(t.context), answer=t.answer)
                for t in found.turns
            ],
        )


class TurnContextOut(TurnOut):
    run_id: str
    messages: list[MessageOut] = Field(description="What the model was sent, in order.")
    answer: MessageOut = Field(description="What it answered.")


@router.get("/{run_id}/turns", responses=errors(404))
async def run_turns(run_id: RunId, principal: Auth, service: Svc) -> RunTurns:
    """Every model turn with the context it saw, rebuilt from the log in one pass
    (redacted as recorded; a compacted run shows what compaction left). Each message is
    listed once; a turn's ``context`` gives the indexes of the messages it was sent."""
    rows = await service.events(principal, run_id)
    return RunTurns.of(run_id, build_contexts(rows, key=service.transcript_key()))


@router.get("/{run_id}/turns/{turn}/context", responses=errors(404))
async def turn_context(
    run_id: RunId, turn: TurnNumber, principal: Auth, service: Svc
) -> TurnContextOut:
    """One model turn: the messages it was sent, in order, and what it answered, with
    token counts (redacted as recorded; after a compaction, the compacted context)."""
    rows = await service.events(principal, run_id)
    found = build_contexts(rows, through_turn=turn, key=service.transcript_key())
    chosen = found.turn(turn)
    if chosen is None:
        count = len(found.turns)
        raise NotFoundError(
            f"run {run_id} has no model turn {turn}: it has {count} (ask for 1 to {count})"
            if count
            else f"run {run_id} has no model turn yet"
        )
    return TurnContextOut(
        **TurnOut.of(chosen).model_dump(),
        run_id=run_id,
        messages=[MessageOut.of(m) for m in found.context_of(chosen)],
        answer=MessageOut.of(found.messages[chosen.answer]),
    )
