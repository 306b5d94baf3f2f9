"""``--config``: a project config that cannot work is refused at start, in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_harness import cli_env, proctor


@pytest.mark.slow
def test_a_broken_project_config_is_refused_before_any_run(tmp_path: Path) -> None:
    config = tmp_path / "proctor.yaml"
    config.write_text("models:\n  small: {model: gpt-4o-mini, price: {input: -1, output: 1}}\n")
    request = tmp_path / "input.json"
    request.write_text(json.dumps({"invoice_text": "x"}))
    ran = proctor(
        "--config",
        str(config),
        "run",
        "invoice_reconciliation",
        "--input",
        str(request),
        env=cli_env(tmp_path / "home", {"OPENAI_API_KEY": "unused"}),
    )
    assert ran.code == 1, ran
    assert "Traceback" not in ran.err
    assert f"{config}: models.small.price.input" in ran.err, ran
    assert len(ran.err.strip().splitlines()) == 1, ran
    runs = proctor("runs", "--json", env=cli_env(tmp_path / "home"))
    assert runs.code == 1  # refused before any store was made
    assert "no store at" in runs.err
