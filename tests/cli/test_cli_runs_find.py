"""``proctor run --session``, ``proctor submit --session`` and ``proctor runs`` with
``--session``, ``--search`` and ``--sort``, in process over the invoice example."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_harness import one_line_error, proctor_main

from proctor.examples import invoice
from proctor.server._schemas import RunSummary


def _input(tmp_path: Path, sample: str) -> str:
    path = tmp_path / f"{sample}.json"
    path.write_text(json.dumps(invoice.sample_input(sample)))
    return str(path)


def test_runs_are_started_in_sessions_and_found(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clean, over = _input(tmp_path, "clean"), _input(tmp_path, "over_threshold")
    started = [
        proctor_main("run", "invoice_reconciliation", "-i", path, *extra, "--json", capsys=capsys)
        for path, extra in (
            (clean, ["--session", "chat-7"]),
            (over, ["--session", "chat-7"]),
            (clean, []),
        )
    ]
    assert [ran.code for ran in started] == [0, 10, 0], [str(ran) for ran in started]
    first, second, third = (ran.json()["run_id"] for ran in started)

    listed = proctor_main(
        "runs", "--session", "chat-7", "--sort", "started", "--json", capsys=capsys
    )
    runs = listed.json()["runs"]
    assert [run["run_id"] for run in runs] == [first, second]
    assert {run["session"] for run in runs} == {"chat-7"}
    assert set(runs[0]) == set(RunSummary.model_fields)  # as GET /api/v1/runs shows runs

    traced = proctor_main("trace", first, capsys=capsys)
    assert "in session chat-7" in " ".join(traced.out.replace("│", " ").split()), str(traced)
    found = proctor_main("runs", "--search", "northwind", "--json", capsys=capsys)
    assert [run["run_id"] for run in found.json()["runs"]] == [second]
    by_cost = proctor_main("runs", "--sort", "-cost", "--json", capsys=capsys).json()["runs"]
    costs = [run["totals"]["cost_usd"] for run in by_cost]
    assert costs == sorted(costs, reverse=True)
    assert {run["run_id"] for run in by_cost} == {first, second, third}

    table = proctor_main("runs", "--search", "paid invoice", capsys=capsys)
    assert table.code == 0, str(table)
    assert "2 run(s), newest first: $" in table.out
    assert "session chat-7" in table.out
    paged = proctor_main("runs", "--limit", "1", "--sort", "duration", capsys=capsys)
    assert "1 of 3 run(s), shortest first; all 3: $" in paged.out


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["runs", "--sort", "price"], "unknown sort 'price'"),
        (["runs", "--session", "a b"], "characters a session key cannot"),
        (["runs", "--search", "x" * 201], "more than 200"),
        (["run", "invoice_reconciliation", "-i", "in.json", "--session", "-x"], "session key"),
        (["submit", "invoice_reconciliation", "-i", "in.json", "--session", "y" * 129], "128"),
    ],
)
def test_bad_finding_options_are_one_line_usage_errors(
    args: list[str], says: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "in.json").write_text(json.dumps(invoice.sample_input("clean")))
    args = [str(tmp_path / a) if a == "in.json" else a for a in args]
    if args[0] == "runs":  # a store to read: the runs commands never create one
        proctor_main(
            "run", "invoice_reconciliation", "-i", str(tmp_path / "in.json"), capsys=capsys
        )
    assert says in one_line_error(proctor_main(*args, capsys=capsys), 2)


def test_a_submitted_run_keeps_its_session_in_the_queue(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    submitted = proctor_main(
        "submit", "invoice_reconciliation", "-i", _input(tmp_path, "clean"), "--session", "t-1",
        capsys=capsys,
    )  # fmt: skip
    assert submitted.code == 0, str(submitted)
    [item] = proctor_main("queue", "--json", capsys=capsys).json()["items"]
    assert (item["run_id"], item["session"]) == (submitted.out.strip(), "t-1")
