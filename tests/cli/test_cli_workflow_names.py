"""One workflow, two spellings: its name and its ``package.module:attribute`` ref work in
every command that takes a workflow, including a name only ``$PROCTOR_WORKFLOWS`` knows."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cli_harness import cli_env, proctor, proctor_all

ROOT = Path(__file__).resolve().parents[2]
TOUR = ROOT / "docs" / "tour"

pytestmark = pytest.mark.slow


def test_the_name_and_the_ref_work_in_every_command(proctor_home: Path) -> None:
    path = [str(TOUR), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = cli_env(
        proctor_home,
        {"PYTHONPATH": os.pathsep.join(path), "PROCTOR_WORKFLOWS": "refunds:workflow"},
    )
    request = str(TOUR / "refund_request.json")
    started = proctor("run", "refunds", "--input", request, "--model", "scripted:rogue", env=env)
    assert started.code == 3, str(started)  # escalated: the rogue model
    contract = str(TOUR / "refunds.yaml")
    for name in ("refunds", "refunds:workflow"):
        checked, listed, versions, tested = proctor_all(
            [
                ["contract", "check", contract, "--workflow", name],
                ["runs", "--workflow", name, "--json"],
                ["contract", "versions", name, "--json"],
                ["contract", "test", contract, "--workflow", name],
            ],
            env=env,
        )
        assert checked.code == 0, str(checked)
        assert [run["workflow"] for run in listed.json()] == ["refunds"], str(listed)
        assert len(versions.json()["versions"]) == 1, str(versions)
        assert tested.code == 0, str(tested)
    unknown = proctor("run", "refundz", "--input", request, env=env)
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
