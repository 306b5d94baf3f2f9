"""The one YAML reader (proctor._yaml): what contracts, eval cases and proctor.yaml all refuse.

Threat model: a wrong or compromised model, or anyone who writes a file Proctor reads
(a contract in review, a captured case): no file can exhaust memory or end in a traceback.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from proctor._yaml import MAX_YAML_DEPTH, parse_yaml
from proctor.contracts import load_contract
from proctor.errors import ConfigError
from proctor.evals import load_case
from proctor.gateway import load_config


def billion_laughs() -> str:
    """The classic alias bomb: 9 levels of 9 aliases, 9**9 (387 million) strings."""
    lines = [
        "workflow: w",
        'description: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
    ]
    for level, name in enumerate("bcdefghi"):
        before = "abcdefghi"[level]
        lines.append(f"x{name}: &{name} [" + ",".join([f"*{before}"] * 9) + "]")
    return "\n".join(lines) + "\n"


LOADERS: dict[str, Callable[[Path], Any]] = {
    "contract": load_contract,
    "eval case": load_case,
    "proctor.yaml": lambda path: load_config(path, check_env=False),
}


@pytest.mark.parametrize("loader", LOADERS.values(), ids=list(LOADERS))
def test_an_alias_bomb_is_refused_without_growing_memory(
    tmp_path: Path, loader: Callable[[Path], Any]
) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(billion_laughs())
    assert path.stat().st_size < 600

    tracemalloc.start()
    try:
        with pytest.raises(ConfigError) as refused:
            loader(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak < 2_000_000  # bytes; expanding it would take gigabytes
    message = str(refused.value)
    assert message.startswith(f"{path}:2: YAML anchor '&a'")
    assert "allow no anchors or aliases. Fix: write the value out in full" in message


def test_an_alias_alone_is_refused_at_its_line() -> None:
    doc = parse_yaml("a: 1\nb:\n  - *x\n", kind="contract")

    assert not doc.parsed
    (problem,) = doc.problems
    assert problem.line == 3
    assert problem.message.startswith("YAML alias '*x': contracts allow no anchors or aliases")


def test_a_self_referring_alias_is_refused_without_recursing() -> None:
    doc = parse_yaml("a: &loop [*loop]\n")

    assert [p.line for p in doc.problems] == [1]


@pytest.mark.parametrize("opening", ["[", "{a: ", "- "])
def test_nesting_is_bounded_without_recursion(opening: str) -> None:
    deep = MAX_YAML_DEPTH + 1
    if opening == "- ":
        text = "".join("  " * level + "-\n" for level in range(deep)) + "  " * deep + "x\n"
    else:
        closing = "]" if opening == "[" else "}"
        text = opening * deep + "1" + closing * deep
    doc = parse_yaml(text)

    assert not doc.parsed
    assert f"nested more than {MAX_YAML_DEPTH} levels deep" in doc.problems[0].message
    assert parse_yaml("[" * MAX_YAML_DEPTH + "]" * MAX_YAML_DEPTH).parsed


@pytest.mark.parametrize(
    ("text", "line", "message", "fix"),
    [
        ("n: 18446744073709551616\n", 1, "n is an integer beyond 64 bits", "within 64 bits"),
        ("a: 1\nn: -9223372036854775809\n", 2, "n is an integer beyond 64 bits", "64 bits"),
        ("limits: {x: .nan}\n", 1, "limits.x is nan", "finite number"),
        ("l:\n- 1\n- -.inf\n", 3, "l[1] is -inf", "finite number"),
        ("a: 1\nt: \ud800\n", 2, "lone surrogate", "valid Unicode"),
        ("d: 2024-13-45\n", 1, "d: '2024-13-45' is not a valid timestamp", "quote it"),
        ("x: !!python/object:os.system ls\n", 1, "unsupported YAML tag", "remove the '!tag'"),
        ("x: !!set {a, b}\n", 1, "unsupported YAML tag", "remove the '!tag'"),
        ("? [a, b]\n: 1\n", 1, "has a key that is a mapping or list", "plain name"),
        ("a: 1\na: 2\n", 2, "duplicate key 'a'", "keep one of them"),
        ("a: 1\n---\nb: 2\n", 2, "expected a single document", "one YAML document per"),
        ("a:\n\tb: 1\n", 2, "invalid YAML", "indent with spaces, not tabs"),
        ("a: 1\nb: \x1f\n", 2, "character 0x001f is not allowed", "remove it"),
    ],
)
def test_values_json_cannot_hold_and_odd_yaml_are_problems_at_their_line(
    text: str, line: int, message: str, fix: str
) -> None:
    (problem,) = parse_yaml(text).problems

    assert problem.line == line
    assert message in problem.message
    assert fix in problem.fix


def test_plain_yaml_reads_as_safe_load_would() -> None:
    text = """\
workflow: w
on: 1
n: 12
f: 1.5
flags: [yes, off, null, ~, "3"]
when: 2024-01-02
merged:
  <<: [{a: 1, b: 1}, {b: 2, c: 2}]
  c: 3
block: |
  two
  lines
"""
    import datetime

    doc = parse_yaml(text)

    assert doc.problems == []
    assert doc.value == {
        "workflow": "w",
        "on": 1,  # a key stays as written (YAML 1.1 would make it True)
        "n": 12,
        "f": 1.5,
        "flags": [True, False, None, None, "3"],
        "when": datetime.date(2024, 1, 2),
        "merged": {"a": 1, "b": 1, "c": 3},
        "block": "two\nlines\n",
    }
    assert doc.lines[("flags", 2)] == 5
    assert doc.lines[("merged", "c")] == 9
