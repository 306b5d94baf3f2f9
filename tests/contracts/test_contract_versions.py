"""Contract versions: the stored form, canonical YAML, and what a diff reports."""

from __future__ import annotations

from typing import Any

import yaml

from proctor.contracts import Contract, canonical_yaml, contract_record, diff_contracts
from proctor.store import digest

BASE: dict[str, Any] = {
    "workflow": "refunds",
    "version": "1",
    "allowed_tools": ["crm.lookup", "billing.refund"],
    "limits": {"max_tool_calls": 6},
    "approvals": [
        {"id": "large_refund", "tool": "billing.refund", "when": "args.amount > 100"},
    ],
}


def contract(**changes: Any) -> Contract:
    return Contract.model_validate({**BASE, **changes})


def test_the_stored_form_proves_its_own_hash() -> None:
    terms = contract(retention_days=30)
    record = contract_record(terms, at=123.0)

    assert record.content_hash == terms.content_hash == digest(record.body)
    assert (record.workflow, record.version, record.retention_days) == ("refunds", "1", 30)
    assert record.created_at == 123.0
    assert Contract.model_validate(record.body) == terms


def test_canonical_yaml_has_every_key_and_loads_back_to_the_same_contract() -> None:
    terms = contract()
    text = canonical_yaml(terms)

    assert list(yaml.safe_load(text)) == list(Contract.model_fields)
    assert Contract.model_validate(yaml.safe_load(text)).content_hash == terms.content_hash
    assert canonical_yaml(terms.model_dump(mode="json")) == text


def test_a_changed_limit_reads_as_old_to_new() -> None:
    diff = diff_contracts(contract(), contract(limits={"max_tool_calls": 8}), a_label="v1")

    assert [str(change) for change in diff.changes] == ["limits.max_tool_calls: 6 -> 8"]
    assert "--- v1" in diff.unified
    assert "-  max_tool_calls: 6\n+  max_tool_calls: 8\n" in diff.unified


def test_approvals_added_removed_and_edited_are_told_apart() -> None:
    second = {"id": "any_delete", "tool": "crm.lookup", "reason": "lookups need a person"}
    added = diff_contracts(contract(), contract(approvals=[*BASE["approvals"], second]))
    removed = diff_contracts(contract(), contract(approvals=[]))
    edited = diff_contracts(
        contract(),
        contract(approvals=[{**BASE["approvals"][0], "when": "args.amount > 50"}]),
    )

    [change] = added.changes
    assert (change.path, change.kind, change.after["id"]) == ("approvals", "added", "any_delete")
    assert str(change).startswith('approvals: added {"tool":"crm.lookup"')
    [change] = removed.changes
    assert (change.path, change.kind) == ("approvals", "removed")
    assert [str(c) for c in edited.changes] == [
        'approvals[large_refund].when: "args.amount > 100" -> "args.amount > 50"'
    ]


def test_lists_of_names_report_each_name_and_reordered_rules_report_the_order() -> None:
    tools = diff_contracts(contract(), contract(allowed_tools=["crm.lookup", "crm.note"]))
    a = {"id": "a", "tool": "billing.refund"}
    b = {"id": "b", "tool": "billing.refund", "when": "args.amount > 5"}
    order = diff_contracts(contract(approvals=[a, b]), contract(approvals=[b, a]))

    assert sorted(str(c) for c in tools.changes) == [
        'allowed_tools: added "crm.note"',
        'allowed_tools: removed "billing.refund"',
    ]
    [change] = order.changes
    assert (change.path, change.kind) == ("approvals", "changed")


def test_equal_versions_have_no_changes() -> None:
    diff = diff_contracts(contract(), contract().model_dump(mode="json"))

    assert diff.same
    assert diff.unified == ""
