"""Files and folders Proctor creates hold runs, inputs and keys: their owner's alone.

A SQLite store is created 0600 before SQLite opens it; SQLite gives its ``-wal`` and
``-shm`` files the database file's mode, so they are 0600 too. Folders Proctor creates
(``PROCTOR_HOME`` and any missing parent) are 0700. What exists already is left as it
is: its owner may have widened it on purpose.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def default_home() -> Path:
    """Where Proctor keeps its files: ``$PROCTOR_HOME`` or ``./.proctor``."""
    return Path(os.environ.get("PROCTOR_HOME") or ".proctor")


def private_dirs(path: Path) -> None:
    """Create the folder ``path`` and its missing parents, each 0700."""
    for level in reversed((path, *path.parents)):
        if not level.exists():
            with contextlib.suppress(FileExistsError):  # another process made it just now
                level.mkdir(mode=0o700)


def private_file(path: Path) -> None:
    """Create the empty file ``path`` 0600 (its folder 0700) unless it exists."""
    private_dirs(path.parent)
    with contextlib.suppress(FileExistsError):
        # O_EXCL and the mode at creation: no moment with wider access.
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
