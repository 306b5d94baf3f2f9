"""``proctor db status`` and ``proctor db upgrade``, on a SQLite file and a PostgreSQL schema."""

from __future__ import annotations

from pathlib import Path

from cli_harness import cli_env, proctor

from proctor.store._migrations import SCHEMA_VERSION


def test_db_status_and_upgrade_on_a_sqlite_file(tmp_path: Path) -> None:
    env = cli_env(tmp_path / "home")
    db = tmp_path / "runs.db"

    before = proctor("--db", str(db), "db", "status", env=env)
    assert before.code == 0, before
    assert "backend: sqlite" in before.out
    assert f"store: {db}" in before.out
    assert "schema version: 0 (none yet" in before.out
    assert not db.exists()  # a status never creates the store

    upgraded = proctor("--db", str(db), "db", "upgrade", env=env)
    assert upgraded.code == 0, upgraded
    assert f"schema version 0 -> {SCHEMA_VERSION}" in upgraded.out

    after = proctor("--db", str(db), "db", "status", env=env)
    assert f"schema version: {SCHEMA_VERSION} (current)" in after.out


def test_db_status_and_upgrade_on_a_postgres_schema(postgres_url: str, tmp_path: Path) -> None:
    # The URL comes from PROCTOR_DB here, as a deployment would set it.
    env = cli_env(tmp_path / "home", {"PROCTOR_DB": postgres_url})

    before = proctor("db", "status", env=env)
    assert before.code == 0, before
    assert "backend: postgresql" in before.out
    assert "schema version: 0 (none yet" in before.out

    upgraded = proctor("db", "upgrade", env=env)
    assert upgraded.code == 0, upgraded
    assert f"schema version 0 -> {SCHEMA_VERSION}" in upgraded.out

    again = proctor("db", "upgrade", env=env)
    assert f"schema version {SCHEMA_VERSION}, already current" in again.out


def test_db_status_of_an_unreachable_server_names_the_fix(tmp_path: Path) -> None:
    env = cli_env(tmp_path / "home")
    url = "postgresql://proctor:s3cret@127.0.0.1:1/runs"

    ran = proctor("--db", url, "db", "status", env=env)

    assert ran.code == 1, ran
    assert "error: cannot connect to PostgreSQL at 127.0.0.1:1/runs" in ran.err
    assert "Check the URL in --db/PROCTOR_DB" in ran.err
    assert "s3cret" not in ran.err + ran.out
