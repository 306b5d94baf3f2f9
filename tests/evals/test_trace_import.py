"""Importing observed trajectories: what the contract would have refused, the observed run
(never resumed), and the case (which passes --recorded as imported)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from proctor.cli import app
from proctor.errors import RunStateError, UsageError
from proctor.evals import (
    ReplayOptions,
    import_trajectory,
    load_suite,
    load_workflow_ref,
    read_traces,
    run_suite,
)
from proctor.examples import invoice
from proctor.runtime import is_external_model, resolve_model
from proctor.runtime._recovery import is_interrupted
from proctor.store import MemoryStore, SQLiteStore

EXAMPLE = (
    Path(__file__).parents[2] / "examples" / "observed_traces" / "hasty-invoice-agent.otlp.json"
)


async def test_the_hasty_trace_pays_before_the_check_and_the_contract_says_so(
    tmp_path: Path, proctor_home: Path
) -> None:
    [trajectory] = read_traces(EXAMPLE, "otlp")
    store = SQLiteStore(tmp_path / "runs.db")
    try:
        imported = await import_trajectory(
            trajectory, invoice.workflow(), workflow_ref="invoice_reconciliation", store=store
        )
        [finding] = imported.check.findings
        assert (finding.kind, finding.rule, finding.call, finding.tool) == (
            "denied",
            "ordering.erp.create_payment",
            4,
            "erp.create_payment",
        )
        assert imported.renamed["erp_create_payment"] == "erp.create_payment"
        assert imported.outcome == "escalated"
        assert imported.run_id is not None
        record = await store.get_run(imported.run_id)
        assert record is not None
        assert record.model == "observed:pydantic-ai"
        assert record.started_by == "observed:invoice-agent"
        assert is_external_model(record.model)
        record.status, record.owner = "running", "elsewhere:1"
        assert not is_interrupted(record)
        with pytest.raises(RunStateError, match="observed trace"):
            resolve_model(invoice.workflow(), record.model)
    finally:
        await store.close()

    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / f"{imported.name}.yaml").write_text(imported.case_text())
    result = await run_suite(
        load_suite(suite), loader=load_workflow_ref, options=ReplayOptions(recorded=True)
    )
    assert result.ok, [case.first_failure for case in result.cases]
    assert "ordering.erp.create_payment" in imported.case_text()


async def test_a_forbidden_tool_and_a_missing_step_in_a_transcript(proctor_home: Path) -> None:
    messages = [
        {"role": "user", "content": json.dumps(invoice.sample_input("clean"))},
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": "w",
                    "function": {
                        "name": "wire_transfer_create",
                        "arguments": '{"iban": "DE00", "amount": 1, "reference": "x"}',
                    },
                }
            ],
        },
        {"role": "tool", "tool_call_id": "w", "content": '{"ok": true}'},
        {"role": "assistant", "content": "Sent."},
    ]
    [trajectory] = read_traces(json.dumps({"messages": messages}).encode(), "openai-jsonl")
    imported = await import_trajectory(trajectory, invoice.workflow(), store=MemoryStore())
    kinds = {(f.kind, f.rule) for f in imported.check.findings}
    assert ("denied", "contract.forbidden_tool") in kinds
    assert ("answer", "contract.required_steps") in kinds
    assert imported.outcome == "escalated"


def test_the_command_checks_stores_and_writes_cases(tmp_path: Path, proctor_home: Path) -> None:
    suite = tmp_path / "imported"
    args = ["eval", "import", str(EXAMPLE), "--format", "otlp"]
    args += ["--workflow", "invoice_reconciliation", "--check", "--store", "--suite", str(suite)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output  # the contract would have refused a call
    assert "call 4 erp.create_payment  deny  [ordering.erp.create_payment]" in result.output
    assert "observed run run_" in result.output
    [case] = suite.glob("*.yaml")
    assert case.name.startswith("pydantic-ai-")
    runs = CliRunner().invoke(app, ["runs", "--json"])
    assert json.loads(runs.output)["runs"][0]["model"] == "observed:pydantic-ai"
    again = CliRunner().invoke(app, args)
    assert isinstance(again.exception, UsageError)
    assert "exists already" in str(again.exception)

    bad = CliRunner().invoke(app, [*args[:3], "--format", "zipkin", "--workflow", "x"])
    assert isinstance(bad.exception, UsageError)
    assert "unknown trace format 'zipkin'" in str(bad.exception)
