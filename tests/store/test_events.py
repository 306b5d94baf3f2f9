"""Event types, their content/metadata split, and canonical JSON."""

from __future__ import annotations

import dataclasses
import hashlib
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proctor.store import (
    EVENT_TYPES,
    GENESIS_HASH,
    AnswerRefused,
    ApprovalDecided,
    ApprovalExpired,
    ApprovalRequested,
    CacheHit,
    CheckerDecided,
    ContextCompacted,
    CredentialIssued,
    DraftRecorded,
    Escalated,
    EventData,
    LimitReached,
    ModelAttemptFailed,
    ModelCalled,
    ModelRouted,
    PolicyDecided,
    Purged,
    RateLimited,
    RecordedToolCall,
    RunFinished,
    RunInterrupted,
    RunJournal,
    RunResumed,
    RunStarted,
    Store,
    ToolFinished,
    ToolProposed,
    ToolStarted,
    Totals,
    Usage,
    ValuesSeen,
    canonical_json,
    chain_hash,
    digest,
    row_to_event,
)
from support.json_strategies import json_objects

# One sample of every event type, with every content field set to a non-default value,
# so a purge visibly resets it.
SAMPLES: list[EventData] = [
    RunStarted(
        workflow="invoices",
        model="scripted",
        contract_name="invoice-reconciliation",
        contract_version="1",
        contract_hash="c" * 64,
        input={"po_number": "PO-1001", "vendor": "ACME"},
        instructions="Reconcile the invoice against its purchase order.",
    ),
    RunResumed(reason="worker restarted", pid=4242),
    RunInterrupted(reason="the process driving the run was stopped", pid=4241),
    ModelCalled(
        model="scripted",
        turn=1,
        messages_digest="m" * 64,
        usage=Usage(input_tokens=120, output_tokens=30),
        cost_usd=0.0021,
        latency_ms=12.5,
        finish_reason="tool_calls",
        tool_call_count=1,
        text="Fetching the purchase order.",
        tool_calls=[RecordedToolCall(id="c1", name="erp.fetch_po", arguments={"po": "PO-1001"})],
    ),
    ToolProposed(
        call_id="c1",
        step=1,
        tool="erp.fetch_po",
        args_digest="a" * 64,
        arguments={"po": "PO-1001"},
        raw_arguments='{"po": "PO-1001"}',
    ),
    PolicyDecided(call_id="c1", tool="erp.fetch_po", decision="allow", rule="allow", reason="ok"),
    ApprovalRequested(
        approval_id="ap-1",
        call_id="c2",
        tool="erp.pay",
        args_digest="b" * 64,
        rule="approvals.large_payment",
        reason="amount over 10000",
        arguments={"amount": 12000},
    ),
    ApprovalDecided(approval_id="ap-1", call_id="c2", approved=True, decided_by="alice"),
    ToolStarted(call_id="c1", tool="erp.fetch_po", idempotency_key="run-1:1"),
    ToolFinished(
        call_id="c1",
        tool="erp.fetch_po",
        ok=False,
        latency_ms=3.25,
        error_type="TimeoutError",
        result={"partial": True},
        error="the ERP did not answer",
    ),
    DraftRecorded(call_id="c3", tool="email.send", arguments={"to": "ap@example.com"}),
    LimitReached(
        limit="tool_calls",
        value=11,
        ceiling=10,
        rule="limits.max_tool_calls",
        reason="11 tool calls, the contract allows 10",
    ),
    Escalated(trigger="policy_violation", mode="draft_only", rule="deny.pay", reason="denied"),
    RunFinished(
        outcome="resolved",
        reason="final answer",
        totals=Totals(tool_calls=3, model_calls=2, input_tokens=200, output_tokens=50),
        final_text="The invoice matches PO-1001.",
    ),
    ModelRouted(from_route="small", to_route="large", trigger="high_risk", reason="risky call"),
    ModelAttemptFailed(
        deployment="small",
        model="gpt-4o-mini",
        attempt=1,
        kind="rate_limited",
        action="retry",
        status=429,
        retry_after_s=2.0,
        backoff_s=2.0,
        latency_ms=12.5,
        error="429 Too Many Requests",
    ),
    CacheHit(kind="response", name="small", key="k" * 64, cost_saved_usd=0.0012, tokens_saved=900),
    RateLimited(scope="deployment:small", limit="rpm", waited_ms=250.0, outcome="waited"),
    ContextCompacted(
        tokens_before=14000,
        tokens_after=6000,
        estimated=True,
        turns_summarized=4,
        model="small",
        usage=Usage(input_tokens=3000, output_tokens=120),
        cost_usd=0.0005,
        through_turn=4,
        replaced_calls=["c1"],
        summary="Looked up V-1001 and PO-4711; amounts match.",
    ),
    CredentialIssued(
        call_id="c2",
        tool="erp.pay",
        jti="j" * 16,
        actions=["payment.create"],
        limits={"max_amount": 10000.0},
        issued_at=1_700_000_000.0,
        expires_at=1_700_000_060.0,
        resources=["vendor:V-1001"],
    ),
    CheckerDecided(
        approval_id="ap_1",
        call_id="c2",
        model="gpt-4o",
        approved=False,
        valid=True,
        reason="The bank account differs from the vendor master data.",
        usage=Usage(input_tokens=900, output_tokens=30),
        cost_usd=0.0025,
        latency_ms=850.0,
    ),
    ApprovalExpired(approval_id="ap_1", call_id="c2", expired_at=1_700_086_400.0),
    AnswerRefused(rule="final.links", reason="the answer links to a site the agent read"),
    ValuesSeen(source="email.read", call_id="c1", trusted=["0a1b"], untrusted=["2c3d"]),
    Purged(events=4, bytes=1200, reason="retention_days 30 passed"),
]


def _id(data: EventData) -> str:
    return data.type


def test_samples_cover_every_event_type() -> None:
    assert [type(sample) for sample in SAMPLES] == list(EVENT_TYPES)
    tags = [sample.type for sample in SAMPLES]
    assert len(set(tags)) == len(tags)


@pytest.mark.parametrize("event_type", EVENT_TYPES, ids=lambda t: t.__name__)
def test_content_fields_are_real_fields_with_defaults(event_type: type[Any]) -> None:
    fields = event_type.model_fields
    assert event_type.content_fields <= set(fields)
    assert "type" not in event_type.content_fields
    for name in event_type.content_fields:
        assert not fields[name].is_required(), f"{event_type.__name__}.{name} needs a default"


@pytest.mark.parametrize("data", SAMPLES, ids=_id)
async def test_rows_split_content_from_metadata(store: Store, data: EventData) -> None:
    journal = RunJournal(store, run_id="run-1", trace_id="t" * 32, root_span_id="root")
    row, event = journal.build(data, ts=1000.0)

    content_fields = type(data).content_fields
    assert row.content is not None
    assert set(row.content) == content_fields
    assert not set(row.meta) & content_fields
    assert row.meta["type"] == row.type == data.type
    assert row.content_digest == digest(row.content)
    assert event.data == data
    assert row_to_event(row).data == data


@pytest.mark.parametrize("data", SAMPLES, ids=_id)
async def test_purged_events_decode_with_content_defaults(store: Store, data: EventData) -> None:
    journal = RunJournal(store, run_id="run-1", trace_id="t" * 32, root_span_id="root")
    row, _ = journal.build(data, ts=1000.0)
    purged = dataclasses.replace(row, content=None)

    event = row_to_event(purged)

    assert event.purged
    assert not row_to_event(row).purged
    assert type(event.data) is type(data)
    fields = type(data).model_fields
    for name in fields:
        value = getattr(event.data, name)
        if name in type(data).content_fields:
            assert value == fields[name].get_default(call_default_factory=True), name
            assert value != getattr(data, name), f"sample {data.type}.{name} is its default"
        else:
            assert value == getattr(data, name), name


async def test_unknown_fields_from_later_versions_are_ignored(store: Store) -> None:
    journal = RunJournal(store, run_id="run-1", trace_id="t" * 32, root_span_id="root")
    row, _ = journal.build(SAMPLES[4], ts=1000.0)
    newer = dataclasses.replace(row, meta={**row.meta, "added_in_v9": [1, 2]})

    assert row_to_event(newer).data == SAMPLES[4]


# Canonical JSON ------------------------------------------------------------------------


def test_canonical_json_sorts_keys_at_every_level_without_whitespace() -> None:
    left = {"b": 1, "a": {"d": [2, {"z": None, "y": True}], "c": "é"}}
    right = {"a": {"c": "é", "d": [2, {"y": True, "z": None}]}, "b": 1}

    assert canonical_json(left) == canonical_json(right)
    assert canonical_json(left) == '{"a":{"c":"é","d":[2,{"y":true,"z":null}]},"b":1}'.encode()


def test_list_order_is_significant() -> None:
    assert canonical_json([1, 2]) != canonical_json([2, 1])
    assert digest({"a": [1, 2]}) != digest({"a": [2, 1]})


def test_digest_is_sha256_of_canonical_json_and_stable() -> None:
    value = {"po": "PO-1001", "amount": 12000.5}

    assert digest(value) == hashlib.sha256(b'{"amount":12000.5,"po":"PO-1001"}').hexdigest()
    # Pinned: a change to the canonical form would break every stored chain.
    assert digest(value) == "464b843049eb4448646e3e12d172fe706869edb3dc34483d68f63e9bc4988f8f"


def test_chain_hash_follows_the_design() -> None:
    metadata = {"seq": 0, "type": "run_started"}
    expected = hashlib.sha256(GENESIS_HASH.encode() + b'{"seq":0,"type":"run_started"}')

    assert GENESIS_HASH == "0" * 64
    assert chain_hash(GENESIS_HASH, metadata) == expected.hexdigest()
    assert chain_hash("1" * 64, metadata) != chain_hash(GENESIS_HASH, metadata)


def reordered(value: Any, rnd: random.Random) -> Any:
    """The same JSON value with the keys of every object in a different insertion order."""
    if isinstance(value, dict):
        items = list(value.items())
        rnd.shuffle(items)
        return {key: reordered(item, rnd) for key, item in items}
    if isinstance(value, list):
        return [reordered(item, rnd) for item in value]
    return value


@settings(deadline=None)  # a shared, slow VM: never assert timing
@given(value=json_objects, rnd=st.randoms(use_true_random=False))
def test_canonical_json_ignores_key_order(value: dict[str, Any], rnd: random.Random) -> None:
    shuffled = reordered(value, rnd)

    assert canonical_json(shuffled) == canonical_json(value)
    assert digest(shuffled) == digest(value)
