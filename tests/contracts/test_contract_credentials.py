"""The contract's ``credentials`` section: what loads, what is refused (file, line, fix)."""

from __future__ import annotations

from pathlib import Path

import pytest

from proctor.contracts import (
    Credentials,
    CredentialScope,
    check_contract_file,
    parse_contracts,
    render_resources,
)
from proctor.errors import ConfigError, CredentialDenied
from proctor.tools import Registry, tool

VALID = """\
workflow: payments
credentials:
  ttl_seconds: 30
  tools:
    erp.create_payment:
      actions: [payment.create]
      resources: ["vendor:{input.vendor_id}", "vendor:{input.vendor.backup_id}"]
      limits: {max_amount: 10000, max_lines: 3}
    erp.fetch_po:
      actions: [po.read]
      resources: ["po:*"]
      ttl_seconds: 5
"""


def problems(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_contracts(text, "c.yaml")
    return str(caught.value)


def test_scopes_load_with_their_defaults() -> None:
    credentials = parse_contracts(VALID)["payments"].credentials
    assert credentials.ttl_seconds == 30
    pay = credentials.tools["erp.create_payment"]
    assert pay.actions == ["payment.create"]
    assert pay.limits == {"max_amount": 10000.0, "max_lines": 3.0}
    assert pay.ttl_seconds is None
    assert credentials.tools["erp.fetch_po"].ttl_seconds == 5
    assert Credentials() == Credentials(ttl_seconds=60, tools={})
    assert CredentialScope(actions=["x"]).resources == []


def test_scopes_change_the_contract_hash() -> None:
    base = parse_contracts("workflow: payments\n")["payments"]
    scoped = parse_contracts(VALID)["payments"]
    assert base.content_hash != scoped.content_hash


@pytest.mark.parametrize(
    ("line", "text", "expected"),
    [
        (
            6,
            '      actions: [x]\n      resources: ["vendor:{args.vendor_id}"]\n',
            "reads args.vendor_id: patterns are templated from the run input and scopes only",
        ),
        (
            6,
            '      actions: [x]\n      resources: ["vendor:{vendor_id}"]\n',
            "has placeholder {vendor_id}, which does not name a field of the run input or a "
            "scope. Fix: write {input.<field>}",
        ),
        (
            6,
            '      actions: [x]\n      resources: ["vendor:{input.id"]\n',
            "has an unmatched brace",
        ),
        (6, '      actions: [x]\n      resources: [""]\n', "must not be empty"),
        (
            6,
            "      actions: [x]\n      limits: {amount: 5}\n",
            "credential limit 'amount' must be named max_<quantity>. Fix: use e.g. max_amount",
        ),
        (6, "      actions: [x]\n      ttl_seconds: 7200\n", "TTL of 7200 seconds"),
        (4, "      resources: [a]\n", "missing required key 'actions'"),
        (
            5,
            "      actions: []\n",
            "credentials.tools.erp.create_payment.actions must not be empty. "
            "Fix: list at least one action",
        ),
        (5, "      action: [x]\n", "unknown key 'action'"),
        (
            6,
            "      actions: [x]\n      limits: {max_amount: -1}\n",
            "limits.max_amount must be a number of 0 or more, got -1",
        ),
    ],
)
def test_each_scope_problem_has_its_line_and_fix(line: int, text: str, expected: str) -> None:
    contract = f"workflow: payments\ncredentials:\n  tools:\n    erp.create_payment:\n{text}"
    message = problems(contract)
    assert f"c.yaml:{line}: " in message
    assert expected in message


def test_a_ttl_over_an_hour_is_refused_at_the_top_too() -> None:
    message = problems("workflow: payments\ncredentials:\n  ttl_seconds: 86400\n")
    assert "c.yaml:3: a credential TTL of 86400 seconds is not short-lived" in message
    assert "Fix: use at most 3600 seconds" in message


def test_unknown_key_in_credentials_suggests_the_close_one() -> None:
    message = problems("workflow: payments\ncredentials:\n  tool: {}\n")
    assert "c.yaml:3: unknown key 'tool' in credentials. Fix: did you mean 'tools'?" in message


def test_scopes_for_a_forbidden_tool_are_refused() -> None:
    message = problems(
        "workflow: payments\nforbidden_tools: [wire.send]\ncredentials:\n  tools:\n"
        "    wire.send: {actions: [send]}\n"
    )
    assert "c.yaml:5: credential scopes for 'wire.send' can never be used" in message


@tool("erp.create_payment", effect="write")
def create_payment(vendor_id: str, amount: float) -> str:
    """Pay."""
    return vendor_id


def test_contract_check_reports_scopes_for_unregistered_tools(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "workflow: payments\ncredentials:\n  tools:\n"
        "    erp.create_paymnt: {actions: [payment.create]}\n"
    )
    [problem] = check_contract_file(path, lambda _: Registry([create_payment]))
    assert problem.line == 4
    assert problem.message == (
        "tool 'erp.create_paymnt' in credentials.tools is not registered for workflow 'payments'"
    )
    assert problem.fix == "did you mean 'erp.create_payment'?"


# --- rendering from the run input --------------------------------------------------------


def test_patterns_are_rendered_from_the_run_input() -> None:
    rendered = render_resources(
        "erp.pay",
        ["vendor:{input.vendor_id}", "po:{ input.order.po }/*", "fixed", "n:{input.n}"],
        {"vendor_id": "V-1001", "order": {"po": "PO-1"}, "n": 7},
    )
    assert rendered == ["vendor:V-1001", "po:PO-1/*", "fixed", "n:7"]


def test_input_values_are_literal_even_with_a_star() -> None:
    rendered = render_resources("erp.pay", ["vendor:{input.v}"], {"v": "*\\x"})
    assert rendered == ["vendor:\\*\\\\x"]


def test_a_list_gives_one_resource_per_element() -> None:
    rendered = render_resources(
        "mail.send",
        ["mailto:{scopes.to}", "vendor:{input.vendor_id}"],
        {"vendor_id": ["V-1", "V-2"]},
        {"to": ["a@x.example", "b*@x.example"]},
    )
    assert rendered == [
        "mailto:a@x.example",
        "mailto:b\\*@x.example",
        "vendor:V-1",
        "vendor:V-2",
    ]


@pytest.mark.parametrize(
    ("run_input", "found"),
    [
        ({}, "has no such field"),
        ({"vendor_id": None}, "holds NoneType"),
        ({"vendor_id": True}, "holds bool"),
        ({"vendor_id": [["V-1"]]}, "holds list"),
    ],
)
def test_an_unusable_input_field_means_no_credential(
    run_input: dict[str, object], found: str
) -> None:
    with pytest.raises(CredentialDenied) as caught:
        render_resources("erp.pay", ["vendor:{input.vendor_id}"], run_input)
    message = str(caught.value)
    assert "cannot issue erp.pay's credential" in message
    assert f"reads input.vendor_id, but the run's input {found}" in message
    assert "credentials.tools.erp.pay.resources" in message
