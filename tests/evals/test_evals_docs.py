"""docs/evals.md documents every key, mode, status and option it describes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args

import typer.main
from pydantic import BaseModel

from proctor.cli import app
from proctor.evals import ORDER_MODES, load_case
from proctor.evals._spec import CallStatus, CaseSpec, OutcomeName, SuiteSpec

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "evals.md").read_text(encoding="utf-8")


def _models_in(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for argument in get_args(annotation):
        yield from _models_in(argument)


def test_every_case_and_suite_key_is_documented() -> None:
    found: dict[str, list[str]] = {}
    todo: list[type[BaseModel]] = [CaseSpec, SuiteSpec]
    while todo:
        model = todo.pop()
        if model.__name__ not in found:
            found[model.__name__] = list(model.model_fields)
            for field in model.model_fields.values():
                todo.extend(_models_in(field.annotation))
    assert len(found) >= 12
    missing = [
        f"{model}.{key}"
        for model, keys in found.items()
        for key in [model, *keys]
        if f"`{key}`" not in DOC
    ]
    assert not missing, f"add these to docs/evals.md: {missing}"


def test_every_order_mode_status_and_outcome_is_documented() -> None:
    names = [*ORDER_MODES, *get_args(CallStatus), *get_args(OutcomeName)]
    missing = [name for name in names if f"`{name}`" not in DOC]
    assert not missing, f"add these to docs/evals.md: {missing}"


def test_every_eval_command_option_is_documented() -> None:
    group = typer.main.get_command(app).commands["eval"]  # type: ignore[attr-defined]
    options = [
        option
        for command in group.commands.values()
        for param in command.params
        for option in param.opts
        if option.startswith("--")
    ]
    assert "--recorded" in options
    assert "--max-cost-change" in options
    missing = [option for option in options if f"`{option}" not in DOC]
    assert not missing, f"add these to docs/evals.md: {missing}"


def test_links_in_the_evals_doc_exist() -> None:
    for target, anchor in re.findall(r"\]\(([^)#\s]*)(?:#([^)\s]+))?\)", DOC):
        linked = (ROOT / "docs" / target) if target else ROOT / "docs" / "evals.md"
        assert linked.exists(), f"docs/evals.md links to {target}, which does not exist"
        if anchor:
            headings = re.findall(r"^#+ (.+)$", linked.read_text(encoding="utf-8"), re.MULTILINE)
            ids = {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}
            assert anchor in ids, f"docs/evals.md: no heading #{anchor} in {target}"
    assert "(docs/evals.md)" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_documented_case_loads_and_replays_as_described(tmp_path: Path) -> None:
    block = DOC[DOC.index("## Case files") :].split("```yaml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "documented.yaml"
    path.write_text(block, encoding="utf-8")
    loaded = load_case(path)
    assert [f.pattern.tool for f in loaded.fixtures] == [
        "erp.lookup_vendor",
        "erp.create_payment",
        "erp.fetch_po",
    ]
    assert loaded.expect.order == "in_order"
    assert loaded.expect.require_rules == ("approval.erp.create_payment",)
    assert loaded.recorded is not None
    assert loaded.recorded.calls == [("erp.lookup_vendor", {"vendor_id": "V-1001"})]
