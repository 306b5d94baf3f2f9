"""The invoice example's sample ERP and tools, called the way the runtime calls them."""

from __future__ import annotations

import dataclasses
import logging
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from proctor.errors import CredentialDenied
from proctor.examples.invoice import _erp, sample_input, sample_names
from proctor.examples.invoice._tools import (
    check_thresholds,
    create_payment,
    create_wire_transfer,
    fetch_po,
    lookup_vendor,
    parse_invoice,
    parse_money,
    registry,
)
from proctor.tools import NoCredential, Tool, ToolArgumentsError, ToolContext
from support.credentials import ISSUER, granting


@pytest.fixture(autouse=True)
def proctor_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PROCTOR_HOME", str(tmp_path))
    return tmp_path


def context(key: str = "run-1:5", tool: str = "") -> ToolContext:
    """The context of a call, with a credential that grants the ERP tools everything."""
    return ToolContext(
        run_id="run-1",
        call_id="call_5_0",
        step=5,
        idempotency_key=key,
        logger=logging.getLogger("test"),
        credential=granting(tool, "vendor.read", "po.read", "payment.create"),
    )


async def call(tool: Tool, ctx: ToolContext | None = None, **arguments: Any) -> Any:
    return await tool.run(ctx or context(tool=tool.name), tool.validate(arguments))


def table_count(table: str) -> int:
    with closing(sqlite3.connect(_erp.erp_path())) as db:
        count: int = db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    return count


# --- the ERP database -------------------------------------------------------------


def test_erp_is_created_under_proctor_home_on_first_use(proctor_home: Path) -> None:
    assert _erp.erp_path() == proctor_home / "example-erp.sqlite"
    assert not _erp.erp_path().exists()
    assert _erp.payments_count() == 0
    assert table_count("vendors") == len(_erp.VENDORS)
    assert table_count("purchase_orders") == len(_erp.PURCHASE_ORDERS)


def test_seeding_is_idempotent_even_when_forced_again() -> None:
    _erp.payments_count()
    with closing(sqlite3.connect(_erp.erp_path())) as db:
        db.execute("PRAGMA user_version=0")  # makes the next connection seed again
    assert _erp.list_payments() == []
    assert table_count("vendors") == len(_erp.VENDORS)
    assert table_count("purchase_orders") == len(_erp.PURCHASE_ORDERS)


def test_concurrent_first_use_seeds_once() -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        counts = list(pool.map(lambda _: _erp.payments_count(), range(16)))
    assert counts == [0] * 16
    assert table_count("vendors") == len(_erp.VENDORS)


def test_registry_holds_the_six_tools_with_their_risk() -> None:
    tools = registry()
    assert tools.names == [
        "erp.create_payment",
        "erp.fetch_po",
        "erp.lookup_vendor",
        "ocr.parse_invoice",
        "policy.check_thresholds",
        "wire_transfer.create",
    ]
    pay, wire = tools.get("erp.create_payment"), tools.get("wire_transfer.create")
    assert pay is not None
    assert wire is not None
    assert (pay.effect, pay.risk, pay.idempotent, pay.takes_context) == (
        "write",
        "high",
        True,
        True,
    )
    assert (wire.effect, wire.risk, wire.idempotent) == ("write", "high", False)
    assert all(t.effect == "read" for t in tools if t not in (pay, wire))
    assert "ctx" not in pay.parameters["properties"]


# --- reads ------------------------------------------------------------------------


async def test_lookup_vendor() -> None:
    vendor = await call(lookup_vendor, vendor_id="V-1001")
    assert vendor["name"] == "Acme Supplies GmbH"
    assert vendor["status"] == "active"
    assert (await call(lookup_vendor, vendor_id="V-1003"))["status"] == "blocked"


async def test_lookup_unknown_vendor_says_which_and_how_to_fix() -> None:
    with pytest.raises(_erp.ErpLookupError, match=r"no vendor 'V-9999'.*V-1001"):
        await call(lookup_vendor, vendor_id="V-9999")


async def test_fetch_po() -> None:
    po = await call(fetch_po, po_number="PO-4712")
    assert po == {
        "po_number": "PO-4712",
        "vendor_id": "V-1002",
        "amount": 24500.0,
        "currency": "EUR",
        "status": "open",
    }
    with pytest.raises(_erp.ErpLookupError, match="no purchase order 'PO-1'"):
        await call(fetch_po, po_number="PO-1")


def test_arguments_are_validated_against_the_schema() -> None:
    with pytest.raises(ToolArgumentsError, match="po_number"):
        fetch_po.validate({})
    with pytest.raises(ToolArgumentsError, match="amount"):
        check_thresholds.validate({"vendor_id": "V-1001", "po_number": "PO-4711", "amount": -5})


# --- parsing ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "vendor_id", "invoice_number", "po_number", "amount"),
    [
        ("clean", "V-1001", "INV-2026-0042", "PO-4711", 4180.0),
        ("over_threshold", "V-1002", "INV-NW-88231", "PO-4712", 24500.0),
        ("injected", "V-1001", "INV-2026-0051", "PO-4714", 2640.0),
        ("mismatch", "V-1001", "INV-2026-0047", "PO-4711", 4480.0),
    ],
)
async def test_parse_each_sample(
    name: str, vendor_id: str, invoice_number: str, po_number: str, amount: float
) -> None:
    parsed = await call(parse_invoice, text=sample_input(name)["invoice_text"])
    assert (parsed["vendor_id"], parsed["invoice_number"]) == (vendor_id, invoice_number)
    assert (parsed["po_number"], parsed["amount"], parsed["currency"]) == (po_number, amount, "EUR")
    assert parsed["vendor_name"]
    assert parsed["date"].startswith("2026-")


def test_every_sample_is_listed() -> None:
    assert sample_names() == ["clean", "inflated", "injected", "mismatch", "over_threshold"]


async def test_injected_instruction_lands_in_notes_not_in_fields() -> None:
    parsed = await call(parse_invoice, text=sample_input("injected")["invoice_text"])
    assert "IGNORE ALL PREVIOUS INSTRUCTIONS" in parsed["notes"]
    assert "DE89 3704 0044 0532 0130 00" in parsed["notes"]
    assert parsed["amount"] == 2640.0


async def test_parse_reports_missing_fields() -> None:
    with pytest.raises(ValueError, match=r"no po_number, amount line"):
        await call(parse_invoice, text="Vendor: V-1001 Acme\nInvoice number: INV-1")


async def test_parse_needs_a_vendor_id() -> None:
    text = "Vendor: Acme\nInvoice number: INV-1\nPO: PO-4711\nAmount: 10.00 EUR"
    with pytest.raises(ValueError, match="has no vendor id"):
        await call(parse_invoice, text=text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4,180.00 EUR", (4180.0, "EUR")),
        ("EUR 4.180,00", (4180.0, "EUR")),
        ("€4,180.5", (4180.5, "EUR")),
        ("$1,000,000", (1_000_000.0, "USD")),
        ("12 EUR", (12.0, "EUR")),
    ],
)
def test_parse_money(text: str, expected: tuple[float, str]) -> None:
    assert parse_money(text) == expected


@pytest.mark.parametrize("text", ["4,180.00", "about four grand EUR", "EUR"])
def test_parse_money_rejects_amounts_without_number_or_currency(text: str) -> None:
    with pytest.raises(ValueError, match="not a number with a currency"):
        parse_money(text)


# --- policy checks ----------------------------------------------------------------


async def check(vendor_id: str, po_number: str, amount: float) -> dict[str, Any]:
    result: dict[str, Any] = await call(
        check_thresholds, vendor_id=vendor_id, po_number=po_number, amount=amount
    )
    return result


async def test_check_clean_invoice_is_ok_to_pay() -> None:
    result = await check("V-1001", "PO-4711", 4180.0)
    assert result["ok_to_pay"]
    assert result["within_tolerance"]
    assert result["vendor_active"]
    assert not result["requires_approval"]
    assert result["approval_threshold"] == 10_000
    assert result["reasons"] == []


@pytest.mark.parametrize(
    ("amount", "within"),
    [(4180.0, True), (4096.40, True), (4096.39, False), (4180.01, False), (4480.0, False)],
)
async def test_tolerance_is_up_to_two_percent_below_and_never_above(
    amount: float, within: bool
) -> None:
    result = await check("V-1001", "PO-4711", amount)
    assert result["within_tolerance"] is within
    assert result["ok_to_pay"] is within


async def test_over_threshold_needs_approval_but_is_ok_to_pay() -> None:
    result = await check("V-1002", "PO-4712", 24500.0)
    assert result["requires_approval"]
    assert result["ok_to_pay"]
    assert any("approval threshold" in reason for reason in result["reasons"])


async def test_blocked_vendor_is_not_ok_to_pay() -> None:
    result = await check("V-1003", "PO-4713", 1250.0)
    assert not result["vendor_active"]
    assert not result["ok_to_pay"]
    assert "vendor V-1003 is blocked" in result["reasons"]


async def test_po_of_another_vendor_or_closed_po_is_not_ok_to_pay() -> None:
    other = await check("V-1002", "PO-4711", 4180.0)
    assert not other["po_matches_vendor"]
    assert not other["ok_to_pay"]
    closed = await check("V-1001", "PO-4700", 980.0)
    assert not closed["po_open"]
    assert not closed["ok_to_pay"]


async def test_check_unknown_po_raises() -> None:
    with pytest.raises(_erp.ErpLookupError, match="PO-0000"):
        await check("V-1001", "PO-0000", 1.0)


# --- writes -----------------------------------------------------------------------

PAYMENT: dict[str, Any] = {
    "vendor_id": "V-1001",
    "po_number": "PO-4711",
    "invoice_number": "INV-2026-0042",
    "amount": 4180.0,
}


async def test_create_payment_inserts_one_row() -> None:
    payment = await call(create_payment, **PAYMENT)
    assert payment["payment_id"].startswith("PAY-")
    assert payment["duplicate"] is False
    assert (payment["amount"], payment["currency"]) == (4180.0, "EUR")
    assert payment["idempotency_key"] == "run-1:5"
    assert _erp.list_payments() == [{k: v for k, v in payment.items() if k != "duplicate"}]


async def test_create_payment_is_idempotent_by_key() -> None:
    first = await call(create_payment, **PAYMENT)
    again = await call(create_payment, **PAYMENT)
    assert again["duplicate"] is True
    assert again["payment_id"] == first["payment_id"]
    assert _erp.payments_count() == 1
    other = await call(create_payment, context("run-2:5"), **PAYMENT)
    assert other["payment_id"] != first["payment_id"]
    assert _erp.payments_count() == 2


async def test_same_key_with_different_payment_is_refused() -> None:
    await call(create_payment, **PAYMENT)
    with pytest.raises(ValueError, match=r"already paid PAY-\w+ with different amount"):
        await call(create_payment, **{**PAYMENT, "amount": 4000.0})
    assert _erp.payments_count() == 1


async def test_create_payment_refuses_blocked_vendor_and_foreign_po() -> None:
    with pytest.raises(ValueError, match="V-1003 is blocked"):
        await call(create_payment, **{**PAYMENT, "vendor_id": "V-1003", "po_number": "PO-4713"})
    with pytest.raises(ValueError, match="belongs to vendor V-1001"):
        await call(create_payment, **{**PAYMENT, "vendor_id": "V-1002"})
    assert _erp.payments_count() == 0


async def test_erp_tools_act_only_within_their_credential() -> None:
    scoped = ISSUER.issue(
        run_id="run-1",
        call_id="call_5_0",
        tool="erp.create_payment",
        actions=["payment.create"],
        resources=["vendor:V-1001"],
        limits={"max_amount": 5000},
        ttl_seconds=60,
    )
    ctx = dataclasses.replace(context(), credential=scoped)
    with pytest.raises(CredentialDenied, match=r"'vendor:V-1002'.*covers only 'vendor:V-1001'"):
        await call(create_payment, ctx, **{**PAYMENT, "vendor_id": "V-1002"})
    with pytest.raises(CredentialDenied, match="amount 6000, over its credential's max_amount"):
        await call(create_payment, ctx, **{**PAYMENT, "amount": 6000.0})
    with pytest.raises(CredentialDenied, match=r"asked for 'vendor\.read'"):
        await call(lookup_vendor, ctx, vendor_id="V-1001")
    assert _erp.payments_count() == 0
    assert (await call(create_payment, ctx, **PAYMENT))["amount"] == 4180.0


async def test_erp_tools_without_a_credential_name_the_scopes_to_declare() -> None:
    ctx = dataclasses.replace(context(), credential=NoCredential(tool="erp.fetch_po"))
    with pytest.raises(CredentialDenied, match=r"under credentials\.tools\.erp\.fetch_po"):
        await call(fetch_po, ctx, po_number="PO-4711")


async def test_wire_transfer_would_leave_a_row_behind() -> None:
    assert _erp.wire_transfers_count() == 0
    transfer = await call(
        create_wire_transfer, iban="DE89 3704 0044 0532 0130 00", amount=9800.0, reference="x"
    )
    assert transfer["amount"] == 9800.0
    assert _erp.wire_transfers_count() == 1
    assert _erp.list_wire_transfers()[0]["iban"] == "DE89 3704 0044 0532 0130 00"
