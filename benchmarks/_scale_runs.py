"""The runs ``seed_scale.py`` writes: each one's summary row, its keyed and signed event
log, and its pending approval, as the runtime would have recorded them.

Events are JSON-ready dicts in each event type's field order (what ``RunJournal.build``
stores), chained with the store's own functions: ``EventRow.hashed_metadata`` and
``standard_chain_hash`` (RFC 8785 hashes, as keyed chains are), ``EvidenceKeys
.content_digest`` for each payload, and ``RunJournal.authenticate`` closing each commit
(a MAC on its last event, an Ed25519 signature when it decides: an approval asked for, the
run's end). Building typed events through ``RunJournal.build`` costs about 25 µs an event,
more than 8 minutes for 20 million on one core; the dicts cost a third of that.
``check_against_journal`` rebuilds a run through ``RunJournal.build`` from typed event
data and compares every row, so the two ways cannot drift apart.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import orjson
from _scale_flows import FLOW_WEIGHTS, FLOWS, MODELS, RARE_WORD, SESSION_FLOW, WORDS

from proctor.store import (
    ApprovalRecord,
    EventRow,
    EvidenceKeys,
    RunJournal,
    RunRecord,
    Store,
    canonical_json,
    digest,
    keyed_digest,
    standard_chain_hash,
)
from proctor.store._canonical import GENESIS_HASH
from proctor.store._events import EVENT_DATA_ADAPTER, EVENT_TYPES
from proctor.store._jcs import ordinary_fields, ordinary_float
from proctor.store._journal import _float_fields
from proctor.store._rows import approval_params, event_params, run_params
from proctor.store._run_query import summary_answer, summary_input, summary_tools

EMPTY_DIGEST = digest({})  # what the journal records for an event without content

# The metadata fields of each event type that may hold a float, as the journal finds them
# for data whose values have their declared types (as these dicts' do).
FLOAT_FIELDS = {
    kind.model_fields["type"].default: _float_fields(kind, True) for kind in EVENT_TYPES
}


@dataclass
class Seeded:
    """One run as the store's rows: ``runs``, ``events`` and (if it waits) ``approvals``."""

    run: tuple[Any, ...]
    events: list[tuple[Any, ...]]
    approval: tuple[Any, ...] | None
    rows: list[EventRow]
    record: RunRecord


Item = tuple[str, dict[str, Any], dict[str, Any], str, float, bool]
"""An event to chain: type, metadata, content, span id, time, and whether its commit ends."""


class RunMaker:
    """Makes seeded runs with the store's keys (``keys``) and secret (``secret``)."""

    def __init__(self, keys: EvidenceKeys, secret: bytes, rng: random.Random) -> None:
        self.keys = keys
        self.secret = secret
        self.rng = rng
        # ``authenticate`` reads the journal's keys only: one journal closes every commit.
        self.closer = RunJournal(cast(Store, None), run_id="", trace_id="", root_span_id="")
        self.closer.keys = keys

    def hex(self, digits: int) -> str:
        return f"{self.rng.getrandbits(digits * 4):0{digits}x}"

    def make(
        self,
        *,
        run_id: str,
        started: float,
        tenant: str,
        session: str | None,
        per_run: int,
        outcome: str,
        rare: bool,
    ) -> Seeded:
        rng = self.rng
        flow = SESSION_FLOW if session else rng.choices(FLOWS, cum_weights=FLOW_WEIGHTS)[0]
        model, price_in, price_out = rng.choice(MODELS)
        subject = f"{flow.key[0].upper()}-{rng.randrange(1000, 99999)}"
        reference = f"REF-{rng.randrange(10**7):07d}"
        amount = round(rng.uniform(20, 40_000), 2)
        text = " ".join(rng.choices(WORDS, k=30)) + (f" {RARE_WORD}" if rare else "")
        given = {flow.key: subject, "reference": reference, "request_text": text}
        root, trace_id = self.hex(16), self.hex(32)
        person = rng.choice(("api:alice", "api:bob", "cli:carol", "api:ci-bot"))
        clock = [started]

        def at(seconds: float) -> float:
            clock[0] += seconds
            return clock[0]

        meta_started: dict[str, Any] = {
            "type": "run_started",
            "workflow": flow.name,
            "model": model,
            "contract_name": flow.contract.workflow,
            "contract_version": flow.contract.version,
            "contract_hash": flow.contract.content_hash,
            "contract_description": flow.contract.body.get("description", ""),
            "tool_descriptions": dict(flow.tools),
            "started_by": person,
            "tenant": tenant,
            "workflow_ref": flow.name,
        }
        if session is not None:
            meta_started["session"] = session
        items: list[Item] = [
            (
                "run_started",
                meta_started,
                {"input": given, "instructions": flow.instructions},
                root,
                started,
                True,
            )
        ]
        tail = {"resolved": 2, "escalated": 5, "failed": 6, "awaiting_approval": 4}[outcome]
        body = per_run - 1 - tail
        steps, extra = divmod(body, 5)
        if extra > 2 * steps:
            raise ValueError(f"{per_run} events per run is too few for a {outcome} run")
        usage = [0, 0]
        costs: list[float | None] = []
        proposed: list[str] = []

        def model_called(turn: int, calls: list[dict[str, Any]], answer: str | None) -> None:
            tokens_in = 600 + 120 * turn + rng.randrange(400)
            tokens_out = 15 + rng.randrange(60) if calls else 40 + rng.randrange(120)
            usage[0] += tokens_in
            usage[1] += tokens_out
            cost = (
                None
                if price_in is None
                else round((tokens_in * price_in + tokens_out * price_out) / 1e6, 8)
            )
            costs.append(cost)
            latency = round(rng.uniform(250, 2500), 3)
            meta: dict[str, Any] = {
                "type": "model_called",
                "model": model,
                "turn": turn,
                "messages_digest": self.hex(64),
                "usage": {
                    "input_tokens": tokens_in,
                    "output_tokens": tokens_out,
                    "cached_input_tokens": 0,
                    "cache_write_tokens": 0,
                    "reasoning_tokens": 0,
                },
                "cost_usd": cost,
                "latency_ms": latency,
                "cache_hit": False,
                "finish_reason": "tool_calls" if calls else "stop",
                "tool_call_count": len(calls),
                "response_id": None,
                "max_tokens": None,
                "temperature": None,
            }
            ts = at(latency / 1000)
            items.append(
                (
                    "model_called",
                    meta,
                    {"text": answer, "tool_calls": calls},
                    self.hex(16),
                    ts,
                    False,
                )
            )

        def propose(step: int, tool: str, arguments: dict[str, Any]) -> str:
            call_id = f"call_{step}_0"
            call = {"id": call_id, "name": tool, "arguments": arguments, "raw_arguments": None}
            model_called(step + 1, [call], None)
            proposed.append(tool)
            meta = {
                "type": "tool_proposed",
                "call_id": call_id,
                "step": step,
                "tool": tool,
                "args_digest": keyed_digest(self.secret, {"tool": tool, "arguments": arguments}),
            }
            content = {"arguments": arguments, "raw_arguments": None}
            items.append(("tool_proposed", meta, content, call_id, at(0.0003), False))
            return call_id

        def decided(call_id: str, tool: str, decision: str, rule: str, reason: str) -> None:
            meta = {
                "type": "policy_decided",
                "call_id": call_id,
                "tool": tool,
                "decision": decision,
                "rule": rule,
                "reason": reason,
                "invalid_arguments": False,
            }
            items.append(("policy_decided", meta, {}, call_id, at(0.0002), False))

        def run_tool(call_id: str, step: int, tool: str, ok: bool) -> None:
            meta: dict[str, Any] = {
                "type": "tool_started",
                "call_id": call_id,
                "tool": tool,
                "idempotency_key": f"{run_id}:{step}",
                "attempt": 1,
            }
            items.append(("tool_started", meta, {}, call_id, at(0.0002), True))
            latency = round(rng.uniform(8, 800), 3)
            meta = {
                "type": "tool_finished",
                "call_id": call_id,
                "tool": tool,
                "ok": ok,
                "latency_ms": latency,
                "error_type": None if ok else "TimeoutError",
            }
            result = (
                {"id": subject, "reference": reference, "status": "ok", "amount": amount}
                if ok
                else None
            )
            error = None if ok else f"{tool} did not answer within 30 s"
            ts = at(latency / 1000)
            items.append(
                ("tool_finished", meta, {"result": result, "error": error}, call_id, ts, False)
            )

        def extra_event(kind: str, call_id: str, tool: str) -> None:
            if kind == "credential_issued":
                now = clock[0]
                meta = {
                    "type": "credential_issued",
                    "call_id": call_id,
                    "tool": tool,
                    "jti": self.hex(16),
                    "actions": [tool.split(".")[-1]],
                    "limits": {},
                    "issued_at": now,
                    "expires_at": now + 60.5,
                }
                content: dict[str, Any] = {"resources": [f"{flow.key}:{subject}"]}
            else:
                meta = {
                    "type": "values_seen",
                    "source": tool,
                    "call_id": call_id,
                    "trusted": [self.hex(16), self.hex(16)],
                    "untrusted": [],
                }
                content = {}
            items.append((kind, meta, content, call_id, at(0.0002), False))

        tools = [name for name, _ in flow.tools]
        arguments = {flow.key: subject, "reference": reference}
        for step in range(steps):
            tool = tools[step % (len(tools) - 1)]
            call_id = propose(step, tool, arguments)
            decided(call_id, tool, "allow", "default.allow", "allowed by the contract")
            if step < extra:
                extra_event("credential_issued", call_id, tool)
            run_tool(call_id, step, tool, ok=True)
            if step + steps < extra:
                extra_event("values_seen", call_id, tool)
        gated = tools[-1]
        gated_args = {**arguments, "amount": amount}
        approval: ApprovalRecord | None = None
        final_text: str | None = None
        reason = ""
        if outcome == "resolved":
            final_text = (
                f"Done: {gated} for {subject} ({reference}), {amount:,.2f} EUR. {text[:60]}"
            )
            model_called(steps + 1, [], final_text)
            reason = "the model gave its final answer"
        elif outcome == "escalated":
            call_id = propose(steps, gated, gated_args)
            reason = f"{gated} needs {tools[0]} to succeed earlier in the run"
            rule = f"ordering.{gated}"
            decided(call_id, gated, "deny", rule, reason)
            meta: dict[str, Any] = {
                "type": "escalated",
                "trigger": "policy_violation",
                "mode": "handoff",
                "rule": rule,
                "reason": reason,
            }
            items.append(("escalated", meta, {}, self.hex(16), at(0.0002), False))
        elif outcome == "failed":
            call_id = propose(steps, gated, gated_args)
            decided(call_id, gated, "allow", "default.allow", "allowed by the contract")
            run_tool(call_id, steps, gated, ok=False)
            reason = f"{gated} failed: TimeoutError"
        else:
            call_id = propose(steps, gated, gated_args)
            rule = f"approval.{gated}"
            reason = f"{gated} over 10,000 needs a human approver. (args.amount > 10000)"
            decided(call_id, gated, "require_approval", rule, reason)
            approval_id = "ap_" + self.hex(12)
            ts = at(0.0003)
            meta = {
                "type": "approval_requested",
                "approval_id": approval_id,
                "call_id": call_id,
                "tool": gated,
                "args_digest": items[-2][1]["args_digest"],
                "rule": rule,
                "reason": reason,
                "by": "human",
                "expires_at": None,
            }
            items.append(("approval_requested", meta, {"arguments": gated_args}, call_id, ts, True))
            approval = ApprovalRecord(
                approval_id=approval_id,
                run_id=run_id,
                call_id=call_id,
                tool=gated,
                args_digest=meta["args_digest"],
                arguments=gated_args,
                rule=rule,
                reason=reason,
                requested_at=ts,
            )
        cost = None if None in costs else round(sum(c or 0.0 for c in costs), 8)
        finished = outcome != "awaiting_approval"
        duration = round(clock[0] + (0.0004 if finished else 0.0) - started, 4)
        if finished:
            totals = {
                "tool_calls": len(proposed),
                "model_calls": len(costs),
                "input_tokens": usage[0],
                "output_tokens": usage[1],
                "cost_usd": cost,
                "duration_s": duration,
            }
            meta = {"type": "run_finished", "outcome": outcome, "reason": reason, "totals": totals}
            ts = at(0.0004)
            items.append(("run_finished", meta, {"final_text": final_text}, self.hex(16), ts, True))
        rows = self.chain(run_id, trace_id, root, items)
        record = RunRecord(
            run_id=run_id,
            workflow=flow.name,
            model=model,
            contract_name=flow.contract.workflow,
            contract_hash=flow.contract.content_hash,
            trace_id=trace_id,
            started_at=started,
            status="finished" if finished else "awaiting_approval",
            outcome=cast(Any, outcome) if finished else None,
            updated_at=rows[-1].ts,
            finished_at=rows[-1].ts if finished else None,
            tool_calls=len(proposed),
            model_calls=len(costs),
            input_tokens=usage[0],
            output_tokens=usage[1],
            cost_usd=cost,
            duration_s=duration,
            last_seq=rows[-1].seq,
            head_hash=rows[-1].hash,
            owner="worker-7:4242",
            workflow_ref=flow.name,
            tenant=tenant,
            started_by=person,
            session=session,
            input_text=summary_input(given),
            answer_text=summary_answer(final_text),
            tools_used=summary_tools(proposed),
        )
        return Seeded(
            run=run_params(record),
            events=[event_params(row) for row in rows],
            approval=None if approval is None else approval_params(approval),
            rows=rows,
            record=record,
        )

    def chain(self, run_id: str, trace_id: str, root: str, items: list[Item]) -> list[EventRow]:
        """``items`` as the journal would seal them: hashed, digested, each commit closed."""
        keys = self.keys
        rows: list[EventRow] = []
        prev = GENESIS_HASH
        opened = 0
        for seq, (kind, meta, content, span, ts, ends) in enumerate(items):
            row = EventRow(
                run_id=run_id,
                seq=seq,
                type=kind,
                ts=ts,
                trace_id=trace_id,
                span_id=root if seq == 0 else span,
                parent_span_id=None if seq == 0 else root,
                meta=meta,
                content=content,
                content_digest=keys.content_digest(canonical_json(content))
                if content
                else EMPTY_DIGEST,
                prev_hash=prev,
                hash="",
            )
            row.meta_json = orjson.dumps(meta)
            row.content_json = orjson.dumps(content) if content else None
            # The journal's own test of whether orjson writes the fields as RFC 8785 does.
            plain = ordinary_float(ts) and ordinary_fields(meta, FLOAT_FIELDS[kind])
            row.hash = prev = standard_chain_hash(prev, row.hashed_metadata(), plain=plain)
            rows.append(row)
            if ends:
                self.closer.authenticate(rows[opened:])
                opened = seq + 1
        return rows


def check_against_journal(seeded: Seeded, keys: EvidenceKeys) -> str | None:
    """Rebuild ``seeded``'s log through ``RunJournal.build`` from typed event data; the
    first difference from the seeded rows, or ``None``."""
    first = seeded.rows[0]
    journal = RunJournal(
        cast(Store, None),
        run_id=first.run_id,
        trace_id=first.trace_id,
        root_span_id=first.span_id,
        keys=keys,
    )
    built: list[EventRow] = []
    opened = 0
    for row in seeded.rows:
        data = EVENT_DATA_ADAPTER.validate_python({**row.meta, **(row.content or {})})
        again, _ = journal.build(data, span_id=row.span_id, ts=row.ts)
        built.append(again)
        if row.mac:
            journal.authenticate(built[opened:])
            opened = row.seq + 1
    fields: list[tuple[str, Callable[[EventRow], Any]]] = [
        ("meta", lambda r: r.meta),
        ("content", lambda r: r.content),
        ("content digest", lambda r: r.content_digest),
        ("hash", lambda r: r.hash),
        ("MAC", lambda r: r.mac),
        ("signature", lambda r: r.signature),
    ]
    for mine, theirs in zip(seeded.rows, built, strict=True):
        for name, get in fields:
            if get(mine) != get(theirs):
                return f"event {mine.seq} ({mine.type}) of {mine.run_id}: its {name} differs"
    return None
