"""The cache of parsed YAML files: unchanged files come from it, edited ones are read again."""

from __future__ import annotations

from pathlib import Path

import pytest

import proctor._yaml._cache as yaml_cache
from proctor._yaml import YamlCache, cache_folder, parse_yaml
from proctor.evals import CaseFileError, load_suite

CASE = """\
workflow: invoice_reconciliation
input: {vendor_id: V-1}
fixtures:
  - tool: erp.fetch_po
    arguments: {po_number: PO-1}
    result: {status: open}
expect: {outcome: resolved}
"""


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The texts the cache had to parse (it missed)."""
    seen: list[str] = []

    def counting(text: str, *, kind: str = "YAML file") -> object:
        seen.append(text)
        return parse_yaml(text, kind=kind)

    monkeypatch.setattr(yaml_cache, "parse_yaml", counting)
    return seen


def test_an_unchanged_suite_loads_from_the_cache(tmp_path: Path, parses: list[str]) -> None:
    (tmp_path / "a.yaml").write_text(CASE)
    (tmp_path / "b.yaml").write_text(CASE.replace("PO-1", "PO-2"))
    first = load_suite(tmp_path)
    assert len(parses) == 2
    second = load_suite(tmp_path)
    assert len(parses) == 2  # nothing parsed again
    assert [c.fixtures[0].pattern.line for c in second.cases] == [4, 4]  # lines kept
    assert [c.input for c in second.cases] == [c.input for c in first.cases]
    assert second.cases[1].fixtures[0].pattern.matches("erp.fetch_po", {"po_number": "PO-2"}, {})
    (tmp_path / "b.yaml").write_text(CASE.replace("PO-1", "PO-3"))
    third = load_suite(tmp_path)
    assert len(parses) == 3  # only the edited file
    assert third.cases[1].fixtures[0].pattern.matches("erp.fetch_po", {"po_number": "PO-3"}, {})


def test_a_cached_file_with_a_wrong_key_is_still_named_at_its_line(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(CASE.replace("    result:", "    resutl:"))
    messages = []
    for _ in range(2):  # the second load reads the (valid YAML) document from the cache
        with pytest.raises(CaseFileError) as raised:
            load_suite(tmp_path)
        messages.append(str(raised.value))
    assert messages[0] == messages[1]
    assert "a.yaml:6" in messages[1]


def test_files_with_yaml_problems_are_not_kept(tmp_path: Path, parses: list[str]) -> None:
    (tmp_path / "a.yaml").write_text("workflow: [unclosed\n")
    for _ in range(2):
        with pytest.raises(CaseFileError, match="invalid YAML"):
            load_suite(tmp_path)
    assert len(parses) == 2


def test_a_damaged_or_foreign_cache_file_is_ignored(tmp_path: Path, parses: list[str]) -> None:
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "a.yaml").write_text(CASE)
    load_suite(suite)
    cache = YamlCache(suite)
    assert cache.path is not None
    assert cache.path.is_file()
    cache.path.write_bytes(b"\x00not marshal")
    assert load_suite(suite).cases[0].input == {"vendor_id": "V-1"}
    assert len(parses) == 2  # read again, and the cache rewritten
    load_suite(suite)
    assert len(parses) == 2


def test_the_cache_can_be_turned_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parses: list[str]
) -> None:
    monkeypatch.setenv("PROCTOR_CACHE_DIR", "off")
    assert cache_folder() is None
    (tmp_path / "a.yaml").write_text(CASE)
    load_suite(tmp_path)
    load_suite(tmp_path)
    assert len(parses) == 2


def test_the_default_folder_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("PROCTOR_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_folder() == tmp_path / "proctor"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_folder() == Path.home() / ".cache" / "proctor"


def test_an_unwritable_cache_folder_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("PROCTOR_CACHE_DIR", str(blocker / "cache"))
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "a.yaml").write_text(CASE)
    assert load_suite(tmp_path / "s").cases[0].id == "a"
