"""One workflow, two spellings: its name and its ``package.module:attribute`` ref work in
every command that takes a workflow, including a name only ``$PROCTOR_WORKFLOWS`` knows."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cli_harness import cli_env, proctor_all, proctor_main

ROOT = Path(__file__).resolve().parents[2]
TOUR = ROOT / "docs" / "tour"

pytestmark = pytest.mark.slow


def test_the_name_and_the_ref_work_in_every_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.syspath_prepend(str(TOUR))
    monkeypatch.setenv("PROCTOR_WORKFLOWS", "refunds:workflow")
    request = str(TOUR / "refund_request.json")
    started = proctor_main(
        "run", "refunds", "--input", request, "--model", "scripted:rogue", capsys=capsys
    )
    assert started.code == 3, str(started)  # escalated: the rogue model
    contract = str(TOUR / "refunds.yaml")
    for name in ("refunds", "refunds:workflow"):
        checked = proctor_main("contract", "check", contract, "--workflow", name, capsys=capsys)
        assert checked.code == 0, str(checked)
        listed = proctor_main("runs", "--workflow", name, "--json", capsys=capsys)
        assert [run["workflow"] for run in listed.json()["runs"]] == ["refunds"], str(listed)
        versions = proctor_main("contract", "versions", name, "--json", capsys=capsys)
        assert len(versions.json()["versions"]) == 1, str(versions)
        tested = proctor_main("contract", "test", contract, "--workflow", name, capsys=capsys)
        assert tested.code == 0, str(tested)
        # The workflow instead of its file: the file its contract was loaded from.
        own = proctor_main("contract", "check", name, capsys=capsys)
        assert own.code == 0, str(own)
        assert f"{contract} is a valid contract" in own.out, str(own)
        drift = proctor_main("report", "drift", "--workflow", name, capsys=capsys)
        assert "the refunds contract" in drift.err, str(drift)
        assert "has no rollout" in drift.err, str(drift)
    # A workflow only $PROCTOR_WORKFLOWS knows counts as known for the file alone too.
    alone = proctor_main("contract", "check", contract, capsys=capsys)
    assert alone.code == 0, str(alone)
    for wrong in ("refundz", "nomodule:x"):
        neither = proctor_main("contract", "check", wrong, capsys=capsys)
        assert neither.code == 2, str(neither)
        assert f"{wrong} is neither a contract file nor a workflow (known: " in neither.err
        assert "❌" not in neither.err  # ':x' is text, not an emoji code
    unknown = proctor_main("run", "refundz", "--input", request, capsys=capsys)
    assert unknown.code == 1
    assert "no workflow named 'refundz' (known: " in unknown.err
    assert "refunds" in unknown.err


def test_run_help_for_a_workflow_lists_its_models(proctor_home: Path) -> None:
    path = [str(TOUR), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = cli_env(proctor_home, {"PYTHONPATH": os.pathsep.join(path)})
    named, after_options, bare = proctor_all(
        [
            ["run", "refunds:workflow", "--help"],
            ["run", "--model", "openai:x", "refunds:workflow", "--help"],
            ["run", "--help"],
        ],
        env=env,
    )
    for ran in (named, after_options):
        assert ran.code == 0, str(ran)
        assert "Default model    scripted:refund" in ran.out, str(ran)
        assert "Scripted models  scripted:refund, scripted:rogue" in ran.out, str(ran)
    assert bare.code == 0
    assert "Scripted models" not in bare.out
