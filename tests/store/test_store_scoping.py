"""Store contract tests for what the HTTP API asks of every backend: tenants, cursor
pages of runs, paged events, events by type, approvals by tenant, API keys, UI sessions."""

from __future__ import annotations

import dataclasses

from proctor.store import (
    ApiKeyRecord,
    ApprovalRecord,
    Escalated,
    ModelCalled,
    RunFilter,
    SessionRecord,
    Store,
    Usage,
    approval_key,
)
from support.store_runs import start_run


def turn(n: int) -> ModelCalled:
    return ModelCalled(
        model="scripted",
        turn=n,
        messages_digest="m" * 64,
        usage=Usage(input_tokens=1, output_tokens=1),
        latency_ms=1.0,
        tool_call_count=0,
        cost_usd=0.0,
    )


async def ids(store: Store, query: RunFilter) -> list[str]:
    return [run.run_id for run in await store.list_runs(query)]


async def test_runs_keep_their_tenant_and_starter(store: Store) -> None:
    await start_run(store, "r1", at=1.0, tenant="acme", started_by="alice")
    run = await store.get_run("r1")
    assert run is not None
    assert (run.tenant, run.started_by) == ("acme", "alice")


async def test_runs_are_filtered_by_tenant_and_model(store: Store) -> None:
    await start_run(store, "a1", at=1.0, tenant="acme")
    await start_run(store, "b1", at=2.0, tenant="beta", model="openai:gpt-4o-mini")
    await start_run(store, "a2", at=3.0, tenant="acme", model="openai:gpt-4o-mini")
    assert await ids(store, RunFilter(tenant="acme")) == ["a2", "a1"]
    assert await ids(store, RunFilter(tenant="beta")) == ["b1"]
    assert await ids(store, RunFilter(model="openai:gpt-4o-mini")) == ["a2", "b1"]
    assert await ids(store, RunFilter(tenant="acme", model="scripted")) == ["a1"]
    assert await ids(store, RunFilter(tenant="nobody")) == []


async def test_a_cursor_pages_through_runs_without_gaps_or_repeats(store: Store) -> None:
    # Two runs share a start time: the run id breaks the tie, so no page skips one.
    for n, at in enumerate([1.0, 2.0, 2.0, 3.0, 4.0, 5.0, 5.0]):
        await start_run(store, f"r{n}", at=at)
    seen: list[str] = []
    cursor: tuple[float, str] | None = None
    while True:
        page = await store.list_runs(RunFilter(limit=2, before=cursor))
        if not page:
            break
        seen.extend(run.run_id for run in page)
        cursor = (page[-1].started_at, page[-1].run_id)
    assert seen == ["r6", "r5", "r4", "r3", "r2", "r1", "r0"]
    assert await ids(store, RunFilter(before=(2.0, "r2"))) == ["r1", "r0"]


async def test_events_are_paged_by_sequence_number(store: Store) -> None:
    journal, _ = await start_run(store, "r1", at=1.0)
    await journal.append([turn(n) for n in range(1, 6)])
    assert [row.seq for row in await store.events("r1")] == [0, 1, 2, 3, 4, 5]
    assert [row.seq for row in await store.events("r1", after=1, limit=2)] == [2, 3]
    assert [row.seq for row in await store.events("r1", after=3)] == [4, 5]
    assert await store.events("r1", after=5) == []
    assert [row.seq for row in await store.events("r1", limit=1)] == [0]


async def test_events_of_one_type_are_found_across_the_runs_a_filter_matches(
    store: Store,
) -> None:
    for run_id, tenant in (("a1", "acme"), ("b1", "beta")):
        journal, _ = await start_run(store, run_id, at=1.0, tenant=tenant)
        await journal.append(
            [
                turn(1),
                Escalated(trigger="policy_violation", mode="handoff", rule="r", reason=run_id),
            ]
        )
    found = await store.events_of_type("escalated", RunFilter(tenant="acme"))
    assert [(row.run_id, row.type) for row in found] == [("a1", "escalated")]
    assert len(await store.events_of_type("escalated", RunFilter())) == 2
    named = await store.events_of_type("escalated", RunFilter(run_ids=("b1", "nope")))
    assert [row.run_id for row in named] == ["b1"]
    assert [r.run_id for r in await store.list_runs(RunFilter(run_ids=("a1",)))] == ["a1"]
    assert await store.events_of_type("escalated", RunFilter(since=5.0)) == []


async def test_approvals_are_listed_by_the_tenant_of_their_run(store: Store) -> None:
    for run_id, tenant in (("a1", "acme"), ("b1", "beta")):
        journal, _ = await start_run(store, run_id, at=1.0, tenant=tenant)
        approval = ApprovalRecord(
            approval_id=f"ap-{run_id}",
            run_id=run_id,
            call_id="c1",
            tool="erp.pay",
            args_digest="d" * 64,
            arguments={},
            rule="large",
            reason="big",
            requested_at=2.0,
        )
        await journal.append([turn(1)], approval=approval)
    assert [a.approval_id for a in await store.list_approvals(tenant="acme")] == ["ap-a1"]
    assert [a.approval_id for a in await store.list_approvals(None, tenant="beta")] == ["ap-b1"]
    assert len(await store.list_approvals()) == 2
    # A page's runs (what the runs list reads): still only the tenant's.
    both = ["a1", "b1"]
    found = await store.list_approvals("pending", tenant="acme", run_ids=both)
    assert [a.approval_id for a in found] == ["ap-a1"]
    assert await store.list_approvals("pending", tenant="beta", run_ids=["a1"]) == []


async def test_approvals_come_a_page_at_a_time_in_request_or_decision_order(
    store: Store,
) -> None:
    # Five runs, tenants alternating; two approvals asked at the same moment (the id
    # breaks the tie); three decided, the latest decision on the earliest request.
    asked = {"ap-1": 10.0, "ap-2": 20.0, "ap-3": 20.0, "ap-4": 30.0, "ap-5": 40.0}
    decided = {"ap-1": 99.0, "ap-3": 50.0, "ap-4": 60.0}
    for n, (approval_id, at) in enumerate(asked.items()):
        run_id = f"r{n}"
        journal, _ = await start_run(store, run_id, at=1.0, tenant="acme" if n % 2 else "beta")
        record = ApprovalRecord(
            approval_id=approval_id,
            run_id=run_id,
            call_id="c1",
            tool="erp.pay",
            args_digest="d" * 64,
            arguments={},
            rule="large",
            reason="big",
            requested_at=at,
        )
        if approval_id in decided:
            record.status, record.decided_at = "approved", decided[approval_id]
        await journal.append([turn(1)], approval=record)

    def ids(found: list[ApprovalRecord]) -> list[str]:
        return [a.approval_id for a in found]

    everything = await store.list_approvals(None)
    assert ids(everything) == ["ap-1", "ap-2", "ap-3", "ap-4", "ap-5"]
    first = await store.list_approvals(None, limit=2)
    assert ids(first) == ["ap-1", "ap-2"]
    after = approval_key("requested", first[-1])
    assert after == (20.0, "ap-2")
    assert ids(await store.list_approvals(None, after=after, limit=2)) == ["ap-3", "ap-4"]
    assert ids(await store.list_approvals(None, after=(40.0, "ap-5"))) == []
    # A status and a tenant narrow the pages the same way.
    assert ids(await store.list_approvals("pending", after=(10.0, "ap-1"))) == ["ap-2", "ap-5"]
    assert ids(await store.list_approvals(None, tenant="acme", limit=1)) == ["ap-2"]
    assert ids(await store.list_approvals(None, tenant="acme", after=(20.0, "ap-2"))) == ["ap-4"]
    # (time, "") is every request from that time on.
    assert ids(await store.list_approvals(None, after=(20.0, ""))) == [
        "ap-2",
        "ap-3",
        "ap-4",
        "ap-5",
    ]
    # Latest decision first: decided ones only, with their own cursor.
    latest = await store.list_approvals(None, order="-decided", limit=2)
    assert ids(latest) == ["ap-1", "ap-4"]
    assert approval_key("-decided", latest[-1]) == (60.0, "ap-4")
    rest = await store.list_approvals(None, order="-decided", after=(60.0, "ap-4"))
    assert ids(rest) == ["ap-3"]
    assert ids(await store.list_approvals(None, tenant="beta", order="-decided")) == [
        "ap-1",
        "ap-3",
    ]
    # Counted, up to a cap.
    assert await store.count_approvals(None) == 5
    assert await store.count_approvals("pending") == 2
    assert await store.count_approvals("approved", tenant="acme") == 1
    assert await store.count_approvals(None, cap=3) == 3
    assert await store.count_approvals("denied") == 0


async def test_a_run_s_events_of_one_type_are_read_alone(store: Store) -> None:
    journal, _ = await start_run(store, "r1", at=1.0)
    await journal.append([turn(1), turn(2), turn(3)])
    models = await store.events("r1", event_type="model_called")
    assert [row.seq for row in models] == [1, 2, 3]
    assert [row.seq for row in await store.events("r1", event_type="model_called", after=1)] == [
        2,
        3,
    ]
    assert len(await store.events("r1", event_type="model_called", limit=1)) == 1
    assert await store.events("r1", event_type="tool_started") == []


async def test_api_keys_are_found_by_digest_listed_by_tenant_and_revoked(store: Store) -> None:
    alice = ApiKeyRecord(
        key_id="key_a",
        secret_hash="h" * 64,
        role="admin",
        tenant="acme",
        name="alice's laptop",
        created_at=1.0,
        holder="alice",
        created_by="cli:root",
    )
    bob = dataclasses.replace(
        alice, key_id="key_b", secret_hash="g" * 64, name="bob", tenant="beta", created_at=2.0
    )
    await store.save_api_key(alice)
    await store.save_api_key(bob)
    assert await store.api_key("h" * 64) == alice
    assert alice.identity == "alice"  # who acts with it: its holder, not its label
    assert await store.api_key("x" * 64) is None
    assert [k.key_id for k in await store.api_keys()] == ["key_b", "key_a"]
    assert [k.key_id for k in await store.api_keys("acme")] == ["key_a"]
    revoked = await store.revoke_api_key("key_a", 5.0)
    assert revoked is not None
    assert revoked.revoked_at == 5.0
    again = await store.revoke_api_key("key_a", 9.0)  # the first revocation time stays
    assert again is not None
    assert again.revoked_at == 5.0
    assert await store.revoke_api_key("key_zzz", 5.0) is None
    found = await store.api_key("h" * 64)
    assert found is not None
    assert found.revoked_at == 5.0


async def test_ui_sessions_are_kept_ended_once_and_purged_after_expiry(store: Store) -> None:
    first = SessionRecord(session_id="s" * 64, key_id="key_a", created_at=10.0, expires_at=50.0)
    await store.save_session(first)
    assert await store.get_session("s" * 64) == first
    assert await store.get_session("x" * 64) is None
    ended = await store.end_session("s" * 64, 20.0)
    assert ended == dataclasses.replace(first, ended_at=20.0)
    again = await store.end_session("s" * 64, 30.0)  # the first end time stays
    assert again is not None
    assert again.ended_at == 20.0
    assert await store.end_session("x" * 64, 30.0) is None
    # A session saved after the first expired clears it away; live ones stay.
    live = dataclasses.replace(first, session_id="l" * 64, created_at=40.0, expires_at=90.0)
    await store.save_session(live)
    later = dataclasses.replace(first, session_id="n" * 64, created_at=60.0, expires_at=99.0)
    await store.save_session(later)
    assert await store.get_session("s" * 64) is None
    assert await store.get_session("l" * 64) == live


async def test_a_single_sign_on_session_keeps_who_the_person_is(store: Store) -> None:
    person = SessionRecord(
        session_id="p" * 64,
        key_id="",
        created_at=10.0,
        expires_at=50.0,
        issuer="https://idp.example.com/realms/acme",
        subject="248289761001",
        name="alice@example.com",
        role="approver+operator",
        tenant="acme",
    )
    await store.save_session(person)
    assert await store.get_session("p" * 64) == person
    assert await store.end_session("p" * 64, 20.0) == dataclasses.replace(person, ended_at=20.0)
