"""Separation of duties on the CLI, and runs whose stored workflow is not one to load.

Whoever started a run may not decide its approvals under any spelling of their name
(THREAT-MODEL: never approves a run it started, by identity); a workflow ref read back
from the store is looked up, never imported (someone who can write the database).
"""

from __future__ import annotations

import getpass
import json
import re
from pathlib import Path

import pytest
from cli_harness import cli_env, proctor, proctor_all

from proctor.examples import invoice
from proctor.store import open_store
from support.raw_sql import execute_raw

ZEN = "Beautiful is better than ugly"  # what importing `this` prints


@pytest.fixture
def env(proctor_home: Path) -> dict[str, str]:
    return cli_env(proctor_home)


def _waiting_run(tmp_path: Path, env: dict[str, str]) -> tuple[str, str]:
    sample = tmp_path / "over.json"
    sample.write_text(json.dumps(invoice.sample_input("over_threshold")))
    ran = proctor("run", "invoice_reconciliation", "--input", str(sample), env=env)
    assert ran.code == 10, str(ran)  # awaiting approval
    run_id = re.search(r"run (run_[0-9a-f]{16})", ran.out)
    approval_id = re.search(r"waiting for approval (ap_[0-9a-f]+)", ran.out)
    assert run_id, str(ran)
    assert approval_id, str(ran)
    return run_id.group(1), approval_id.group(1)


def test_who_started_a_run_cannot_approve_it_under_any_spelling(
    tmp_path: Path, env: dict[str, str]
) -> None:
    run_id, approval_id = _waiting_run(tmp_path, env)
    login = getpass.getuser()
    # Refusals write nothing, so they run side by side.
    spellings: list[list[str]] = [[], ["--as", login.upper()], ["--as", f" cli:{login} "]]
    for refused in proctor_all([["approve", approval_id, *each] for each in spellings], env=env):
        assert refused.code == 1, str(refused)
        assert "separation of duties" in refused.err, str(refused)
        assert refused.err.count("\n") == 1, str(refused)  # one line, no traceback
    listed = proctor("approvals", "--json", env=env).json()["approvals"]
    assert [(a["approval_id"], a["status"]) for a in listed] == [(approval_id, "pending")]

    approved = proctor("approve", approval_id, "--as", "second-person", env=env)
    assert approved.code == 0, str(approved)
    assert f"run {run_id}: resolved" in approved.out


def test_nobody_decides_as_the_checker(tmp_path: Path, env: dict[str, str]) -> None:
    _, approval_id = _waiting_run(tmp_path, env)
    ran = proctor("approve", approval_id, "--as", "Checker:gpt-4o", env=env)
    assert ran.code == 2, str(ran)
    assert "names the checker model" in ran.err


async def test_a_stored_ref_is_not_imported_on_approve_or_resume(
    tmp_path: Path, env: dict[str, str], proctor_home: Path
) -> None:
    run_id, approval_id = _waiting_run(tmp_path, env)
    store = open_store(proctor_home / "proctor.db")
    try:
        edit = "UPDATE runs SET workflow_ref = 'this:s' WHERE run_id = ?"
        await execute_raw(store, edit, (run_id,))
    finally:
        await store.close()

    # The edit is caught against the chained run_started: nothing is decided or resumed.
    approved = proctor("approve", approval_id, "--as", "second-person", env=env)
    assert approved.code == 1, str(approved)
    assert "approved by" not in approved.out
    assert "workflow_ref 'this:s'" in approved.err
    resumed = proctor("resume", run_id, "--workflow", "invoice_reconciliation", env=env)
    assert resumed.code == 1, str(resumed)
    assert "no workflow 'this:s' here" in resumed.err  # looked up by name, never imported
    for ran in (approved, resumed):
        assert ZEN not in ran.out + ran.err
