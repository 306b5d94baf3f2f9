"""The one YAML reader for files people write (``_reader``), and the cache of parsed files
that large eval suites load from (``_cache``)."""

from __future__ import annotations

from proctor._yaml._cache import YamlCache, cache_folder
from proctor._yaml._reader import (
    MAX_YAML_DEPTH,
    KeyPath,
    YamlDocument,
    YamlProblem,
    dotted,
    load_yaml_file,
    parse_yaml,
    problem_text,
    read_yaml_text,
)

__all__ = [
    "MAX_YAML_DEPTH",
    "KeyPath",
    "YamlCache",
    "YamlDocument",
    "YamlProblem",
    "cache_folder",
    "dotted",
    "load_yaml_file",
    "parse_yaml",
    "problem_text",
    "read_yaml_text",
]
