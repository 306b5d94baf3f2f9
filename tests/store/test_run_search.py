"""Store contract tests for finding runs, on every backend: sessions, search, sort orders
with keyset pages, totals for a filter, and what retention and verification do to the
summary row's session and search text."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from proctor.errors import UsageError
from proctor.store import (
    RUN_SORTS,
    RunFilter,
    RunFinished,
    RunJournal,
    RunRecord,
    RunSort,
    SQLiteStore,
    Store,
    Totals,
    check_session_key,
    search_terms,
    sort_key,
    verify_rows,
)
from support.store_runs import add_run


async def ids(store: Store, **query: Any) -> list[str]:
    if isinstance(store, SQLiteStore):  # through the search index (tests/store/test_text_index)
        await store.catch_up_search_index()
    return [run.run_id for run in await store.list_runs(RunFilter(**query))]


# Sessions ---------------------------------------------------------------------------------


async def test_a_sessions_runs_are_listed_in_start_order(store: Store) -> None:
    await add_run(store, "r2", at=2.0, session="chat-7")
    await add_run(store, "r1", at=1.0, session="chat-7")
    await add_run(store, "r3", at=3.0, session="chat-8")
    await add_run(store, "r4", at=4.0)
    await add_run(store, "r5", at=5.0, session="chat-7", tenant="globex")
    assert await ids(store, session="chat-7", tenant="default", sort="started") == ["r1", "r2"]
    assert await ids(store, session="chat-7") == ["r5", "r2", "r1"]  # newest first
    assert await ids(store, session="chat-9") == []
    stored = await store.get_run("r1")
    assert stored is not None
    assert stored.session == "chat-7"
    alone = await store.get_run("r4")
    assert alone is not None
    assert alone.session is None


def test_session_keys_are_checked() -> None:
    assert check_session_key("user-7:chat-42.v=1+x_y") == "user-7:chat-42.v=1+x_y"
    for bad, says in (
        ("", "must not be empty"),
        ("x" * 129, "more than 128"),
        ("-leading", "characters a session key cannot"),
        ("has space", "characters a session key cannot"),
        ("alice@example.com", "not personal data"),
        ("chat/7", "characters a session key cannot"),
    ):
        with pytest.raises(UsageError, match=says):
            check_session_key(bad)


# Search -----------------------------------------------------------------------------------


async def test_search_finds_run_ids_input_answer_and_tools(store: Store) -> None:
    await add_run(store, "run_aa01", at=1.0, input={"invoice": "INV-1001"}, tools="ocr.parse")
    await add_run(
        store,
        "run_bb02",
        at=2.0,
        input={"invoice": "INV-2002"},
        answer="Paid ACME Corp.",
        tools="ocr.parse erp.create_payment",
    )
    await add_run(store, "run_cc03", at=3.0, input={"note": "100%_sure"})
    await add_run(store, "run_dd04", at=4.0, input={"invoice": "INV-1001"}, tenant="globex")
    assert await ids(store, search="run_bb") == ["run_bb02"]  # an id prefix
    assert await ids(store, search="bb02") == []  # ...not any part of it
    assert await ids(store, search="inv-1001", tenant="default") == ["run_aa01"]
    assert await ids(store, search="acme corp") == ["run_bb02"]  # every word, any case
    assert await ids(store, search="acme inv-1001") == []
    assert await ids(store, search="erp.create") == ["run_bb02"]
    assert await ids(store, search="ocr.parse") == ["run_bb02", "run_aa01"]
    # LIKE's wildcards are literal text.
    assert await ids(store, search="100%_") == ["run_cc03"]
    assert await ids(store, search="%") == ["run_cc03"]
    await add_run(store, "run_ee05", at=5.0, answer="saved to C:\\inbox\\x")
    assert await ids(store, search="c:\\inbox") == ["run_ee05"]  # the escape is literal too
    assert await ids(store, search="\\") == ["run_ee05"]
    assert await ids(store, search="_") == ["run_cc03", "run_bb02"]  # not any character
    assert await ids(store, search="", tenant="default") == [
        "run_ee05",
        "run_cc03",
        "run_bb02",
        "run_aa01",
    ]


async def test_a_run_id_is_found_by_its_prefix_in_any_case(store: Store) -> None:
    # Ids a team gives its runs (a ticket's) may be upper case; a search word is not.
    await add_run(store, "SUP-1234", at=1.0)
    await add_run(store, "sup-9", at=2.0)
    assert await ids(store, search="SUP-12") == ["SUP-1234"]
    assert await ids(store, search="sup-12") == ["SUP-1234"]
    assert await ids(store, search="Sup-") == ["sup-9", "SUP-1234"]
    assert await ids(store, search="up-12") == []  # a prefix, not any part


def test_search_is_bounded() -> None:
    assert search_terms("  Acme  acme CORP ") == ("acme", "corp")
    with pytest.raises(UsageError, match="more than 8"):
        search_terms(" ".join(f"w{n}" for n in range(9)))
    with pytest.raises(UsageError, match="more than 200"):
        search_terms("x" * 201)
    with pytest.raises(UsageError, match="NUL"):
        search_terms("in\x00put")


# Sorting and pages ------------------------------------------------------------------------


async def _sortable(store: Store) -> list[RunRecord]:
    # Ties on every key but the run id, and an unknown cost.
    return [
        await add_run(store, "r1", at=1.0, cost=0.5, duration=3.0, status="finished"),
        await add_run(store, "r2", at=2.0, cost=None, duration=1.0, status="running"),
        await add_run(store, "r3", at=2.0, cost=0.5, duration=2.0, status="finished"),
        await add_run(store, "r4", at=4.0, cost=0.1, duration=2.0, status="awaiting_approval"),
        await add_run(store, "r5", at=5.0, cost=0.9, duration=0.5, status="finished"),
    ]


@pytest.mark.parametrize("sort", RUN_SORTS)
async def test_every_order_is_total_and_pages_by_keyset(store: Store, sort: RunSort) -> None:
    runs = await _sortable(store)
    expected = [
        run.run_id
        for run in sorted(runs, key=lambda run: sort_key(sort, run), reverse=sort[0] == "-")
    ]
    assert await ids(store, sort=sort) == expected
    paged: list[str] = []
    before = None
    while True:
        page = await store.list_runs(RunFilter(sort=sort, limit=2, before=before))
        paged += [run.run_id for run in page]
        if len(page) < 2:
            break
        before = sort_key(sort, page[-1])
    assert paged == expected


async def test_orders_put_what_people_look_for_first(store: Store) -> None:
    await _sortable(store)
    assert await ids(store, sort="-cost") == ["r5", "r3", "r1", "r4", "r2"]  # unknown last
    assert await ids(store, sort="-duration") == ["r1", "r4", "r3", "r2", "r5"]
    assert await ids(store, sort="status") == ["r4", "r1", "r3", "r5", "r2"]
    assert await ids(store, sort="started", search="", limit=2) == ["r1", "r2"]


# Totals -----------------------------------------------------------------------------------


async def test_totals_add_up_every_matching_run(store: Store) -> None:
    await add_run(store, "r1", at=1.0, cost=0.25, tokens=(10, 5), input={"q": "refund"})
    await add_run(store, "r2", at=2.0, cost=None, tokens=(7, 3), input={"q": "refund"})
    await add_run(store, "r3", at=3.0, cost=0.5, tokens=(1, 1))
    await add_run(store, "r4", at=4.0, cost=2.0, tokens=(100, 100), tenant="globex")
    mine = await store.run_totals(RunFilter(tenant="default", limit=1, before=(2.5, "r3")))
    assert (mine.runs, mine.cost_usd, mine.cost_unknown) == (3, 0.75, 1)  # limit, cursor aside
    assert (mine.input_tokens, mine.output_tokens) == (18, 9)
    found = await store.run_totals(RunFilter(tenant="default", search="refund"))
    assert (found.runs, found.cost_usd, found.cost_unknown) == (2, 0.25, 1)
    none = await store.run_totals(RunFilter(session="nobody"))
    assert (none.runs, none.cost_usd, none.input_tokens) == (0, 0.0, 0)


# Retention and verification ---------------------------------------------------------------


async def test_a_purge_clears_the_search_text_but_keeps_the_session(store: Store) -> None:
    run = await add_run(
        store, "r1", at=1.0, session="chat-7", input={"q": "secret"}, answer="Paid.", tools="t"
    )
    journal = RunJournal.resume(store, await store.events("r1"))
    journal.seal([RunFinished(outcome="resolved", reason="done", totals=Totals())])
    finished = dataclasses.replace(run, status="finished", outcome="resolved", finished_at=2.0)
    await journal.commit(run=finished)
    await store.purge_payloads("r1", at=3.0, reason="retention")
    purged = await store.get_run("r1")
    assert purged is not None
    assert (purged.input_text, purged.answer_text) == ("", "")
    assert (purged.session, purged.tools_used) == ("chat-7", "t")
    assert await ids(store, search="secret") == []


async def test_a_session_edited_in_the_runs_table_is_reported(store: Store) -> None:
    run = await add_run(store, "r1", at=1.0, session="chat-7")
    rows = await store.events("r1")
    assert verify_rows("r1", rows, run).ok
    for edited in ("chat-8", None):
        report = verify_rows("r1", rows, dataclasses.replace(run, session=edited))
        assert not report.ok
        assert "session" in str(report.problem)
    plain = await add_run(store, "r2", at=2.0)
    assert "session" not in (await store.events("r2"))[0].meta  # as before sessions
    report = verify_rows("r2", await store.events("r2"), dataclasses.replace(plain, session="x"))
    assert not report.ok


async def test_capped_totals_add_up_the_newest_runs(store: Store) -> None:
    for n, cost in enumerate((0.5, None, 0.25, 1.0)):
        await add_run(store, f"r{n}", at=float(n), cost=cost, tokens=(n, 1))
    newest = await store.run_totals(RunFilter(sort="cost"), cap=2)  # the order aside
    assert (newest.capped, newest.runs, newest.cost_usd, newest.cost_unknown) == (
        True,
        2,
        1.25,
        0,
    )
    assert (newest.input_tokens, newest.output_tokens) == (5, 2)
    exactly = await store.run_totals(RunFilter(), cap=4)
    assert (exactly.capped, exactly.runs, exactly.cost_usd, exactly.cost_unknown) == (
        False,
        4,
        1.75,
        1,
    )
    assert not (await store.run_totals(RunFilter(), cap=5)).capped
    assert (await store.run_totals(RunFilter(search="zebra"), cap=1)).runs == 0
