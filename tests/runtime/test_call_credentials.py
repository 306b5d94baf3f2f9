"""Credentials in the loop: issued per scoped call, recorded without the token, refusals denied."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest

from proctor.contracts import Contract
from proctor.gateway import Gateway, Message, ScriptedModel, ToolMessage, Turn
from proctor.gateway._cache import MemoryCache
from proctor.policy import Credential
from proctor.runtime import Runner, RunResult, Workflow
from proctor.runtime._credentials import scrub
from proctor.store import (
    CredentialIssued,
    Escalated,
    Event,
    EventRow,
    PolicyDecided,
    RunFilter,
    SQLiteStore,
    ToolFinished,
    row_to_event,
    verify_run,
)
from proctor.tools import NoCredential, Registry, ToolContext, ToolCredential, tool
from support.credentials import RecordingIssuer

SEEN: list[ToolCredential] = []
REFUNDS: list[tuple[str, float]] = []


@tool("billing.refund", effect="write", risk="high", idempotent=True)
def refund(ctx: ToolContext, customer: str, amount: float) -> dict[str, Any]:
    """Refund a customer, within the call's credential."""
    SEEN.append(ctx.credential)
    ctx.credential.require("refund.create", resource=f"customer:{customer}", amount=amount)
    REFUNDS.append((customer, amount))
    return {"refunded": amount}


@tool("crm.lookup", idempotent=True)
def lookup(ctx: ToolContext, customer: str) -> dict[str, Any]:
    """A read without scopes that does not check its credential."""
    SEEN.append(ctx.credential)
    return {"customer": customer}


@tool("crm.peek", idempotent=True)
def peek(ctx: ToolContext, customer: str) -> dict[str, Any]:
    """A read without scopes that checks its credential anyway."""
    ctx.credential.require("crm.read", resource=f"customer:{customer}")
    return {"customer": customer}


@tool("billing.leak", effect="write", idempotent=True)
def leak(ctx: ToolContext, how: str) -> dict[str, Any]:
    """A careless tool that hands its token back."""
    token = ctx.credential.token or ""
    if how == "raise":
        raise RuntimeError(f"upstream refused Bearer {token}")
    return {"auth": f"Bearer {token}", "nested": [{token: token}]}


@tool("pricing.quote", idempotent=True, cacheable=True)
def quote(ctx: ToolContext, sku: str) -> dict[str, Any]:
    """A cacheable read with scopes."""
    ctx.credential.require("price.read", resource=f"sku:{sku}")
    SEEN.append(ctx.credential)
    return {"sku": sku, "price": 9.5}


REGISTRY = Registry([refund, lookup, peek, leak, quote])
SCOPES: dict[str, Any] = {
    "billing.refund": {
        "actions": ["refund.create"],
        "resources": ["customer:{input.customer}"],
        "limits": {"max_amount": 100},
    },
    "billing.leak": {"actions": ["x"]},
    "pricing.quote": {"actions": ["price.read"], "resources": ["sku:*"]},
}


def workflow(
    script: Sequence[Turn] | Callable[[Sequence[Message]], Turn], **changes: Any
) -> Workflow:
    terms: dict[str, Any] = {
        "workflow": "refunds",
        "limits": {"max_tool_calls": 6, "max_model_calls": 8},
        "credentials": {"tools": SCOPES},
        "escalation": {"on_policy_violation": "handoff"},
    }
    terms.update(changes)
    turns = script if callable(script) else list(script)
    return Workflow(
        name="refunds",
        registry=REGISTRY,
        contract=Contract.model_validate(terms),
        instructions="Handle the refund.",
        default_model="scripted:test",
        scripts={"test": lambda: ScriptedModel(scenario="test", script=turns)},
    )


def refund_turns(customer: str = "C-1", amount: float = 50.0) -> list[Turn]:
    return [
        Turn(calls=[("billing.refund", {"customer": customer, "amount": amount})]),
        Turn(text="done"),
    ]


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    SEEN.clear()
    REFUNDS.clear()
    store = SQLiteStore(tmp_path / "runs.db")
    yield store
    await store.close()


@pytest.fixture
def issuer() -> RecordingIssuer:
    return RecordingIssuer()


async def events_of(store: SQLiteStore, result: RunResult) -> list[Event]:
    return [row_to_event(row) for row in await store.events(result.run_id)]


def types(events: list[Event]) -> list[str]:
    return [event.type for event in events]


def decisions(events: list[Event]) -> list[tuple[str, str]]:
    return [(e.data.decision, e.data.rule) for e in events if isinstance(e.data, PolicyDecided)]


def assert_no_token(tokens: list[str], rows: list[EventRow]) -> None:
    assert tokens
    stored = orjson.dumps([[row.meta, row.content] for row in rows]).decode()
    for token in tokens:
        assert token not in stored
        # Nor any of its three parts (a token cut at its dots is still a leak).
        for part in token.split("."):
            assert part not in stored


# --- issued and recorded -----------------------------------------------------------------


async def test_a_scoped_call_gets_a_credential_for_this_run_and_call_only(
    db: SQLiteStore, issuer: RecordingIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches: list[list[str]] = []
    append = db.append

    async def recording_append(rows: list[EventRow], **kwargs: Any) -> None:
        batches.append([row.type for row in rows])
        await append(rows, **kwargs)

    monkeypatch.setattr(db, "append", recording_append)
    runner = Runner(db, workflow(refund_turns()), issuer=issuer)
    result = await runner.start({"customer": "C-1"})

    assert result.outcome == "resolved"
    assert REFUNDS == [("C-1", 50.0)]
    [credential] = SEEN
    assert isinstance(credential, Credential)
    events = await events_of(db, result)
    [issued] = [e for e in events if isinstance(e.data, CredentialIssued)]
    data = issued.data
    assert isinstance(data, CredentialIssued)
    assert credential.run_id == result.run_id
    assert credential.call_id == data.call_id
    assert (data.tool, data.actions, data.resources) == (
        "billing.refund",
        ["refund.create"],
        ["customer:C-1"],
    )
    assert data.limits == {"max_amount": 100.0}
    assert data.jti == credential.jti
    assert data.expires_at - data.issued_at == 60
    assert issued.span_id == data.call_id
    # Issued after the decision, recorded in the same transaction as tool_started.
    at = types(events).index("credential_issued")
    assert types(events)[at - 1 : at + 2] == ["policy_decided", "credential_issued", "tool_started"]
    [batch] = [b for b in batches if "credential_issued" in b]
    assert batch[-2:] == ["credential_issued", "tool_started"]
    assert_no_token(issuer.tokens, await db.events(result.run_id))
    assert (await verify_run(db, result.run_id)).ok


async def test_a_credential_costs_no_extra_transaction(
    db: SQLiteStore, issuer: RecordingIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    counts: list[int] = []
    append = db.append

    async def counting_append(rows: list[EventRow], **kwargs: Any) -> None:
        counts[-1] += 1
        await append(rows, **kwargs)

    monkeypatch.setattr(db, "append", counting_append)
    for scopes in (SCOPES, {}):
        counts.append(0)
        flow = workflow(refund_turns(), credentials={"tools": scopes})
        flow.registry = Registry([lookup, _unchecked_refund])
        await Runner(db, flow, issuer=issuer).start({"customer": "C-1"})
    assert counts[0] == counts[1]


@tool("billing.refund", effect="write", risk="high", idempotent=True)
def _unchecked_refund(customer: str, amount: float) -> dict[str, Any]:
    """The same write, not checking a credential (to compare transactions)."""
    return {"refunded": amount}


async def test_tools_without_scopes_get_no_token_and_no_event(
    db: SQLiteStore, issuer: RecordingIssuer
) -> None:
    turns = [Turn(calls=[("crm.lookup", {"customer": "C-1"})]), Turn(text="done")]
    result = await Runner(db, workflow(turns), issuer=issuer).start({})
    assert result.outcome == "resolved"
    assert issuer.issued == []
    [credential] = SEEN
    assert credential.token is None
    assert "credential_issued" not in types(await events_of(db, result))


async def test_every_runner_has_the_signing_key_created_private_and_shared(
    db: SQLiteStore, proctor_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every run keys its digests of raw content with the signing key, scopes or not, so
    # the first runner creates it (0600) and every later one reads the same key.
    monkeypatch.delenv("PROCTOR_SIGNING_KEY", raising=False)
    Runner(db, workflow(refund_turns(), credentials={}))
    key = (proctor_home / "signing.key").read_bytes()
    assert (proctor_home / "signing.key").stat().st_mode & 0o777 == 0o600
    runner = Runner(db, workflow(refund_turns()))
    assert (proctor_home / "signing.key").read_bytes() == key
    assert (await runner.start({"customer": "C-1"})).outcome == "resolved"


# --- refusals ------------------------------------------------------------------------------


async def test_a_call_outside_the_credential_is_a_policy_denial_and_escalates(
    db: SQLiteStore, issuer: RecordingIssuer
) -> None:
    result = await Runner(db, workflow(refund_turns("C-2")), issuer=issuer).start(
        {"customer": "C-1"}
    )

    assert result.outcome == "escalated"
    assert REFUNDS == []
    events = await events_of(db, result)
    assert types(events)[-7:] == [
        "policy_decided",
        "credential_issued",
        "tool_started",
        "policy_decided",
        "tool_finished",
        "escalated",
        "run_finished",
    ]
    assert decisions(events) == [("allow", "default.allow"), ("deny", "credential.denied")]
    denied = events[-4].data
    assert isinstance(denied, PolicyDecided)
    assert "asked for refund.create on 'customer:C-2'" in denied.reason
    assert "covers only 'customer:C-1'" in denied.reason
    finished = events[-3].data
    assert isinstance(finished, ToolFinished)
    assert (finished.ok, finished.error_type) == (False, "CredentialDenied")
    escalated = events[-2].data
    assert isinstance(escalated, Escalated)
    assert (escalated.trigger, escalated.rule) == ("policy_violation", "credential.denied")
    assert_no_token(issuer.tokens, await db.events(result.run_id))
    assert (await verify_run(db, result.run_id)).ok


async def test_without_escalation_the_model_gets_the_denial_once_and_carries_on(
    db: SQLiteStore, issuer: RecordingIssuer
) -> None:
    seen: list[list[Message]] = []

    def script(messages: Sequence[Message]) -> Turn:
        seen.append(list(messages))
        if len(seen) == 1:
            return Turn(calls=[("billing.refund", {"customer": "C-1", "amount": 500.0})])
        return Turn(text="could not refund")

    flow = workflow(script, escalation={"on_policy_violation": False, "on_tool_error": True})
    result = await Runner(db, flow, issuer=issuer).start({"customer": "C-1"})

    assert result.outcome == "resolved"  # on_tool_error does not apply: it is a denial
    replies = [m for m in seen[-1] if isinstance(m, ToolMessage)]
    assert len(replies) == 1
    reply = orjson.loads(replies[0].content)
    assert reply["status"] == "denied"
    assert "amount 500, over its credential's max_amount of 100" in reply["error"]
    for messages in seen:
        for message in messages:
            for token in issuer.tokens:
                assert token not in repr(message)


async def test_a_run_input_without_the_templated_field_is_denied_before_the_tool_runs(
    db: SQLiteStore, issuer: RecordingIssuer
) -> None:
    result = await Runner(db, workflow(refund_turns()), issuer=issuer).start({"other": 1})

    assert result.outcome == "escalated"
    assert SEEN == []
    assert issuer.issued == []
    events = await events_of(db, result)
    assert "tool_started" not in types(events)
    assert decisions(events) == [("allow", "default.allow"), ("deny", "credential.denied")]
    denied = [e.data for e in events if isinstance(e.data, PolicyDecided)][-1]
    assert "reads input.customer, but the run's input has no such field" in denied.reason


async def test_a_tool_without_scopes_that_checks_is_told_what_to_declare(
    db: SQLiteStore, issuer: RecordingIssuer
) -> None:
    turns = [Turn(calls=[("crm.peek", {"customer": "C-1"})]), Turn(text="done")]
    result = await Runner(db, workflow(turns), issuer=issuer).start({})

    assert result.outcome == "escalated"
    events = await events_of(db, result)
    denied = [e.data for e in events if isinstance(e.data, PolicyDecided)][-1]
    assert denied.rule == "credential.denied"
    assert "declare them in the contract under credentials.tools.crm.peek" in denied.reason


async def test_an_expired_credential_is_refused_inside_the_tool(db: SQLiteStore) -> None:
    stale = RecordingIssuer(clock=lambda: time.time() - 120)
    result = await Runner(db, workflow(refund_turns()), issuer=stale).start({"customer": "C-1"})

    assert result.outcome == "escalated"
    assert REFUNDS == []
    denied = [e.data for e in await events_of(db, result) if isinstance(e.data, PolicyDecided)]
    assert denied[-1].rule == "credential.denied"
    assert "expired" in denied[-1].reason


@pytest.mark.parametrize("how", ["return", "raise"])
async def test_a_token_a_tool_hands_back_never_reaches_the_log(
    db: SQLiteStore, issuer: RecordingIssuer, how: str
) -> None:
    turns = [Turn(calls=[("billing.leak", {"how": how})]), Turn(text="done")]
    result = await Runner(db, workflow(turns), issuer=issuer).start({})

    [token] = issuer.tokens
    rows = await db.events(result.run_id)
    assert_no_token([token], rows)
    [finished] = [e.data for e in await events_of(db, result) if isinstance(e.data, ToolFinished)]
    assert token not in repr(finished)
    # Even a result redaction would keep: a token is not always shaped like a secret.
    leaked = RecordingIssuer().issue(
        run_id="r", call_id="c", tool="t", actions=["x"], ttl_seconds=60
    )
    assert scrub({"auth": f"Bearer {leaked.token}", "n": [{leaked.token: 1}], "k": 2}, leaked) == {
        "auth": "Bearer [credential]",
        "n": [{"[credential]": 1}],
        "k": 2,
    }
    assert scrub(f"refused {leaked.token}", leaked) == "refused [credential]"
    assert scrub({"clean": True}, leaked) == {"clean": True}
    assert scrub("x", NoCredential()) == "x"


# --- retries and the cache -----------------------------------------------------------------


class Crash(BaseException):
    """Stands in for the process dying mid-call."""


async def test_a_retried_call_gets_a_fresh_credential(
    db: SQLiteStore, issuer: RecordingIssuer
) -> None:
    crashing = {"on": True}

    @tool("billing.refund", effect="write", idempotent=True)
    def flaky(ctx: ToolContext, customer: str, amount: float) -> str:
        ctx.credential.require("refund.create", resource=f"customer:{customer}", amount=amount)
        if crashing["on"]:
            raise Crash
        return "ok"

    flow = workflow(refund_turns())
    flow.registry = Registry([flaky])
    runner = Runner(db, flow, issuer=issuer)
    with pytest.raises(Crash):
        await runner.start({"customer": "C-1"})
    [record] = await db.list_runs(RunFilter())
    crashing["on"] = False
    resumed = await runner.resume(record.run_id)

    assert resumed.outcome == "resolved"
    events = [row_to_event(row) for row in await db.events(record.run_id)]
    issued = [e.data for e in events if isinstance(e.data, CredentialIssued)]
    assert len(issued) == 2
    assert issued[0].call_id == issued[1].call_id
    assert issued[0].jti != issued[1].jti
    assert [c.jti for c in issuer.issued] == [i.jti for i in issued]
    assert_no_token(issuer.tokens, await db.events(record.run_id))


async def test_a_scoped_tool_is_never_served_from_the_tool_cache(
    db: SQLiteStore, issuer: RecordingIssuer
) -> None:
    turns = [Turn(calls=[("pricing.quote", {"sku": "A-1"})]), Turn(text="done")]
    flow = workflow(turns)
    cache = MemoryCache()
    for run in range(2):
        gateway = Gateway.single(ScriptedModel(scenario="test", script=list(turns)))
        gateway.cache = cache
        result = await Runner(db, flow, gateway=gateway, issuer=issuer).start({"run": run})
        assert result.outcome == "resolved"
        assert "cache_hit" not in types(await events_of(db, result))
    assert len(SEEN) == 2
    assert len(issuer.issued) == 2
