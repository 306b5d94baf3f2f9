"""Where ``--db`` points: URLs read as documented, typos refused, and no command that only
reads a store ever creates one."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from cli_harness import Ran, one_line_error, proctor_main

from proctor.store import SQLiteStore

NO_RUN = "run_0000000000000000"

READERS = [
    ["runs"],
    ["trace", NO_RUN],
    ["approvals"],
    ["approve", "ap_000000000000", "--as", "alice"],
    ["deny", "ap_000000000000", "--as", "alice", "--reason", "no"],
    ["queue"],
    ["resume", NO_RUN],
    ["resume", "--all"],
    ["audit", "verify"],
    ["audit", "export", NO_RUN],
    ["audit", "checkpoint"],
    ["contract", "versions"],
    ["contract", "diff", "abcd", "ef01"],
    ["eval", "results"],
    ["eval", "capture", NO_RUN],
    ["gateway", "usage"],
    ["keys", "list"],
    ["keys", "revoke", "key_00000000"],
    ["retention", "apply", "--dry-run"],
    ["rollout", "status", "invoice_reconciliation"],
    ["otel", "export", "--endpoint", "http://127.0.0.1:9/v1/traces"],
]


def _make_store(path: Path) -> None:
    asyncio.run(SQLiteStore(path).close())


@pytest.mark.parametrize("args", READERS, ids=" ".join)
def test_a_command_that_reads_never_creates_a_store(
    args: list[str], proctor_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "no" / "such" / "x.db"
    by_home = proctor_main(*args, capsys=capsys)
    by_db = proctor_main("--db", str(missing), *args, capsys=capsys)

    assert one_line_error(by_home, 1).startswith(
        f"error: no store at {proctor_home / 'proctor.db'} (the file does not exist, "
        "nor does its folder). Fix: name an existing store with --db"
    )
    assert f"no store at {missing} " in one_line_error(by_db, 1)
    assert not (proctor_home / "proctor.db").exists()
    assert not (tmp_path / "no").exists()


def test_db_status_of_a_missing_store_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "no" / "x.db"
    ran = proctor_main("--db", str(missing), "db", "status", capsys=capsys)
    assert ran.code == 0, str(ran)
    assert "schema version: 0 (none yet" in ran.out
    assert not missing.parent.exists()


def test_a_folder_is_not_a_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ran = proctor_main("--db", str(tmp_path), "runs", capsys=capsys)
    assert one_line_error(ran, 1) == (
        f"error: no store at {tmp_path}: it is a folder. Fix: name the store's file, "
        f"e.g. --db {tmp_path / 'proctor.db'}"
    )


@pytest.mark.parametrize(
    ("location", "problem"),
    [
        ("postgresql//oops", "looks like a URL but has no '://'"),
        ("postgres:oops", "looks like a URL but has no '://'"),
        ("sqlite:/x.db", "looks like a URL but has no '://'"),
        ("SQLite//x.db", "looks like a URL but has no '://'"),
        ("sqlite://x.db", "is not sqlite:///ABSOLUTE/PATH"),
        ("sqlite:///", "is not sqlite:///ABSOLUTE/PATH"),
        ("mysql://localhost/proctor", "has an unsupported scheme 'mysql'"),
        ("file:/tmp/x.db", "looks like a URL but has no '://'"),
        ("", "is empty"),
    ],
)
def test_a_mistyped_store_url_is_a_usage_error_not_a_new_store(
    location: str,
    problem: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    for args in (["runs"], ["db", "upgrade"]):  # a reader, and a command that creates
        ran = proctor_main("--db", location, *args, capsys=capsys)
        assert one_line_error(ran, 2) == (
            f"usage error: the store location {location!r} {problem}. Fix: give a file path "
            "(runs.db), sqlite:///ABSOLUTE/PATH or postgresql://USER@HOST/DATABASE, with --db "
            "or PROCTOR_DB"
        )
    assert list(tmp_path.iterdir()) == []


def test_sqlite_urls_name_absolute_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    store = tmp_path / "runs.db"
    # sqlite:///tmp/... : three slashes, then the absolute path without its leading one.
    three = f"sqlite:///{str(store).lstrip('/')}"
    made = proctor_main("--db", three, "db", "upgrade", capsys=capsys)
    assert made.code == 0, str(made)
    assert store.is_file()
    assert list(elsewhere.iterdir()) == []  # not ./tmp/.../runs.db
    # SQLAlchemy's four slashes name the same file.
    for location in (three, f"sqlite:///{store}", str(store)):
        listed = proctor_main("--db", location, "runs", capsys=capsys)
        assert listed.code == 0, str(listed)
        assert "0 run(s)" in listed.out


def test_audit_commands_take_db_after_their_name(
    tmp_path: Path, proctor_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = proctor_main("audit", "verify", "--db", str(tmp_path / "x.db"), capsys=capsys)
    assert f"no store at {tmp_path / 'x.db'} " in one_line_error(missing, 1)
    assert not proctor_home.exists()  # no keys made for a store that is not there
    store = tmp_path / "runs.db"
    _make_store(store)
    after = proctor_main("audit", "verify", "--db", str(store), capsys=capsys)
    assert after.code == 0, str(after)
    assert "✓ 0 chain(s) verified" in after.out
    # Given after the command, it wins over the global one.
    both = proctor_main(
        "--db", str(tmp_path / "x.db"), "audit", "verify", "--db", str(store), capsys=capsys
    )
    assert both.code == 0, str(both)


def test_a_global_option_after_the_command_says_where_it_goes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    ran: Ran = proctor_main("trace", NO_RUN, "--db", "x.db", capsys=capsys)
    assert one_line_error(ran, 2) == (
        "usage error: No such option: --db. Fix: give --db before the command, as in "
        "`proctor --db STORE trace ...`"
    )
