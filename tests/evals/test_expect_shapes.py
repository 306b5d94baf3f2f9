"""Expectations a QA engineer writes: partial orders, counts, writes-only sequences,
free-text arguments and lists in any order."""

from __future__ import annotations

from typing import Any

import pytest
from eval_support import calls, case

from proctor.evals import CaseFileError, Observed, check


def seen(*specs: str | tuple[Any, ...]) -> Observed:
    return Observed(outcome="resolved", reason="", calls=calls(*specs))


def failures(text: str, observed: Observed, writes: frozenset[str] = frozenset()) -> list[str]:
    return [str(f) for f in check(case(text), observed, writes=writes)]


PAY_AFTER_LOOKUPS = """
expect:
  before:
    all_of: [erp.lookup_vendor, erp.fetch_po]
    then: erp.create_payment
"""


def test_reads_in_any_order_all_before_the_write() -> None:
    for order in (
        ("erp.lookup_vendor", "erp.fetch_po", "erp.create_payment"),
        ("erp.fetch_po", "erp.lookup_vendor", "erp.create_payment"),  # a harmless swap
        ("erp.fetch_po", "erp.lookup_vendor"),  # no payment at all: nothing to order
    ):
        assert failures(PAY_AFTER_LOOKUPS, seen(*order)) == [], order
    moved = seen("erp.lookup_vendor", "erp.create_payment", "erp.fetch_po")  # a harmful swap
    assert failures(PAY_AFTER_LOOKUPS, moved) == [
        "before: call 2 (erp.create_payment {}) comes before any call fitting erp.fetch_po"
    ]


def test_any_of_needs_one_of_its_patterns_first() -> None:
    text = """
expect:
  before:
    - any_of: [crm.verify_identity, {tool: crm.verify_email, status: ok}]
      then: [crm.close_account, crm.change_address]
"""
    assert failures(text, seen("crm.verify_email", "crm.close_account")) == []
    late = seen(("crm.verify_email", {}, "error"), "crm.change_address")
    assert failures(text, late) == [
        "before: call 2 (crm.change_address {}) comes before any call fitting "
        "crm.verify_identity or crm.verify_email [ok]"
    ]


def test_counts_catch_a_duplicated_write_overall_and_per_object() -> None:
    text = """
expect:
  counts:
    - {call: erp.create_payment, exactly: 1}
    - call: {tool: bookings.cancel, status: ok}
      per: booking.id
      at_most: 1
"""
    good = seen(
        "erp.create_payment",
        ("bookings.cancel", {"booking": {"id": "R1"}}),
        ("bookings.cancel", {"booking": {"id": "R2"}}),
        ("bookings.cancel", {"booking": {"id": "R1"}}, "denied"),  # refused: not counted
    )
    assert failures(text, good) == []
    twice = seen(
        "erp.create_payment",
        ("bookings.cancel", {"booking": {"id": "R1"}}),
        "erp.create_payment",
        ("bookings.cancel", {"booking": {"id": "R1"}}),
    )
    assert failures(text, twice) == [
        "counts: 2 call(s) fit erp.create_payment (calls 1, 3), expected exactly 1",
        'counts: 2 call(s) fit bookings.cancel [ok] with booking.id = "R1" (calls 2, 4), '
        "more than at_most 1",
    ]
    assert failures(text, seen()) == [
        "counts: 0 call(s) fit erp.create_payment, expected exactly 1"
    ]


def test_a_strict_sequence_of_writes_leaves_reads_free() -> None:
    text = """
expect:
  calls:
    order: strict
    only: writes
    sequence: [erp.create_payment, mail.send]
"""
    writes = frozenset({"erp.create_payment", "mail.send", "erp.void_payment"})
    run = seen("erp.fetch_po", "erp.create_payment", "erp.lookup_vendor", "mail.send")
    assert failures(text, run, writes) == []
    extra = seen("erp.create_payment", "erp.void_payment", "mail.send")
    assert failures(text, extra, writes) == [
        "calls (strict, writes only): call 2: expected mail.send, got erp.void_payment {}"
    ]


def test_free_text_is_ignored_and_lists_match_in_any_order() -> None:
    text = """
expect:
  must_call:
    - tool: support.reply
      arguments:
        ticket: {id: T-1, note: "anything"}
        tags: {any_order: [billing, urgent]}
        body: "Dear customer, ..."
      ignore: [body, ticket.note]
"""
    reply = (
        "support.reply",
        {"ticket": {"id": "T-1", "note": "other"}, "tags": ["urgent", "billing"], "body": "Hi"},
    )
    assert failures(text, seen(reply)) == []
    wrong = ("support.reply", {"ticket": {"id": "T-2"}, "tags": ["urgent"], "body": "Hi"})
    assert len(failures(text, seen(wrong))) == 1


def test_count_and_order_specs_are_checked_when_loaded() -> None:
    for bad, message in (
        ("expect: {counts: [{call: x}]}\n", "give at_most, at_least or exactly"),
        ("expect: {counts: [{call: x, exactly: 1, at_most: 2}]}\n", "exactly says it all"),
        ("expect: {counts: [{call: x, at_least: 3, at_most: 2}]}\n", "at_least 3 is above"),
        ("expect: {before: [{then: x}]}\n", "all_of and/or any_of"),
        ("expect: {calls: {only: reads}}\n", "only"),
    ):
        with pytest.raises(CaseFileError, match=message):
            case(bad)
