"""Parsed YAML files kept between runs, so a large eval suite loads from its cache.

Reading YAML is most of the time it takes to load a suite (libyaml's events alone cost
about 160 µs for a small case file). A suite's documents are kept, with their key lines,
in one file per suite folder under the user's cache folder, keyed by a hash of each
file's text: an edited file is read again, an unchanged one is not. Only documents
read without a problem are kept, and each save keeps only the entries the load used.

The cache folder is ``$PROCTOR_CACHE_DIR``, else ``$XDG_CACHE_HOME/proctor``, else
``~/.cache/proctor``; ``PROCTOR_CACHE_DIR=off`` turns the cache off. A cache that cannot
be read or written is ignored: the files are read as if it were not there.
"""

from __future__ import annotations

import contextlib
import hashlib
import marshal
import os
from pathlib import Path
from typing import Any

import yaml

from proctor._yaml._reader import MAX_YAML_DEPTH, YamlDocument, parse_yaml

_FORMAT = ("proctor-yaml-cache", 1, yaml.__version__, MAX_YAML_DEPTH)
"""Written in every cache file; a file with another one is ignored (a newer reader may
build different values from the same text)."""


def cache_folder() -> Path | None:
    """Where parsed files are cached, or None when ``PROCTOR_CACHE_DIR=off``."""
    chosen = os.environ.get("PROCTOR_CACHE_DIR")
    if chosen:
        return None if chosen.lower() in ("off", "0", "false", "no") else Path(chosen)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "proctor"


class YamlCache:
    """The parsed documents of one group of files (an eval suite's folder)."""

    def __init__(self, group: Path) -> None:
        folder = cache_folder()
        name = hashlib.blake2b(str(group.resolve()).encode(), digest_size=16).hexdigest()
        self.path = None if folder is None else folder / f"{name}.yaml-cache"
        self._kept: dict[bytes, bytes] = self._load()
        self._used: dict[bytes, bytes] = {}

    def parse(self, text: str, *, kind: str) -> YamlDocument:
        """``parse_yaml(text, kind=kind)``, from the cache when this text was read before."""
        if self.path is None:
            return parse_yaml(text, kind=kind)
        key = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        kept = self._kept.get(key)
        if kept is not None:
            with contextlib.suppress(ValueError, EOFError, TypeError):
                value, lines = marshal.loads(kept)
                self._used[key] = kept
                return YamlDocument(value=value, lines=lines)
        doc = parse_yaml(text, kind=kind)
        if doc.parsed and not doc.problems:
            with contextlib.suppress(ValueError):  # a value marshal cannot hold (a date)
                self._used[key] = marshal.dumps((doc.value, doc.lines))
        return doc

    def save(self) -> None:
        """Keep what this load used, if it differs from what was kept."""
        if self.path is None or self._used.keys() == self._kept.keys():
            return
        with contextlib.suppress(OSError):
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            partial = self.path.with_name(f"{self.path.name}.{os.getpid()}")
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as out:
                marshal.dump((_FORMAT, self._used), out)
            os.replace(partial, self.path)  # readers see the old file or the new, whole
        self._kept = dict(self._used)

    def _load(self) -> dict[bytes, bytes]:
        if self.path is None:
            return {}
        try:
            found: Any = marshal.loads(self.path.read_bytes())
        except (OSError, ValueError, EOFError, TypeError):
            return {}
        if not (isinstance(found, tuple) and len(found) == 2 and found[0] == _FORMAT):
            return {}
        entries = found[1]
        return entries if isinstance(entries, dict) else {}
