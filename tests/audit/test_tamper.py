"""The tamper suite: what someone with write access to the database (but not the keys)
does to a store, on both backends. Every case must be caught by ``audit verify`` with
the first bad place named, and the runtime must refuse to act on the run it touched.

The world: W waits for the approval of a 24,500 payment (started by alice, its input's
e-mail address sealed); F and G were
approved by bob and paid; P was purged by retention; a checkpoint signed all four.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from proctor.audit import apply_retention, chained_approvals, make_checkpoint, verify_store
from proctor.errors import NotFoundError, RunStateError
from proctor.examples import invoice
from proctor.runtime import Runner, UnverifiedRunError, decide_approval
from proctor.store import (
    EventRow,
    PostgresStore,
    SQLiteStore,
    Store,
    load_evidence_keys,
    standard_chain_hash,
    standard_digest,
)
from support.invoice_runs import approved_run, invoice_workflow
from support.raw_sql import execute_raw, next_row
from support.stores import drop_schema, new_schema_url


@dataclass
class World:
    store: Store
    waiting: str
    approval: str
    paid: str
    other: str
    purged: str


KEYS = {
    "PROCTOR_SIGNING_KEY": "tamper-suite-store-secret-0123456789abcdef",
    "PROCTOR_EVIDENCE_KEY": Ed25519PrivateKey.generate()
    .private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    .decode(),
}
"""One store secret and evidence key for the module: its world is made once per backend,
and every case (with a PROCTOR_HOME of its own) verifies it with the keys that made it."""


@pytest.fixture(autouse=True)
def _keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)


async def make_world(store: Store) -> World:
    runner = Runner(store, invoice.workflow())
    # Who to tell is personal data: the run's first event keeps it sealed.
    started = await runner.start(
        {**invoice.sample_input("over_threshold"), "notify": "ap.clerk@northwind.example"},
        started_by="cli:alice",
    )
    assert started.state.pending_approval is not None
    paid = await approved_run(store)
    other = await approved_run(store)
    purged = await approved_run(store, invoice_workflow(retention_days=1))
    await apply_retention(store, now=time.time() + 3 * 86_400)
    await make_checkpoint(store, load_evidence_keys())
    return World(store, started.run_id, started.state.pending_approval, paid, other, purged)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def template(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str, World]]:
    """The world, made once per backend: a SQLite file, or a PostgreSQL schema."""
    folder = tmp_path_factory.mktemp("tamper")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PROCTOR_HOME", str(folder / "home"))
        for name, value in KEYS.items():
            env.setenv(name, value)
        if request.param == "sqlite":
            store: Store = SQLiteStore(folder / "world.db")
            location = str(folder / "world.db")
        else:
            server = request.getfixturevalue("postgres_server")
            schema, location = new_schema_url(server)
            store = PostgresStore(location, max_size=2)
        world = asyncio.run(_made(store))
    yield request.param, location, world
    if request.param == "postgres":
        asyncio.run(drop_schema(server, schema))


async def _made(store: Store) -> World:
    try:
        return await make_world(store)
    finally:
        await store.close()


@pytest.fixture
async def world(
    template: tuple[str, str, World], tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[World]:
    """This case's own copy of the world."""
    backend, location, made = template
    store: Store
    schema = None
    if backend == "sqlite":
        shutil.copy(location, tmp_path / "world.db")
        store = SQLiteStore(tmp_path / "world.db")
    else:
        server = request.getfixturevalue("postgres_server")
        schema, url = new_schema_url(server)
        await copy_schema(server, location.rsplit("schema=", 1)[1], schema)
        store = PostgresStore(url, max_size=2)
    try:
        yield replace(made, store=store)
    finally:
        await store.close()
        if schema is not None:
            await drop_schema(request.getfixturevalue("postgres_server"), schema)


async def copy_schema(server: str, source: str, target: str) -> None:
    """Copy every table of ``source`` (rows, indexes, constraints) into a new ``target``."""
    import psycopg

    async with await psycopg.AsyncConnection.connect(server, autocommit=True) as conn:
        tables = await (
            await conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                (source,),
            )
        ).fetchall()
        async with conn.transaction():
            await conn.execute(f"CREATE SCHEMA {target}")
            for (table,) in tables:
                await conn.execute(
                    f"CREATE TABLE {target}.{table} (LIKE {source}.{table} INCLUDING ALL)"
                )
                await conn.execute(
                    f"INSERT INTO {target}.{table} OVERRIDING SYSTEM VALUE "
                    f"SELECT * FROM {source}.{table}"
                )


# --- editing the database -----------------------------------------------------------


async def sql(w: World, statement: str, *params: object) -> None:
    await execute_raw(w.store, statement, tuple(params))


async def seq_of(w: World, run_id: str, type_: str, nth: int = 0) -> int:
    return [r.seq for r in await w.store.events(run_id) if r.type == type_][nth]


async def write_rows(w: World, rows: list[EventRow], *, fix_head: bool = True) -> None:
    """Store ``rows`` over the events with their seq (content, metadata and hashes)."""
    for row in rows:
        await sql(
            w,
            "UPDATE events SET type = ?, meta = ?, content = ?, content_digest = ?, "
            "prev_hash = ?, hash = ?, mac = ?, signature = ? WHERE run_id = ? AND seq = ?",
            row.type,
            orjson.dumps(row.meta).decode(),
            None if row.content is None else orjson.dumps(row.content).decode(),
            row.content_digest,
            row.prev_hash,
            row.hash,
            row.mac,
            row.signature,
            row.run_id,
            row.seq,
        )
    if fix_head and rows:
        last = rows[-1]
        await sql(
            w,
            "UPDATE runs SET head_hash = ? WHERE run_id = ? AND last_seq = ?",
            last.hash,
            last.run_id,
            last.seq,
        )


def rehash(rows: list[EventRow], start: int) -> list[EventRow]:
    """Recompute the chain from ``start`` with the public hashing code (no key)."""
    for row in rows[start:]:
        if row.seq > 0:
            row.prev_hash = rows[row.seq - 1].hash
        if row.content is not None:
            row.content_digest = standard_digest(row.content)
        row.hash = standard_chain_hash(row.prev_hash, row.hashed_metadata())
    return rows[start:]


async def forge_append(
    w: World, run_id: str, meta: dict[str, object], content: dict[str, object]
) -> None:
    """Append an event whose hash is right (public code), as a newer version might."""
    row = next_row(await w.store.events(run_id), meta, content)
    await sql(
        w,
        "INSERT INTO events (run_id, seq, type, ts, trace_id, span_id, parent_span_id, meta, "
        "content, content_digest, prev_hash, hash, mac, signature) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        row.run_id,
        row.seq,
        row.type,
        row.ts,
        row.trace_id,
        row.span_id,
        row.parent_span_id,
        orjson.dumps(row.meta).decode(),
        orjson.dumps(content).decode(),
        row.content_digest,
        row.prev_hash,
        row.hash,
        row.mac,
        row.signature,
    )
    await sql(
        w,
        "UPDATE runs SET last_seq = ?, head_hash = ? WHERE run_id = ?",
        row.seq,
        row.hash,
        run_id,
    )


async def approve_forged(
    w: World, mac_from: int | None = None, sign_from: int | None = None
) -> None:
    rows = await w.store.events(w.waiting)
    asked = next(r for r in rows if r.type == "approval_requested")
    await forge_append(
        w,
        w.waiting,
        {
            "type": "approval_decided",
            "approval_id": w.approval,
            "call_id": asked.meta["call_id"],
            "approved": True,
            "decided_by": "mallory",
        },
        {},
    )
    new = (await w.store.events(w.waiting))[-1]
    if mac_from is not None:
        new.mac = rows[mac_from].mac
    if sign_from is not None:
        new.signature = next(r.signature for r in rows if r.signature)
    await write_rows(w, [new])


# --- the cases ------------------------------------------------------------------------

Case = Callable[[World], Awaitable[str]]
"""Tampers with the world; returns the run it touched (the runtime must refuse it)."""
CASES: dict[str, Case] = {}


def case(name: str) -> Callable[[Case], Case]:
    def register(fn: Case) -> Case:
        CASES[name] = fn
        return fn

    return register


async def _edit_proposal(w: World, digest: bool, suffix: bool) -> str:
    rows = await w.store.events(w.waiting)
    n = await seq_of(w, w.waiting, "tool_proposed", -1)
    content = dict(rows[n].content or {})
    content["arguments"] = {**content.get("arguments", {}), "amount": 245}
    rows[n].content = content
    if suffix:
        await write_rows(w, rehash(rows, n))
    elif digest:
        rows[n].content_digest = standard_digest(content)
        await write_rows(w, [rows[n]], fix_head=False)
    else:
        await write_rows(w, [rows[n]], fix_head=False)
    return w.waiting


@case("event content edited")
async def _c1(w: World) -> str:
    return await _edit_proposal(w, digest=False, suffix=False)


@case("event content edited, digest recomputed")
async def _c2(w: World) -> str:
    return await _edit_proposal(w, digest=True, suffix=False)


@case("event content edited, chain suffix recomputed without the key")
async def _c3(w: World) -> str:
    return await _edit_proposal(w, digest=True, suffix=True)


@case("policy decision flipped, suffix recomputed")
async def _c4(w: World) -> str:
    rows = await w.store.events(w.waiting)
    n = await seq_of(w, w.waiting, "policy_decided", -1)
    rows[n].meta["decision"] = "allow"
    await write_rows(w, rehash(rows, n))
    return w.waiting


@case("event time edited")
async def _c5(w: World) -> str:
    await sql(w, "UPDATE events SET ts = ts - 3600 WHERE run_id = ? AND seq = 2", w.waiting)
    return w.waiting


@case("event type edited")
async def _c6(w: World) -> str:
    n = await seq_of(w, w.waiting, "policy_decided", -1)
    await sql(
        w, "UPDATE events SET type = 'draft_recorded' WHERE run_id = ? AND seq = ?", w.waiting, n
    )
    return w.waiting


@case("middle event deleted")
async def _c7(w: World) -> str:
    await sql(w, "DELETE FROM events WHERE run_id = ? AND seq = 3", w.waiting)
    return w.waiting


@case("middle event deleted, the rest renumbered")
async def _c8(w: World) -> str:
    rows = await w.store.events(w.waiting)
    await sql(w, "DELETE FROM events WHERE run_id = ? AND seq = 3", w.waiting)
    for row in rows[4:]:
        await sql(
            w,
            "UPDATE events SET seq = ? WHERE run_id = ? AND seq = ?",
            row.seq - 1,
            w.waiting,
            row.seq,
        )
    return w.waiting


@case("last event deleted")
async def _c9(w: World) -> str:
    last = (await w.store.events(w.waiting))[-1]
    await sql(w, "DELETE FROM events WHERE run_id = ? AND seq = ?", w.waiting, last.seq)
    return w.waiting


@case("log cut back to an earlier commit, run record rolled back")
async def _c10(w: World) -> str:
    rows = await w.store.events(w.paid)
    keep = max(r.seq for r in rows if r.mac and r.type != "run_finished" and r.seq < len(rows) - 3)
    await sql(w, "DELETE FROM events WHERE run_id = ? AND seq > ?", w.paid, keep)
    await sql(
        w,
        "UPDATE runs SET last_seq = ?, head_hash = ?, status = 'running', outcome = NULL "
        "WHERE run_id = ?",
        keep,
        rows[keep].hash,
        w.paid,
    )
    return w.paid


@case("approval decision appended with a correct hash")
async def _c11(w: World) -> str:
    await approve_forged(w)
    return w.waiting


@case("approval decision appended with a MAC copied from another event")
async def _c12(w: World) -> str:
    await approve_forged(w, mac_from=0)
    return w.waiting


@case("approval decision appended with a signature copied from the run")
async def _c13(w: World) -> str:
    await approve_forged(w, mac_from=0, sign_from=0)
    return w.waiting


@case("two events swapped")
async def _c14(w: World) -> str:
    await sql(w, "UPDATE events SET seq = 99999 WHERE run_id = ? AND seq = 2", w.waiting)
    await sql(w, "UPDATE events SET seq = 2 WHERE run_id = ? AND seq = 3", w.waiting)
    await sql(w, "UPDATE events SET seq = 3 WHERE run_id = ? AND seq = 99999", w.waiting)
    return w.waiting


@case("two events' contents swapped")
async def _c15(w: World) -> str:
    rows = await w.store.events(w.waiting)
    a, b = [r for r in rows if r.content][1:3]
    a.content, b.content = b.content, a.content
    await write_rows(w, [a, b], fix_head=False)
    return w.waiting


@case("one payload set to NULL (a purge without a record)")
async def _c16(w: World) -> str:
    n = await seq_of(w, w.waiting, "tool_proposed", -1)
    await sql(w, "UPDATE events SET content = NULL WHERE run_id = ? AND seq = ?", w.waiting, n)
    return w.waiting


@case("every payload set to NULL, a purges row added")
async def _c17(w: World) -> str:
    await sql(w, "UPDATE events SET content = NULL WHERE run_id = ? AND content != '{}'", w.paid)
    await sql(
        w,
        "INSERT INTO purges (run_id, purged_at, events, bytes, reason) VALUES (?, ?, 9, 999, 'x')",
        w.paid,
        time.time(),
    )
    return w.paid


@case("a MAC edited")
async def _c18(w: World) -> str:
    row = next(r for r in reversed(await w.store.events(w.waiting)) if r.mac)
    row.mac = row.mac[:-4] + ("0000" if not row.mac.endswith("0000") else "1111")
    await write_rows(w, [row], fix_head=False)
    return w.waiting


@case("the last MAC removed")
async def _c19(w: World) -> str:
    last = (await w.store.events(w.waiting))[-1]
    await sql(w, "UPDATE events SET mac = '' WHERE run_id = ? AND seq = ?", w.waiting, last.seq)
    return w.waiting


@case("the signature of an approval request removed")
async def _c20(w: World) -> str:
    await sql(w, "UPDATE events SET signature = '' WHERE run_id = ?", w.waiting)
    return w.waiting


@case("a signature moved from another run")
async def _c21(w: World) -> str:
    theirs = next(r for r in reversed(await w.store.events(w.other)) if r.signature)
    mine = next(r for r in reversed(await w.store.events(w.paid)) if r.signature)
    await sql(
        w,
        "UPDATE events SET signature = ? WHERE run_id = ? AND seq = ?",
        theirs.signature,
        w.paid,
        mine.seq,
    )
    return w.paid


@case("a signature moved within the run")
async def _c22(w: World) -> str:
    signed = [r for r in await w.store.events(w.paid) if r.signature]
    first, last = signed[0], signed[-1]
    await sql(
        w,
        "UPDATE events SET signature = ? WHERE run_id = ? AND seq = ?",
        first.signature,
        w.paid,
        last.seq,
    )
    return w.paid


@case("whole chain rewritten with the hashing code, MACs dropped")
async def _c23(w: World) -> str:
    rows = await w.store.events(w.waiting)
    rows[1].meta["model"] = "forged"
    for row in rows:
        row.mac = row.signature = ""
    await write_rows(w, rehash(rows, 0))
    return w.waiting


@case("whole chain rewritten with the hashing code, MACs kept")
async def _c24(w: World) -> str:
    rows = await w.store.events(w.waiting)
    rows[0].meta["started_by"] = "cli:mallory"
    await write_rows(w, rehash(rows, 0))
    await sql(w, "UPDATE runs SET started_by = 'cli:mallory' WHERE run_id = ?", w.waiting)
    return w.waiting


@case("events moved to another run id")
async def _c25(w: World) -> str:
    await sql(w, "UPDATE events SET run_id = ? WHERE run_id = ? AND seq > 30", w.waiting, w.other)
    return w.other


def _record_edit(column: str, value: object, target: str = "waiting") -> Case:
    async def edit(w: World) -> str:
        run_id = getattr(w, target)
        await sql(w, f"UPDATE runs SET {column} = ? WHERE run_id = ?", value, run_id)
        return str(run_id)

    return edit


for _column, _value, _target in [
    ("workflow", "payroll", "waiting"),
    ("contract_hash", "0" * 64, "waiting"),
    ("started_by", "cli:bob", "waiting"),
    ("tenant", "other-tenant", "waiting"),
    ("workflow_ref", "os:system", "waiting"),
    ("head_hash", "f" * 64, "waiting"),
    ("last_seq", 3, "waiting"),
    ("status", "running", "paid"),
    ("outcome", "escalated", "paid"),
]:
    CASES[f"run record {_column} edited ({_target})"] = _record_edit(_column, _value, _target)


def _approval_edit(column: str, value: object) -> Case:
    async def edit(w: World) -> str:
        await sql(w, f"UPDATE approvals SET {column} = ? WHERE approval_id = ?", value, w.approval)
        return w.waiting

    return edit


for _column, _value in [
    ("arguments", '{"vendor_id": "V-1002", "amount": 245, "invoice_id": "INV-1"}'),
    ("tool", "erp.read_invoice"),
    ("args_digest", "0" * 64),
    ("call_id", "call_0_0"),
    ("rule", "approval.nothing"),
]:
    CASES[f"approvals row {_column} edited"] = _approval_edit(_column, _value)


@case("the chained purge record deleted")
async def _c40(w: World) -> str:
    rows = await w.store.events(w.purged)
    last = rows[-1]
    assert last.type == "purged"
    await sql(w, "DELETE FROM events WHERE run_id = ? AND seq = ?", w.purged, last.seq)
    await sql(
        w,
        "UPDATE runs SET last_seq = ?, head_hash = ? WHERE run_id = ?",
        last.seq - 1,
        rows[-2].hash,
        w.purged,
    )
    return w.purged


@case("the chained purge record's reason edited")
async def _c41(w: World) -> str:
    last = (await w.store.events(w.purged))[-1]
    last.meta["reason"] = "asked by the customer"
    await write_rows(w, [last], fix_head=False)
    return w.purged


@case("a whole run deleted")
async def _c42(w: World) -> str:
    await sql(w, "DELETE FROM events WHERE run_id = ?", w.paid)
    await sql(w, "DELETE FROM approvals WHERE run_id = ?", w.paid)
    await sql(w, "DELETE FROM runs WHERE run_id = ?", w.paid)
    return w.paid


@case("a run replaced by another run's log")
async def _c43(w: World) -> str:
    await sql(w, "DELETE FROM events WHERE run_id = ?", w.paid)
    await sql(
        w,
        "INSERT INTO events SELECT ?, seq, type, ts, trace_id, span_id, parent_span_id, meta, "
        "content, content_digest, prev_hash, hash, mac, signature, sealed FROM events "
        "WHERE run_id = ?",
        w.paid,
        w.other,
    )
    return w.paid


@case("the checkpoint's signed heads edited")
async def _c44(w: World) -> str:
    await sql(w, "UPDATE checkpoint_heads SET hash = ? WHERE run_id = ?", "e" * 64, w.paid)
    return w.paid


@case("the checkpoint's root edited")
async def _c45(w: World) -> str:
    await sql(w, "UPDATE checkpoints SET root = ?", "a" * 64)
    return ""  # the checkpoint log itself: no run to act on


@case("a run dropped from the checkpoint and deleted")
async def _c46(w: World) -> str:
    await sql(w, "DELETE FROM checkpoint_heads WHERE run_id = ?", w.paid)
    await sql(w, "DELETE FROM events WHERE run_id = ?", w.paid)
    await sql(w, "DELETE FROM runs WHERE run_id = ?", w.paid)
    return w.paid


@case("a run's end signature swapped with another run's")
async def _c47(w: World) -> str:
    mine = (await w.store.events(w.paid))[-1]
    theirs = (await w.store.events(w.other))[-1]
    await sql(
        w,
        "UPDATE events SET signature = ? WHERE run_id = ? AND seq = ?",
        theirs.signature,
        w.paid,
        mine.seq,
    )
    await sql(
        w,
        "UPDATE events SET signature = ? WHERE run_id = ? AND seq = ?",
        mine.signature,
        w.other,
        theirs.seq,
    )
    return w.paid


@case("a sealed payload removed (its event then reads as redacted only)")
async def _c48(w: World) -> str:
    await sql(w, "UPDATE events SET sealed = '' WHERE run_id = ? AND seq = 0", w.waiting)
    return w.waiting


@case("sealed payloads swapped between two events")
async def _c49(w: World) -> str:
    rows = await w.store.events(w.waiting)
    first = rows[0].sealed
    other = next(row for row in rows[1:] if row.sealed)
    await sql(
        w, "UPDATE events SET sealed = ? WHERE run_id = ? AND seq = 0", other.sealed, w.waiting
    )
    await sql(
        w, "UPDATE events SET sealed = ? WHERE run_id = ? AND seq = ?", first, w.waiting, other.seq
    )
    return w.waiting


@case("a run's data key replaced by another run's")
async def _c50(w: World) -> str:
    await sql(
        w,
        "UPDATE run_keys SET wrapped = (SELECT wrapped FROM run_keys WHERE run_id = ?) "
        "WHERE run_id = ?",
        w.paid,
        w.waiting,
    )
    return w.waiting


@case("a run's data key deleted")
async def _c51(w: World) -> str:
    await sql(w, "DELETE FROM run_keys WHERE run_id = ?", w.waiting)
    return w.waiting


async def act(w: World, run_id: str) -> None:
    """What the runtime would do next with ``run_id``: decide W's approval, or resume."""
    if run_id == w.waiting:
        await decide_approval(w.store, w.approval, approved=True, by="carol")
    else:
        await Runner(w.store, invoice.workflow()).resume(run_id)


def test_the_suite_has_the_cases_the_issue_asks_for() -> None:
    assert len(CASES) >= 40


async def test_an_untouched_world_verifies(world: World) -> None:
    report = await verify_store(world.store, load_evidence_keys())
    assert report.ok, [r.problem for r in report.runs if not r.ok] + report.problems
    assert report.checkpoints == 1
    assert all(r.keyed for r in report.runs)


@pytest.mark.parametrize("name", sorted(CASES))
async def test_tampering_is_caught_and_the_runtime_refuses(world: World, name: str) -> None:
    touched = await CASES[name](world)
    keys = load_evidence_keys()

    report = await verify_store(world.store, keys)

    assert not report.ok, f"{name}: not detected"
    named = [r.problem for r in report.runs if not r.ok] + report.problems
    assert all(named), named
    # The run is named, or (a run gone with its signed head) the checkpoint that lost it.
    assert any(touched in line or "checkpoint 0" in line for line in report.problems) or any(
        r.run_id == touched and r.bad_seq is not None for r in report.runs if not r.ok
    ), f"{name}: the touched run {touched} is not named: {named}"
    if not touched:
        return
    # The runtime acts on nothing it cannot verify.
    with pytest.raises((UnverifiedRunError, NotFoundError, RunStateError)) as refused:
        await act(world, touched)
    if touched == world.waiting:
        approval = await world.store.get_approval(world.approval)
        assert approval is None or approval.status == "pending"
    if not isinstance(refused.value, NotFoundError):
        # A finished run is refused as unverified, not merely as finished.
        assert isinstance(refused.value, UnverifiedRunError), f"{name}: {refused.value}"


async def test_an_approver_is_shown_what_the_run_asked_not_the_table(world: World) -> None:
    forged = '{"vendor_id": "V-1002", "amount": 245, "invoice_id": "INV-1"}'
    await sql(
        world,
        "UPDATE approvals SET arguments = ?, tool = 'erp.read_invoice' WHERE approval_id = ?",
        forged,
        world.approval,
    )
    [row] = [
        a for a in await world.store.list_approvals("pending") if a.approval_id == world.approval
    ]
    assert row.arguments["amount"] == 245

    [shown] = await chained_approvals(world.store, [row])

    assert shown.tool == "erp.create_payment"
    assert shown.arguments["amount"] == 24500
