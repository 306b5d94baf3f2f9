"""``make bench``'s writer and table (benchmarks/bench_report.py) on a made-up result: no
peer is imported and nothing is timed, so they cannot rot while the peers stay out of the
test environment."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from bench_report import (
    TABLE_END,
    TABLE_START,
    Comparison,
    Figure,
    Results,
    machine_end,
    machine_start,
    pct,
    render_table,
    replace_table,
    update_doc,
)

ROOT = Path(__file__).resolve().parents[2]


def fake() -> Results:
    machine = machine_start()
    machine_end(machine)
    policy = Comparison(name="policy decision", method="alternated")
    policy.add(Figure.of("agent-governance-toolkit", "µs", [10.0, 12.0, 14.0, 40.0]))
    policy.add(
        Figure.of("proctor", "µs", [4.0, 5.0, 6.0, 10.0], baseline="agent-governance-toolkit")
    )
    appends = Comparison(name="appends", method="rotated")
    appends.add(Figure.of("raw", "events/s", [200_000.0], p99=False))
    appends.add(Figure.of("journal", "events/s", [100_000.0], baseline="raw", p99=False))
    broken = Comparison(name="gateway", method="", error="RuntimeError: Portkey is missing")
    return Results(
        started="2026-12-04 07:00:00 UTC",
        quick=True,
        machine=machine,
        versions={"cedarpy": "4.12.2"},
        comparisons=[policy, appends, broken],
        finished="2026-12-04 07:01:00 UTC",
    )


def test_ratios_and_json_round_trip(tmp_path: Path) -> None:
    results = fake()
    path = tmp_path / "results" / "latest.json"
    results.write(path)
    data = json.loads(path.read_text())
    assert {"cores", "load_start", "load_end", "python", "os", "cpu_model"} <= set(data["machine"])
    assert "_ticks" not in data["machine"]
    proctor = data["comparisons"][0]["figures"][1]
    assert proctor["p50"] == 5.5
    assert proctor["ratio_p50"] == pytest.approx(5.5 / 13.0)
    assert proctor["ratio_p99"] == pytest.approx(10.0 / 40.0)
    journal = data["comparisons"][1]["figures"][1]
    assert journal["ratio_p50"] == 0.5
    assert journal["p99"] is None
    assert journal["ratio_p99"] is None
    again = Results.read(path)
    assert again.comparisons[0].figures[1].ratio_p50 == proctor["ratio_p50"]
    assert again.comparisons[2].error == "RuntimeError: Portkey is missing"


def test_table_has_every_figure_and_ratio() -> None:
    table = render_table(fake())
    rows = [line for line in table.splitlines() if line.startswith("| ")]
    assert rows[0].startswith("| comparison | figure |")
    assert (
        "| policy decision | proctor | µs | 5.50 | 10.0 | agent-governance-toolkit | 0.42x" in table
    )
    assert "| appends | journal | events/s | 100,000 |  | raw | 0.50x |  |" in table
    assert "| gateway | not measured: RuntimeError: Portkey is missing |" in table
    assert len(rows) == 2 + 4 + 1  # header, separator, four figures, one failure
    assert "load average" in table


def test_table_replaced_between_markers(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    doc.write_text(f"# B\n\nbefore\n{TABLE_START}\nold table\n{TABLE_END}\nafter\n")
    update_doc(doc, fake())
    text = doc.read_text()
    assert "old table" not in text
    assert text.startswith("# B\n\nbefore\n" + TABLE_START + "\n")
    assert text.endswith(TABLE_END + "\nafter\n")
    assert "| policy decision | proctor |" in text
    with pytest.raises(ValueError, match="markers"):
        replace_table("no markers here", "table")


def test_bad_baseline_and_empty_samples_are_named() -> None:
    comparison = Comparison(name="x", method="")
    comparison.add(Figure.of("a", "ms", [1.0], baseline="nobody"))
    with pytest.raises(ValueError, match="baseline 'nobody'"):
        comparison.compute_ratios()
    with pytest.raises(ValueError, match="no samples"):
        pct([], 0.5)


def test_the_benchmarks_doc_has_the_markers() -> None:
    text = (ROOT / "docs" / "benchmarks.md").read_text()
    assert text.index(TABLE_START) < text.index(TABLE_END)
