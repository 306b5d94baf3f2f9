"""The run receipt: every fact a reviewer needs, as JSON and as one offline HTML page."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import pytest

from proctor.audit import (
    FORMAT_VERSION,
    build_receipt,
    receipt_dict,
    receipt_html,
    receipt_json,
)
from proctor.errors import NotFoundError
from proctor.examples import invoice
from proctor.store import (
    Store,
    load_evidence_keys,
)
from support.invoice_runs import approved_run
from support.raw_sql import execute_raw, next_row

PROCEDURE = [
    "ocr.parse_invoice",
    "erp.lookup_vendor",
    "erp.fetch_po",
    "policy.check_thresholds",
    "erp.create_payment",
]
NOW = 1_900_000_000.0


@pytest.fixture
async def approved(store: Store) -> str:
    """The id of a resolved run with one approval (started by alice, approved by bob)."""
    return await approved_run(store)


async def exported(store: Store, run_id: str) -> dict[str, Any]:
    receipt = await build_receipt(store, run_id, now=NOW)
    value: dict[str, Any] = json.loads(receipt_json(receipt))
    assert value == receipt_dict(receipt)
    return value


async def test_the_json_receipt_tells_the_whole_run(store: Store, approved: str) -> None:
    record = await store.get_run(approved)
    assert record is not None
    receipt = await exported(store, approved)
    terms = invoice.contract()

    assert receipt["format_version"] == FORMAT_VERSION == 1
    assert set(receipt) == {
        "format_version",
        "generated_at",
        "generator",
        "run",
        "contract",
        "totals",
        "verification",
        "model_calls",
        "tool_calls",
        "approvals",
        "credentials",
        "notices",
        "purge",
        "events",
    }
    run = receipt["run"]
    assert (run["run_id"], run["workflow"], run["started_by"]) == (
        approved,
        "invoice_reconciliation",
        "cli:alice",
    )
    assert run["input"] == invoice.sample_input("over_threshold")
    assert not run["input_purged"]
    assert (run["status"], run["outcome"]) == ("finished", "resolved")
    assert "PAY-" in run["final_text"]
    assert receipt["contract"] == {
        "name": "invoice_reconciliation",
        "version": terms.version,
        "hash": terms.content_hash,
        "stored": True,
        "retention_days": None,
    }

    models = receipt["model_calls"]
    turns = [c for c in models if c["kind"] == "turn"]
    assert len(turns) == receipt["totals"]["model_calls"] == record.model_calls
    # The payment over the threshold was checked by the checker model first.
    assert [c["model"] for c in models if c["kind"] == "checker"] == ["scripted:checker"]
    for call in models:
        assert call["model"] in ("scripted:procedure", "scripted:checker")
        assert call["input_tokens"] > 0
        assert call["cost_usd"] > 0
        assert call["latency_ms"] >= 0
    assert sum(c["input_tokens"] for c in models) == receipt["totals"]["input_tokens"]
    assert receipt["totals"]["cost_usd"] == pytest.approx(record.cost_usd)

    calls = receipt["tool_calls"]
    assert [c["tool"] for c in calls] == PROCEDURE
    assert {c["status"] for c in calls} == {"succeeded"}
    for call in calls[:-1]:
        assert (call["decision"], call["rule"]) == ("allow", "default.allow")
        assert call["reason"]
    payment = calls[-1]
    assert [(d["decision"], d["rule"]) for d in payment["decisions"]] == [
        ("require_approval", "approval.erp.create_payment"),
        ("allow", "approval.granted"),
    ]
    assert payment["arguments"]["amount"] == 24500.0
    assert payment["idempotency_key"] == f"{approved}:4"
    assert payment["result"]["payment_id"].startswith("PAY-")

    [approval] = receipt["approvals"]
    assert approval["approval_id"] == payment["approval_id"]
    assert (approval["status"], approval["decided_by"]) == ("approved", "bob")
    assert approval["decision_reason"] == "checked with AP"
    assert "10,000" in approval["reason"]

    check = receipt["verification"]
    assert check["ok"] is True
    assert check["events"] == len(receipt["events"]) == record.last_seq + 1
    assert check["head_hash"] == record.head_hash == receipt["events"][-1]["hash"]
    assert check["command"] == f"proctor audit verify {approved}"
    assert receipt["purge"] is None
    assert receipt["generated_at"] == "2030-03-17T17:46:40.000Z"


async def test_the_html_receipt_is_self_contained_and_states_the_key_facts(
    store: Store, approved: str
) -> None:
    receipt = await build_receipt(store, approved, now=NOW)
    page = receipt_html(receipt)

    assert page.startswith("<!doctype html>")
    for external in ("http://", "https://", "src=", "<script", "<link", "url(", "@import"):
        assert external not in page, f"the receipt must not load {external!r}"
    for fact in (
        approved,
        "resolved",
        "cli:alice",
        "bob",
        "checked with AP",
        receipt.contract.hash,
        receipt.verification.head_hash,
        f"proctor audit verify {approved}",
        "Chain verified: yes",
        "approval.granted",
        "[approval.erp.create_payment]",
        f"${receipt.totals.cost_usd:.6f}",
        *PROCEDURE,
    ):
        assert fact in page, fact


async def test_a_retention_of_one_day_reads_in_the_singular(store: Store, approved: str) -> None:
    receipt = await build_receipt(store, approved, now=NOW)
    for days, said in ((1, "purged 1 day after"), (30, "purged 30 days after")):
        contract = dataclasses.replace(receipt.contract, retention_days=days)
        assert said in receipt_html(dataclasses.replace(receipt, contract=contract))


async def test_values_from_the_log_are_escaped(store: Store) -> None:
    flow = invoice.workflow()
    from proctor.runtime import Runner

    hostile = {"invoice_text": "<script>alert('x')</script> <img src=https://evil.example/x>"}
    result = await Runner(store, flow).start(hostile, started_by="<b>mallory</b>")
    page = receipt_html(await build_receipt(store, result.run_id))

    assert "<script" not in page
    assert "<img" not in page
    assert "<b>mallory" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "&lt;b&gt;mallory&lt;/b&gt;" in page


async def test_a_tampered_log_is_exported_as_failing_verification(
    store: Store, approved: str, tmp_path: Path
) -> None:
    await execute_raw(
        store,
        "UPDATE events SET meta = replace(meta, '\"bob\"', '\"mallory\"') "
        "WHERE run_id = ? AND type = 'approval_decided'",
        (approved,),
    )

    receipt = await build_receipt(store, approved)

    assert not receipt.verification.ok
    assert receipt.verification.problem is not None
    assert "(approval_decided) was edited" in receipt.verification.problem
    assert "Chain verified: NO" in receipt_html(receipt)
    assert json.loads(receipt_json(receipt))["verification"]["ok"] is False


async def _append_raw(store: Store, run_id: str, meta: dict[str, Any], content: Any) -> None:
    """Append an event as a newer Proctor might write it, bypassing the typed journal."""
    row = next_row(await store.events(run_id), meta, content)
    row.mac = load_evidence_keys().mac(row.hash)  # the keys of the process (PROCTOR_HOME)
    record = await store.get_run(run_id)
    assert record is not None
    record.last_seq, record.head_hash = row.seq, row.hash
    await store.append([row], run=record)


async def test_credentials_show_scopes_and_expiry_and_unknown_events_their_metadata(
    store: Store, approved: str
) -> None:
    await _append_raw(
        store,
        approved,
        {
            "type": "credential_issued",
            "call_id": "call_4_0",
            "tool": "erp.create_payment",
            "jti": "cred-1",
            "actions": ["payment.create"],
            "limits": {"max_amount": 50000},
            "issued_at": NOW,
            "expires_at": NOW + 60,
            "token": "eyJ-the-secret",
        },
        {"resources": ["vendor:V-1002"]},
    )
    await _append_raw(
        store,
        approved,
        {"type": "quantum_checked", "verdict": "entangled", "qubits": 3},
        {"secret_payload": "not for the receipt"},
    )

    receipt = await build_receipt(store, approved)
    page = receipt_html(receipt)

    # The shipped example may issue credentials of its own: pick out this one.
    [credential] = [c for c in receipt.credentials if c.details.get("jti") == "cred-1"]
    assert credential.tool == "erp.create_payment"
    assert credential.details["actions"] == ["payment.create"]
    assert credential.details["resources"] == ["vendor:V-1002"]
    assert credential.details["expires_at"] == "2030-03-17T17:47:40.000Z"
    assert "token" not in credential.details
    assert "eyJ-the-secret" not in page + receipt_json(receipt)
    assert "payment.create" in page

    [notice] = [n for n in receipt.notices if n.type == "quantum_checked"]
    assert notice.details == {"verdict": "entangled", "qubits": 3}
    assert "quantum_checked" in page
    assert "not for the receipt" not in page + receipt_json(receipt)
    assert receipt.verification.ok


async def test_an_unknown_run_is_a_not_found_error(store: Store) -> None:
    with pytest.raises(NotFoundError, match=r"no run 'run_nope'.*proctor runs"):
        await build_receipt(store, "run_nope")


async def test_a_waiting_run_shows_its_pending_approval(store: Store) -> None:
    from proctor.runtime import Runner

    result = await Runner(store, invoice.workflow()).start(invoice.sample_input("over_threshold"))
    receipt = await build_receipt(store, result.run_id)

    assert receipt.run.status == "awaiting_approval"
    assert receipt.run.outcome is None
    assert receipt.tool_calls[-1].status == "awaiting_approval"
    [approval] = receipt.approvals
    assert (approval.status, approval.decided_by) == ("pending", None)
    assert re.search(
        r"<span class=\"badge [a-z]+\">awaiting_approval</span>", receipt_html(receipt)
    )
