"""``RunJournal(redact=...)``: the seam where the record is redacted before it is hashed.

The store knows nothing of detectors; it calls the function it is given on each event's
content and on the prose of its metadata, and hashes what that returns.
"""

from __future__ import annotations

from typing import Any

from proctor.store import (
    EventData,
    PolicyDecided,
    RunJournal,
    RunStarted,
    Store,
    ToolFinished,
    ToolStarted,
    digest,
    verify_run,
)

SECRET = "hunter2"


def hide(data: dict[str, Any]) -> dict[str, Any]:
    """A stand-in redactor: every string holding the secret becomes a placeholder."""

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return "[secret:redacted]" if SECRET in value else value
        if isinstance(value, dict):
            return {key: walk(item) for key, item in value.items()}
        if isinstance(value, list):
            return [walk(item) for item in value]
        return value

    result: dict[str, Any] = walk(data)
    return result


async def test_content_and_reasons_are_redacted_before_hashing(store: Store) -> None:
    journal = RunJournal(store, run_id="run-1", trace_id="t" * 32, root_span_id="root", redact=hide)
    items: list[EventData] = [
        RunStarted(
            workflow="w",
            model="m",
            contract_name="w",
            contract_version="1",
            contract_hash="c" * 64,
            input={"password": SECRET, "n": 3},
        ),
        PolicyDecided(
            call_id="call-1",
            tool="crm.lookup",
            decision="deny",
            rule="schema.invalid_arguments",
            reason=f"bad arguments: {SECRET!r}",
        ),
        ToolStarted(call_id="call-1", tool="crm.lookup", idempotency_key="run-1:0"),
        ToolFinished(
            call_id="call-1", tool="crm.lookup", ok=False, latency_ms=1.5, error=f"no {SECRET}"
        ),
    ]

    built = [journal.build(item, span_id="call-1") for item in items]
    await store.append([row for row, _ in built])

    rows = await store.events("run-1")
    assert rows[0].content == {
        "input": {"password": "[secret:redacted]", "n": 3},
        "instructions": "",
    }
    assert rows[1].meta["reason"] == "[secret:redacted]"
    assert rows[3].content == {"result": None, "error": "[secret:redacted]"}
    # Structural metadata is hashed as it was: ids, names, figures, the contract's hash.
    assert rows[0].meta["contract_hash"] == "c" * 64
    assert rows[3].meta == {
        "type": "tool_finished",
        "call_id": "call-1",
        "tool": "crm.lookup",
        "ok": False,
        "latency_ms": 1.5,
        "error_type": None,
    }
    assert all(row.content_digest == digest(row.content) for row in rows)
    assert (await verify_run(store, "run-1")).ok
    # The live run keeps the real values.
    started = built[0][1].data
    assert isinstance(started, RunStarted)
    assert started.input == {"password": SECRET, "n": 3}
    assert built[1][1].data == items[1]


async def test_without_a_redactor_the_record_is_the_data(store: Store) -> None:
    journal = RunJournal(store, run_id="run-1", trace_id="t" * 32, root_span_id="root")
    finished = ToolFinished(call_id="c", tool="t", ok=True, latency_ms=0.0, result=SECRET)

    row, _ = journal.build(finished)

    assert row.content == {"result": SECRET, "error": None}
