"""How the CLI's output reads: one table style, counts in the right number, resumes said
once."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from rich import box
from rich.console import Console
from rich.table import Table

import proctor.cli
from proctor.audit import RetentionItem, RetentionReport
from proctor.cli._queue_cmd import _queue_table
from proctor.cli._render import approvals_table, count, new_table, runs_table
from proctor.cli._retention_cmd import _retention_table
from proctor.cli._timeline import resumed_line
from proctor.store import PurgeRecord, RunRecord

CLI = Path(proctor.cli.__file__).parent


def _text(table: Table) -> str:
    console = Console(width=160, record=True, color_system=None)
    with console.capture() as captured:
        console.print(table)
    return captured.get()


def test_every_cli_table_has_one_style() -> None:
    tables = [new_table(), new_table("title"), runs_table([]), approvals_table([])]
    tables.append(_queue_table([]))
    assert {table.box for table in tables} == {box.SIMPLE_HEAD}
    assert {table.title_justify for table in tables} == {"left"}
    # Built in one place: no command makes a rich Table of its own style.
    builders = {
        path.name
        for path in CLI.glob("*.py")
        if re.search(r"\bTable\(", path.read_text()) and path.name != "_render.py"
    }
    assert builders == set()


@pytest.mark.parametrize(
    ("number", "said"), [(0, "0 days"), (1, "1 day"), (2, "2 days"), (1000, "1,000 days")]
)
def test_counts_are_plural_unless_one(number: int, said: str) -> None:
    assert count(number, "day") == said


def test_a_one_day_retention_reads_in_the_singular() -> None:
    run = RunRecord(
        run_id="run_1",
        workflow="refunds",
        model="scripted",
        contract_name="refunds",
        contract_hash="c" * 64,
        trace_id="t" * 32,
        started_at=0.0,
    )
    purge = PurgeRecord(run_id="run_1", purged_at=0.0, events=3, bytes=120, reason="retention")
    item = RetentionItem(run=run, retention_days=1, purge=purge)
    shown = _text(_retention_table(RetentionReport(dry_run=True, at=0.0, items=[item])))
    assert re.search(r"\b1 day\b", shown), shown
    assert "1 days" not in shown


@pytest.mark.parametrize(
    ("reason", "said"),
    [
        ("resumed", "resumed"),  # Runner.resume's default: not "resumed: resumed"
        ("resumed by worker w1", "resumed by worker w1"),
        ("approved by alice", "resumed: approved by alice"),
        ("owner process died", "resumed: owner process died"),
        ("", "resumed"),
    ],
)
def test_a_resume_is_said_once(reason: str, said: str) -> None:
    assert resumed_line(reason) == said
