"""Loading contracts: both YAML dialects, and errors that name file, line and fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from proctor.contracts import (
    Contract,
    ContractProblem,
    load_contract,
    load_contracts,
    parse_contracts,
)
from proctor.errors import ConfigError
from support.seed_contract import SEED_CONTRACT as ARTICLE

# The seed article's example, exactly as /work/shared/examples/seed-contract.yaml has it.

NATIVE = """\
workflow: invoice_reconciliation
version: "3"
description: Pay supplier invoices that match their purchase order.
allowed_tools: [erp.lookup_vendor, erp.fetch_po, ocr.parse_invoice, policy.check_thresholds, erp.create_payment]
forbidden_tools: [wire_transfer.create]
required_steps: [erp.lookup_vendor, erp.fetch_po, ocr.parse_invoice, policy.check_thresholds]
ordering:
  - tool: erp.create_payment
    after: [policy.check_thresholds]
limits: {max_tool_calls: 6, max_runtime_seconds: 45, max_model_calls: 10, max_cost_usd: 0.05, max_tokens: 40000}
approvals:
  - tool: erp.create_payment
    when: args.amount > 10000
    reason: Payments over 10,000 need a human.
escalation:
  mode: handoff
  on_budget_exceeded: true
  on_policy_violation: handoff
  on_tool_error: false
"""  # noqa: E501 - the brief's example, kept as written

STEPS = ["erp.lookup_vendor", "erp.fetch_po", "ocr.parse_invoice", "policy.check_thresholds"]


def _error(text: str, source: str = "contract.yaml") -> str:
    with pytest.raises(ConfigError) as caught:
        parse_contracts(text, source)
    return str(caught.value)


def test_article_example_means_what_it_says() -> None:
    contracts = parse_contracts(ARTICLE)

    assert list(contracts) == ["invoice_reconciliation"]
    contract = contracts["invoice_reconciliation"]
    assert contract.workflow == "invoice_reconciliation"
    assert contract.limits.max_tool_calls == 6
    assert contract.limits.max_runtime_seconds == 45
    assert contract.forbidden_tools == ["wire_transfer.create"]
    assert contract.required_steps == STEPS
    assert contract.allowed_tools is None  # the article names no allow-list
    assert contract.escalation.on_budget_exceeded is True
    assert contract.escalation.on_policy_violation is True
    assert contract.escalation.mode_for("budget_exceeded") == "handoff"
    assert contract.escalation.mode_for("policy_violation") == "handoff"


def test_native_format_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "contract.yaml"
    path.write_text(NATIVE)

    contract = load_contract(path)

    assert contract.version == "3"
    assert contract.allowed_tools is not None
    assert "erp.create_payment" in contract.allowed_tools
    assert contract.required_steps == STEPS
    assert contract.ordering[0].tool == "erp.create_payment"
    assert contract.ordering[0].after == ["policy.check_thresholds"]
    assert contract.limits.max_cost_usd == 0.05
    assert contract.limits.max_tokens == 40000
    assert contract.approvals[0].when == "args.amount > 10000"
    assert contract.escalation.mode_for("policy_violation") == "handoff"
    assert contract.escalation.mode_for("tool_error") is None
    # Dumping and reloading gives the same contract, hash included.
    again = Contract.model_validate(contract.model_dump(mode="json"))
    assert again == contract
    assert again.content_hash == contract.content_hash


def test_article_extras_in_agent_block() -> None:
    text = """\
version: "2"
description: two workflows sharing one agent block
agent:
  max_model_calls: 4
  max_cost_usd: 0.5
  max_tokens: 1000
  allowed_tools: [a.read, b.write]
  required_steps_for_task:
    first: [a.read]
    second:
"""
    contracts = parse_contracts(text)

    assert list(contracts) == ["first", "second"]
    assert contracts["first"].required_steps == ["a.read"]
    assert contracts["second"].required_steps == []
    for contract in contracts.values():
        assert contract.version == "2"
        assert contract.limits.max_model_calls == 4
        assert contract.limits.max_cost_usd == 0.5
        assert contract.limits.max_tokens == 1000
        assert contract.allowed_tools == ["a.read", "b.write"]


def test_unknown_key_suggests_the_close_one() -> None:
    text = "workflow: w\nlimits:\n  max_tool_call: 6\n"

    assert _error(text) == (
        "contract.yaml:3: unknown key 'max_tool_call' in limits. "
        "Fix: did you mean 'max_tool_calls'?"
    )


def test_unknown_key_without_a_close_match_lists_the_allowed_ones() -> None:
    message = _error("workflow: w\nescalation:\n  zzz: 1\n")

    assert message.startswith("contract.yaml:3: unknown key 'zzz' in escalation.")
    assert "use one of: mode, on_budget_exceeded, on_policy_violation, on_tool_error" in message


def test_unknown_keys_in_article_agent_block() -> None:
    text = ARTICLE.replace("max_runtime_seconds", "max_runtime_secs").replace(
        "on_budget_exceeded", "on_budget_exceded"
    )

    assert _error(text).splitlines() == [
        "contract.yaml:4: unknown key 'max_runtime_secs' in agent. "
        "Fix: did you mean 'max_runtime_seconds'?",
        "contract.yaml:14: unknown key 'on_budget_exceded' in agent.escalation. "
        "Fix: did you mean 'on_budget_exceeded'?",
    ]


def test_misspelt_article_block_is_caught() -> None:
    message = _error("agnet:\n  max_tool_calls: 6\n")

    assert "contract.yaml:1: unknown key 'agnet' at the top level. Fix: did you mean 'agent'?" in (
        message
    )


def test_wrong_type_names_the_value_and_the_line() -> None:
    text = "workflow: w\nversion: '1'\nlimits:\n  max_tool_calls: six\n"

    message = _error(text)

    assert message.startswith(
        "contract.yaml:4: limits.max_tool_calls must be a positive integer, got 'six'. Fix: "
    )
    assert "greater than 0" in message


def test_wrong_type_in_article_dialect_uses_the_written_key() -> None:
    message = _error(ARTICLE.replace("max_tool_calls: 6", "max_tool_calls: 0"))

    assert message.startswith(
        "contract.yaml:3: agent.max_tool_calls must be a positive integer, got 0."
    )


_KINDS = {
    "workflow: w\nversion: 3\n": (
        'contract.yaml:2: version must be a string, got 3. Fix: quote it: version: "3"'
    ),
    "workflow: w\nallowed_tools: a.b\n": (
        "contract.yaml:2: allowed_tools must be a list of strings, got 'a.b'. "
        "Fix: write a list, e.g. allowed_tools: [a.b]"
    ),
    "workflow: w\nordering:\n  - tool: a\n    after: []\n": (
        "contract.yaml:3: the ordering rule for 'a' constrains nothing. Fix: give it after, "
        "any_of, not_after or at_most"
    ),
    "workflow: w\napprovals:\n  - when: args.x > 1\n": (
        "contract.yaml:3: missing required key 'tool' in approvals[0]. "
        "Fix: add 'tool:' with a string"
    ),
    "version: '1'\n": (
        "contract.yaml:1: missing required key 'workflow'. "
        "Fix: add 'workflow: <name>' at the top of the file"
    ),
    "workflow: w\nescalation:\n  on_tool_error: maybe\n": (
        "contract.yaml:3: escalation.on_tool_error must be one of true, false, 'handoff', "
        "'draft_only', got 'maybe'"
    ),
    "workflow: w\nlimits: 5\n": (
        "contract.yaml:2: limits must be a mapping with keys max_tool_calls,"
    ),
    "workflow: w\nlimits: {}\nlimits: {}\n": (
        "contract.yaml:3: duplicate key 'limits'. Fix: keep one of them"
    ),
}


@pytest.mark.parametrize(("text", "expected"), _KINDS.items())
def test_each_error_kind_has_its_line(text: str, expected: str) -> None:
    assert _error(text).startswith(expected)


def test_every_problem_is_reported_in_line_order() -> None:
    text = "workflow: w\nversion: 3\nlimits:\n  max_tokens: -1\n  max_tool_call: 2\n"

    lines = _error(text).splitlines()

    assert [line.split(":")[1] for line in lines] == ["2", "4", "5"]


def test_contradiction_is_reported_at_the_offending_entry() -> None:
    text = """\
workflow: w
allowed_tools: [a, b, x]
forbidden_tools: [x]
required_steps:
  - a
  - x
ordering:
  - tool: b
    after:
      - a
      - x
"""
    assert _error(text).splitlines() == [
        "contract.yaml:6: 'x' is both required and forbidden. "
        "Fix: remove it from one of required_steps and forbidden_tools",
        "contract.yaml:11: 'b' must come after 'x', but 'x' is forbidden, so it could never run. "
        "Fix: remove 'x' from the rule's after list, or from forbidden_tools",
    ]


def test_contradiction_in_article_dialect_points_at_the_task() -> None:
    text = ARTICLE.replace('- "erp.fetch_po"', '- "wire_transfer.create"')

    assert _error(text).startswith(
        "contract.yaml:10: 'wire_transfer.create' is both required and forbidden."
    )


def test_bad_condition_fails_loading_at_its_line() -> None:
    text = "workflow: w\napprovals:\n  - tool: pay\n    when: amount > 3\n"

    assert _error(text) == (
        "contract.yaml:4: unknown variable 'amount' in condition 'amount > 3'. "
        "Fix: this condition may use args, input, state, calls, scopes, tool"
    )


@pytest.mark.parametrize(
    ("text", "line", "fix"),
    [
        ("workflow: w\nlimits:\n\tmax_tool_calls: 6\n", 3, "indent with spaces, not tabs"),
        ("workflow: w\nlimits: {max_tool_calls: 6\n", 3, "check the indentation"),
        ("workflow: w\ndescription: a: b\n", 2, "quote values that contain ': '"),
        ("workflow: a\n---\nworkflow: b\n", 2, "keep one YAML document"),
    ],
)
def test_yaml_syntax_errors_have_file_and_line(text: str, line: int, fix: str) -> None:
    message = _error(text)

    assert message.startswith(f"contract.yaml:{line}: invalid YAML: ")
    assert f"Fix: {fix}" in message


_SHAPES = {
    "": "contract.yaml: the file is empty",
    "- a\n- b\n": "contract.yaml:1: a contract must be a mapping at the top level",
    "agent:\n  max_tool_calls: 6\n": "contract.yaml:1: this contract defines no workflow",
    "agent: 6\n": "contract.yaml:1: agent must be a mapping of settings, got 6",
    "agent:\n  required_steps_for_task: [a]\n": (
        "contract.yaml:2: agent.required_steps_for_task must map"
    ),
    "workflow: w\nagent:\n  required_steps_for_task: {w: []}\n": (
        "contract.yaml:1: the file mixes the article format"
    ),
}


@pytest.mark.parametrize(("text", "expected"), _SHAPES.items())
def test_shape_errors(text: str, expected: str) -> None:
    assert _error(text).startswith(expected)


def test_article_without_workflow_says_how_to_add_one() -> None:
    message = _error("agent:\n  max_tool_calls: 6\n")

    assert "required_steps_for_task" in message
    assert "'workflow:'" in message


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"

    with pytest.raises(ConfigError, match=r"nope\.yaml: contract file not found\. Fix: check"):
        load_contracts(missing)


def test_directory_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory"):
        load_contract(tmp_path)


def test_unreadable_file_is_a_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "secret.yaml"
    path.write_text(NATIVE)

    # chmod cannot lock out root (CI containers), so make the read itself fail.
    def deny(self: Path, *args: object, **kwargs: object) -> str:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_text", deny)

    with pytest.raises(ConfigError, match=r"secret\.yaml: .*\(permission denied\)\. Fix: grant"):
        load_contract(path)


def test_non_utf8_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("workflow: caf\u00e9\n".encode("latin-1"))

    with pytest.raises(ConfigError, match=r"not UTF-8 text .* Fix: save the file as UTF-8"):
        load_contract(path)


def test_load_contract_picks_the_named_workflow(tmp_path: Path) -> None:
    path = tmp_path / "two.yaml"
    path.write_text("agent:\n  required_steps_for_task:\n    alpha: [a]\n    beta: [b]\n")

    assert load_contract(path, "beta").required_steps == ["b"]
    assert set(load_contracts(path)) == {"alpha", "beta"}


def test_load_contract_needs_a_name_when_the_file_has_several(tmp_path: Path) -> None:
    path = tmp_path / "two.yaml"
    path.write_text("agent:\n  required_steps_for_task:\n    alpha: [a]\n    beta: [b]\n")

    with pytest.raises(ConfigError, match=r"defines 2 workflows \('alpha', 'beta'\)"):
        load_contract(path)
    with pytest.raises(ConfigError, match=r"no workflow named 'alpah'.*did you mean 'alpha'\?"):
        load_contract(path, "alpah")
    with pytest.raises(ConfigError, match=r"no workflow named 'zzz'.*use one of 'alpha', 'beta'"):
        load_contract(path, "zzz")


def test_problem_text_format() -> None:
    problem = ContractProblem(file="c.yaml", line=7, message="bad thing.", fix="do this")
    assert str(problem) == "c.yaml:7: bad thing. Fix: do this"
    assert (
        str(ContractProblem(file="c.yaml", line=None, message="m", fix="f")) == "c.yaml: m. Fix: f"
    )


def test_yaml_merge_keys_load() -> None:
    text = """\
workflow: w
limits: {max_tool_calls: 3}
escalation:
  <<: {mode: draft_only, on_tool_error: true}
  on_tool_error: false
ordering:
  - tool: b
    after: [a]
  - <<: {tool: c}
    after: [a]
"""
    contract = parse_contracts(text)["w"]

    assert contract.limits.max_tool_calls == 3
    # A key merged in and then overridden is not a duplicate.
    assert contract.escalation.mode == "draft_only"
    assert contract.escalation.on_tool_error is False
    assert [rule.tool for rule in contract.ordering] == ["b", "c"]


def test_yaml_11_boolean_key_is_reported_as_written() -> None:
    message = _error("workflow: w\non: 1\n")

    assert message.startswith("contract.yaml:2: unknown key 'on' at the top level.")
