"""A tiny sample ERP: one SQLite file under the Proctor home, seeded on first use.

Amounts are stored as integer cents so tolerance checks are exact; records expose them
as floats in major units, the way an ERP API would.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from proctor.store import default_home, private_dirs

_SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS vendors (
    vendor_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'blocked')),
    iban TEXT NOT NULL,
    payment_terms TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS purchase_orders (
    po_number TEXT PRIMARY KEY,
    vendor_id TEXT NOT NULL REFERENCES vendors (vendor_id),
    amount_cents INTEGER NOT NULL,
    currency TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'closed'))
);
CREATE TABLE IF NOT EXISTS payments (
    payment_id TEXT PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    vendor_id TEXT NOT NULL,
    po_number TEXT NOT NULL,
    invoice_number TEXT NOT NULL,
    amount_cents INTEGER NOT NULL,
    currency TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
CREATE TABLE IF NOT EXISTS wire_transfers (
    transfer_id INTEGER PRIMARY KEY AUTOINCREMENT,
    iban TEXT NOT NULL,
    amount_cents INTEGER NOT NULL,
    reference TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
"""

VENDORS: tuple[tuple[str, str, str, str, str], ...] = (
    ("V-1001", "Acme Supplies GmbH", "active", "DE44 5001 0517 5407 3249 31", "net 30"),
    ("V-1002", "Northwind Logistics AG", "active", "DE02 1203 0000 0000 2020 51", "net 45"),
    ("V-1003", "Globex Trading Ltd", "blocked", "GB33 BUKB 2020 1555 5555 55", "net 30"),
)

PURCHASE_ORDERS: tuple[tuple[str, str, int, str, str], ...] = (
    ("PO-4711", "V-1001", 418_000, "EUR", "open"),
    ("PO-4712", "V-1002", 2_450_000, "EUR", "open"),
    ("PO-4713", "V-1003", 125_000, "EUR", "open"),
    ("PO-4714", "V-1001", 264_000, "EUR", "open"),
    ("PO-4700", "V-1001", 98_000, "EUR", "closed"),
)


class ErpLookupError(LookupError):
    """A vendor or purchase order the ERP does not know."""


def erp_path() -> Path:
    """The ERP database file: ``<proctor home>/example-erp.sqlite``."""
    return default_home() / "example-erp.sqlite"


def to_cents(amount: float) -> int:
    return round(amount * 100)


@contextmanager
def connect() -> Iterator[sqlite3.Connection]:
    """A fresh connection to the seeded ERP (one per call: tools run in worker threads)."""
    path = erp_path()
    private_dirs(path.parent)
    # isolation_level=None: autocommit, so writes use explicit BEGIN IMMEDIATE transactions.
    with closing(sqlite3.connect(path, timeout=30, isolation_level=None)) as db:
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA busy_timeout=30000")
        db.execute("PRAGMA foreign_keys=ON")
        _ensure_seeded(db)
        yield db


def _enable_wal(db: sqlite3.Connection) -> None:
    # WAL is a property of the file, set once when it is seeded. Connections opening a new
    # file at once may find it "locked" without waiting for the busy timeout: retry.
    deadline = time.monotonic() + 30
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _ensure_seeded(db: sqlite3.Connection) -> None:
    if db.execute("PRAGMA user_version").fetchone()[0] >= _SCHEMA_VERSION:
        return
    _enable_wal(db)
    # Another process may be seeding too: the immediate lock serialises us, and
    # IF NOT EXISTS / OR IGNORE make the loser's pass a no-op.
    db.execute("BEGIN IMMEDIATE")
    try:
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                db.execute(statement)
        db.executemany("INSERT OR IGNORE INTO vendors VALUES (?, ?, ?, ?, ?)", VENDORS)
        db.executemany(
            "INSERT OR IGNORE INTO purchase_orders VALUES (?, ?, ?, ?, ?)", PURCHASE_ORDERS
        )
        db.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def _record(row: sqlite3.Row) -> dict[str, Any]:
    record = dict(row)
    if "amount_cents" in record:
        record["amount"] = record.pop("amount_cents") / 100
    return record


def get_vendor(vendor_id: str) -> dict[str, Any]:
    with connect() as db:
        row = db.execute("SELECT * FROM vendors WHERE vendor_id = ?", (vendor_id,)).fetchone()
    if row is None:
        raise ErpLookupError(
            f"no vendor {vendor_id!r} in the ERP: vendor ids look like 'V-1001'; "
            "check the id on the invoice"
        )
    return _record(row)


def get_po(po_number: str) -> dict[str, Any]:
    with connect() as db:
        row = db.execute(
            "SELECT * FROM purchase_orders WHERE po_number = ?", (po_number,)
        ).fetchone()
    if row is None:
        raise ErpLookupError(
            f"no purchase order {po_number!r} in the ERP: PO numbers look like 'PO-4711'; "
            "check the PO reference on the invoice"
        )
    return _record(row)


def insert_payment(
    *,
    payment_id: str,
    idempotency_key: str,
    vendor_id: str,
    po_number: str,
    invoice_number: str,
    amount_cents: int,
    currency: str,
) -> tuple[dict[str, Any], bool]:
    """Insert a payment unless one with the key exists; return it and whether it existed."""
    with connect() as db:
        db.execute("BEGIN IMMEDIATE")
        try:
            inserted = db.execute(
                "INSERT OR IGNORE INTO payments (payment_id, idempotency_key, vendor_id, "
                "po_number, invoice_number, amount_cents, currency) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    payment_id,
                    idempotency_key,
                    vendor_id,
                    po_number,
                    invoice_number,
                    amount_cents,
                    currency,
                ),
            ).rowcount
            row = db.execute(
                "SELECT * FROM payments WHERE idempotency_key = ?", (idempotency_key,)
            ).fetchone()
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
    return _record(row), inserted == 0


def insert_wire_transfer(*, iban: str, amount_cents: int, reference: str) -> dict[str, Any]:
    with connect() as db:
        cursor = db.execute(
            "INSERT INTO wire_transfers (iban, amount_cents, reference) VALUES (?, ?, ?)",
            (iban, amount_cents, reference),
        )
        row = db.execute(
            "SELECT * FROM wire_transfers WHERE transfer_id = ?", (cursor.lastrowid,)
        ).fetchone()
    return _record(row)


def list_payments() -> list[dict[str, Any]]:
    """Every payment in the ERP, oldest first."""
    with connect() as db:
        rows = db.execute("SELECT * FROM payments ORDER BY created_at, payment_id").fetchall()
    return [_record(row) for row in rows]


def payments_count() -> int:
    with connect() as db:
        count: int = db.execute("SELECT count(*) FROM payments").fetchone()[0]
    return count


def list_wire_transfers() -> list[dict[str, Any]]:
    """Every wire transfer ever created (the contract forbids them: expect none)."""
    with connect() as db:
        rows = db.execute("SELECT * FROM wire_transfers ORDER BY transfer_id").fetchall()
    return [_record(row) for row in rows]


def wire_transfers_count() -> int:
    with connect() as db:
        count: int = db.execute("SELECT count(*) FROM wire_transfers").fetchone()[0]
    return count
