"""``--json`` of the listings and reports that print tables: each parses, has the keys
docs/cli.md gives it, and writes times as the HTTP API does (ISO 8601, UTC, milliseconds).

``rollout promote --json`` is tested beside ``rollout promote`` (test_cli_report.py).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import sqlite3
from contextlib import closing
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from cli_harness import ISO_TIME, Ran, documented_json, proctor_main

from proctor.contracts import load_contract
from proctor.examples import invoice
from proctor.runtime import Runner
from proctor.store import open_store


def _json(ran: Ran, code: int = 0) -> Any:
    assert ran.code == code, str(ran)
    assert ran.err == "", str(ran)
    return json.loads(ran.out)


def _keys(command: str, document: dict[str, Any], items: str | None = None) -> None:
    """``document`` has the keys docs/cli.md gives ``command``, and so has each item."""
    top, each = documented_json(command)
    assert set(document) == top
    for item in document[items] if items else []:
        assert set(item) == each


def _iso(value: Any) -> None:
    assert isinstance(value, str), value
    assert re.fullmatch(ISO_TIME, value), value


def _start(sample: str, contract: Path | None = None) -> str:
    """A run of the invoice example in this test's store (``$PROCTOR_HOME``); its id."""
    flow = invoice.workflow()
    if contract is not None:
        flow = dataclasses.replace(flow, contract=load_contract(contract))

    async def main() -> str:
        store = open_store()
        try:
            return (await Runner(store, flow).start(invoice.sample_input(sample))).run_id
        finally:
            await store.close()

    return asyncio.run(main())


def _shipped_contract() -> str:
    with resources.as_file(
        resources.files("proctor.examples.invoice").joinpath("contract.yaml")
    ) as path:
        return path.read_text()


def _sql(home: Path, statement: str, *args: object) -> None:
    with closing(sqlite3.connect(home / "proctor.db")) as db:
        db.execute(statement, args)
        db.commit()


def test_queue(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert proctor_main("db", "upgrade", capsys=capsys).code == 0  # an empty store
    assert _json(proctor_main("queue", "--json", capsys=capsys)) == {"items": []}
    sample = tmp_path / "clean.json"
    sample.write_text(json.dumps(invoice.sample_input("clean")))
    submitted = proctor_main(
        "submit", "invoice_reconciliation", "-i", str(sample), "--priority", "3", capsys=capsys
    )
    assert submitted.code == 0, str(submitted)

    listed = _json(proctor_main("queue", "--json", capsys=capsys))

    _keys("queue", listed, "items")
    [item] = listed["items"]
    assert item["run_id"] == submitted.out.strip()
    assert (item["workflow"], item["state"], item["priority"]) == (
        "invoice_reconciliation",
        "queued",
        3,
    )
    _iso(item["submitted_at"])
    assert item["lease_until"] is item["finished_at"] is item["worker"] is None


def test_contract_versions_and_diff(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert proctor_main("db", "upgrade", capsys=capsys).code == 0  # an empty store
    assert _json(proctor_main("contract", "versions", "--json", capsys=capsys)) == {"versions": []}
    _start("clean")
    _start("clean")

    listed = _json(proctor_main("contract", "versions", "--json", capsys=capsys))

    _keys("contract versions", listed, "versions")
    [version] = listed["versions"]
    assert (version["workflow"], version["version"], version["runs"]) == (
        "invoice_reconciliation",
        "1",
        2,
    )
    assert version["retention_days"] is None
    assert len(version["content_hash"]) == 64
    _iso(version["created_at"])

    changed = tmp_path / "v2.yaml"
    changed.write_text(_shipped_contract().replace("max_tool_calls: 6", "max_tool_calls: 8"))
    diff = _json(
        proctor_main(
            "contract", "diff", version["content_hash"][:8], str(changed), "--json", capsys=capsys
        )
    )
    _keys("contract diff", diff, "changes")
    assert diff["same"] is False
    assert diff["changes"] == [
        {"path": "limits.max_tool_calls", "kind": "changed", "before": 6, "after": 8}
    ]
    assert "-  max_tool_calls: 6\n+  max_tool_calls: 8" in diff["unified"]


def test_db_status(proctor_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = _json(proctor_main("db", "status", "--json", capsys=capsys))
    _keys("db status", before)
    assert (before["backend"], before["schema_version"], before["state"]) == ("sqlite", 0, "none")
    assert before["location"] == str(proctor_home / "proctor.db")

    assert proctor_main("db", "upgrade", capsys=capsys).code == 0
    after = _json(proctor_main("db", "status", "--json", capsys=capsys))

    assert after["state"] == "current"
    assert after["schema_version"] == after["supported_version"] > 0


def test_retention_apply(
    tmp_path: Path, proctor_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kept = tmp_path / "kept.yaml"
    kept.write_text(_shipped_contract().replace('version: "1"', 'version: "2"\nretention_days: 1'))
    expiring = _start("clean", kept)
    _start("clean")  # kept forever: its contract sets no retention_days
    _sql(proctor_home, "UPDATE runs SET finished_at = finished_at - 2 * 86400")

    dry = _json(proctor_main("retention", "apply", "--dry-run", "--json", capsys=capsys))
    done = _json(proctor_main("retention", "apply", "--json", capsys=capsys))
    again = _json(proctor_main("retention", "apply", "--json", capsys=capsys))

    _keys("retention apply", dry, "items")
    [item] = dry["items"]
    assert (item["run_id"], item["retention_days"]) == (expiring, 1)
    assert item["events"] > 0
    assert item["bytes"] > 0
    _iso(item["finished_at"])
    _iso(dry["at"])
    assert dry["dry_run"] is True
    assert (dry["runs"], dry["events"], dry["bytes"]) == (1, item["events"], item["bytes"])
    assert done["dry_run"] is False
    assert done["items"] == dry["items"]
    assert (again["runs"], again["items"]) == (0, [])


def test_audit_verify(proctor_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first, second = _start("clean"), _start("over_threshold")

    verified = _json(proctor_main("audit", "verify", "--json", capsys=capsys))

    _keys("audit verify", verified, "runs")
    _iso(verified["verified_at"])
    assert (verified["ok"], verified["macs_checked"], verified["problems"]) == (True, True, [])
    assert {run["run_id"] for run in verified["runs"]} == {first, second}
    for run in verified["runs"]:
        assert run["ok"] is True
        assert run["problem"] is run["bad_seq"] is None
        assert len(run["head_hash"]) == 64
        assert 0 <= run["signed_through"] < run["events"]

    _sql(
        proctor_home, "UPDATE events SET meta = replace(meta, 'erp', 'ERP') WHERE run_id = ?", first
    )
    broken = _json(proctor_main("audit", "verify", "--json", capsys=capsys), code=1)
    one = _json(proctor_main("audit", "verify", second, "--json", capsys=capsys))

    assert broken["ok"] is False
    [bad] = [run for run in broken["runs"] if not run["ok"]]
    assert bad["run_id"] == first
    assert isinstance(bad["bad_seq"], int)
    assert "was edited" in bad["problem"]
    assert [run["run_id"] for run in one["runs"]] == [second]
    assert one["ok"] is True


def test_runs_trace_approvals_and_keys_read_as_the_api_answers(
    capsys: pytest.CaptureFixture[str],
) -> None:
    clean, waiting = _start("clean"), _start("over_threshold")

    listed = _json(proctor_main("runs", "--json", capsys=capsys))
    _keys("runs", listed, "runs")
    runs = {run["run_id"]: run for run in listed["runs"]}
    assert runs[clean]["outcome"] == "resolved"
    assert runs[clean]["pending_approval"] is None
    assert runs[clean]["contract_version"] == "1"
    assert runs[clean]["totals"]["tool_calls"] == 5
    assert re.fullmatch(r"[0-9a-f]{32}", runs[clean]["trace_id"])
    _iso(runs[clean]["started_at"])
    _iso(runs[clean]["finished_at"])
    assert runs[waiting]["finished_at"] is None

    pending = _json(proctor_main("approvals", "--json", capsys=capsys))
    _keys("approvals", pending, "approvals")
    [approval] = pending["approvals"]
    assert runs[waiting]["pending_approval"] == approval["approval_id"]
    assert (approval["run_id"], approval["status"]) == (waiting, "pending")
    _iso(approval["requested_at"])

    traced = _json(proctor_main("trace", clean, "--json", capsys=capsys))
    _keys("trace RUN", traced, "events")
    assert traced["run"] == runs[clean]
    assert [event["seq"] for event in traced["events"]] == list(range(len(traced["events"])))
    assert traced["events"][-1]["type"] == "run_finished"
    _iso(traced["events"][0]["ts"])

    made = proctor_main(
        "keys", "create", "--role", "viewer", "--tenant", "default", "--json", capsys=capsys
    )
    assert made.code == 0, str(made)
    keys = _json(proctor_main("keys", "list", "--json", capsys=capsys))
    _keys("keys list", keys, "keys")
    [key] = keys["keys"]
    assert key["key_id"] == json.loads(made.out)["key_id"]
    _iso(key["created_at"])
    assert key["revoked_at"] is None
