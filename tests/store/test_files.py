"""A new SQLite store and the folder Proctor makes for it are readable by their owner alone.

Threat model: someone who can read the machine's other users' files (a shared host): the
store holds inputs, arguments and results; the signing key beside it is 0600 too.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from proctor.store import open_store


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    """The umask most systems start with (022), which leaves new files world-readable."""
    before = os.umask(0o022)
    yield
    os.umask(before)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_a_new_store_its_wal_and_its_home_are_private(proctor_home: Path) -> None:
    assert not proctor_home.exists()
    store = open_store()  # creating its schema writes to the WAL
    try:
        db = proctor_home / "proctor.db"
        files = [db, db.with_name("proctor.db-wal"), db.with_name("proctor.db-shm")]
        assert {file.name: oct(mode(file)) for file in files} == {
            file.name: "0o600" for file in files
        }
        assert oct(mode(proctor_home)) == "0o700"
    finally:
        await store.close()


async def test_folders_and_files_that_exist_keep_their_modes(tmp_path: Path) -> None:
    shared = tmp_path / "team"
    shared.mkdir(mode=0o750)
    (shared / "runs.db").touch(mode=0o640)
    nested = tmp_path / "a" / "b" / "runs.db"

    for path in (shared / "runs.db", nested):
        await open_store(path).close()

    assert (oct(mode(shared)), oct(mode(shared / "runs.db"))) == ("0o750", "0o640")
    assert [oct(mode(level)) for level in (nested.parent.parent, nested.parent, nested)] == [
        "0o700",
        "0o700",
        "0o600",
    ]
