"""``/api/v1/runs/{run_id}/events/stream``: a run's events live, as Server-Sent Events."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2

from proctor.server import create_api_key
from proctor.server._api_stream import follow
from proctor.server._serve import build_app, server_thread
from proctor.store import EventRow, RunFinished, RunJournal, SQLiteStore, Store, Totals
from server.api_harness import Api, error_of, record_run


@dataclass(frozen=True)
class Message:
    event: str
    data: str
    id: str | None = None

    def json(self) -> Any:
        return json.loads(self.data)


def messages(lines: Iterator[str]) -> Iterator[Message]:
    """SSE messages from a stream's lines (comments skipped)."""
    fields: dict[str, str] = {}
    for line in lines:
        if not line:
            if fields:
                yield Message(
                    event=fields.get("event", "message"), data=fields["data"], id=fields.get("id")
                )
                fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(": ")
            fields[name] = value


def test_a_waiting_run_streams_live_through_its_approval_to_the_end(api: Api) -> None:
    run_id = api.start("over_threshold")
    approval_id = api.settled(run_id)["pending_approval"]
    seen: list[Message] = []
    path = f"/api/v1/runs/{run_id}/events/stream"
    with api.client.stream("GET", path, headers=api.auth("viewer")) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        assert "content-encoding" not in response.headers  # compression would hold events back
        stream = messages(response.iter_lines())
        for message in stream:
            seen.append(message)
            if message.event == "checker_decided":
                break  # the backlog is through: the run waits for a person now
        decided = api.post(f"/api/v1/approvals/{approval_id}/approve", {"reason": "ok"}, "approver")
        assert decided.status_code == 200, decided.text
        for message in stream:
            seen.append(message)
    types = [m.event for m in seen]
    assert types[0] == "run_started"
    assert types[-2:] == ["run_finished", "end"]
    assert {"approval_requested", "approval_decided", "run_resumed"} <= set(types)
    assert types.index("approval_requested") < types.index("approval_decided")
    events = seen[:-1]
    assert [m.id for m in events] == [str(n) for n in range(len(events))]
    assert [m.json()["type"] for m in events] == types[:-1]
    assert seen[-1].json() == {
        "run_id": run_id,
        "last_seq": len(events) - 1,
        "status": "finished",
        "outcome": "resolved",
    }
    stored = api.get(f"/api/v1/runs/{run_id}/events", limit=1000).json()["events"]
    assert [m.json() for m in events] == stored


def read_all(api: Api, run_id: str, *, last_id: str | None = None, **params: Any) -> list[Message]:
    headers = api.auth() if last_id is None else {**api.auth(), "Last-Event-ID": last_id}
    path = f"/api/v1/runs/{run_id}/events/stream"
    with api.client.stream("GET", path, headers=headers, params=params) as response:
        assert response.status_code == 200
        return list(messages(response.iter_lines()))


def test_a_finished_run_streams_its_log_and_ends(api: Api) -> None:
    run_id = api.start("clean")
    api.settled(run_id)
    seen = read_all(api, run_id)
    assert seen[0].event == "run_started"
    assert [m.event for m in seen[-2:]] == ["run_finished", "end"]


def test_a_reconnecting_client_goes_on_after_the_last_id_it_saw(api: Api) -> None:
    run_id = api.start("clean")
    api.settled(run_id)
    total = len(read_all(api, run_id)) - 1
    resumed = read_all(api, run_id, last_id="4")
    assert [m.id for m in resumed[:-1]] == [str(n) for n in range(5, total)]
    by_query = read_all(api, run_id, after=total - 2)
    assert [m.event for m in by_query] == ["run_finished", "end"]
    # Having seen everything, a client is told the end at once.
    caught_up = read_all(api, run_id, last_id=str(total - 1))
    assert [m.event for m in caught_up] == ["end"]


def test_a_bad_last_event_id_is_a_bad_request(api: Api) -> None:
    run_id = api.start("clean")
    response = api.client.get(
        f"/api/v1/runs/{run_id}/events/stream", headers={**api.auth(), "Last-Event-ID": "x"}
    )
    code, message = error_of(response, 400)
    assert code == "bad_request"
    assert "Last-Event-ID" in message


def test_streaming_a_missing_run_is_not_found_before_any_event(api: Api) -> None:
    response = api.client.get("/api/v1/runs/run_nope/events/stream", headers=api.auth())
    assert error_of(response, 404)[0] == "not_found"


class CountingStore:
    """A store whose ``events`` calls are recorded: (run_id, after)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.reads: list[int] = []

    async def events(
        self,
        run_id: str,
        *,
        after: int = -1,
        limit: int | None = None,
        event_type: str | None = None,
    ) -> list[EventRow]:
        self.reads.append(after)
        return await self.store.events(run_id, after=after, limit=limit, event_type=event_type)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


async def test_follow_reads_only_new_events_and_keeps_quiet_streams_alive(store: Store) -> None:
    run_id = await record_run(store, outcome=None)
    counting = CountingStore(store)
    stream = follow(counting, run_id, after=-1, poll_s=0.005, keepalive_s=0.02)
    first = await anext(stream)
    assert first.startswith("id: 0\nevent: run_started\ndata: {")
    assert await anext(stream) == ": keep-alive\n\n"
    assert set(counting.reads[1:]) == {0}  # never the whole log again

    record = await store.get_run(run_id)
    assert record is not None
    journal = RunJournal(
        store,
        run_id=run_id,
        trace_id=record.trace_id,
        root_span_id="root",
        last_seq=record.last_seq,
        head_hash=record.head_hash,
    )
    record.status, record.outcome = "finished", "resolved"
    await journal.append(
        [RunFinished(outcome="resolved", reason="done", totals=Totals())], run=record
    )
    rest = [message async for message in stream]
    assert rest[0].startswith("id: 1\nevent: run_finished\n")
    assert rest[-1].startswith("event: end\n")
    assert set(counting.reads[1:]) == {0}


def test_the_stream_stops_when_the_client_goes_away(tmp_path: Path, proctor_home: Path) -> None:
    store = SQLiteStore(tmp_path / "live.db")
    counting = CountingStore(store)
    try:
        _, token = asyncio.run(create_api_key(store, role="viewer", tenant="acme"))
        run_id = asyncio.run(record_run(store, outcome=None))
        app = build_app(counting, home=proctor_home)
        with server_thread(app) as url, httpx2.Client(base_url=url, timeout=10) as client:
            path = f"/api/v1/runs/{run_id}/events/stream"
            headers = {"Authorization": f"Bearer {token}"}
            with client.stream("GET", path, headers=headers) as response:
                assert response.status_code == 200
                for line in response.iter_lines():
                    if line.startswith("event: "):
                        assert line == "event: run_started"
                        break
            time.sleep(0.5)
            reads = len(counting.reads)
            time.sleep(0.6)  # three polls' worth
            assert len(counting.reads) == reads
    finally:
        asyncio.run(store.close())


def test_an_open_stream_does_not_hold_the_server_when_it_stops(
    tmp_path: Path, proctor_home: Path
) -> None:
    store = SQLiteStore(tmp_path / "live.db")
    try:
        _, token = asyncio.run(create_api_key(store, role="viewer", tenant="acme"))
        run_id = asyncio.run(record_run(store, outcome=None))  # never finishes
        app = build_app(store, home=proctor_home)
        with httpx2.Client(timeout=10) as client:
            with server_thread(app) as url:
                request = client.build_request(
                    "GET",
                    f"{url}/api/v1/runs/{run_id}/events/stream",
                    headers={"Authorization": f"Bearer {token}"},
                )
                response = client.send(request, stream=True)
                assert response.status_code == 200
                stopping = time.monotonic()
            assert time.monotonic() - stopping < 3  # not uvicorn's 10 s graceful timeout
            lines = list(response.iter_lines())
            response.close()
        assert "event: run_started" in lines
        assert "event: end" not in lines  # the run did not finish: the client reconnects
    finally:
        asyncio.run(store.close())
