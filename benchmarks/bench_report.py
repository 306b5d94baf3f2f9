"""Results of ``benchmarks/run_all.py``: figures, ratios, the JSON file and the one table.

Nothing here imports a peer or times anything, so ``tests/benchmarks`` checks the writer
and the renderer on a made-up result. A *figure* is one contender's samples (or a figure
derived from others, such as an added cost); its ratio is its p50 (and p99) over those of
its *baseline*, another figure of the same comparison.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

TABLE_START = "<!-- bench:table -->"
TABLE_END = "<!-- /bench:table -->"


def pct(samples: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0-1) of ``samples``, nearest rank."""
    ordered = sorted(samples)
    if not ordered:
        raise ValueError("no samples: a contender ran zero times")
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


@dataclass(kw_only=True)
class Figure:
    """One line of the table: a contender's p50 and p99 in ``unit``, over ``n`` samples."""

    name: str
    unit: str
    p50: float
    p99: float | None = None
    n: int = 0
    baseline: str | None = None
    """The name of the figure of the same comparison this one is divided by."""
    note: str = ""
    ratio_p50: float | None = None
    ratio_p99: float | None = None

    @classmethod
    def of(
        cls,
        name: str,
        unit: str,
        samples: Sequence[float],
        *,
        baseline: str | None = None,
        note: str = "",
        p99: bool = True,
    ) -> Figure:
        return cls(
            name=name,
            unit=unit,
            p50=statistics.median(samples),
            p99=pct(samples, 0.99) if p99 else None,
            n=len(samples),
            baseline=baseline,
            note=note,
        )


@dataclass(kw_only=True)
class Comparison:
    """Contenders measured side by side (alternated in one process), and how."""

    name: str
    method: str
    figures: list[Figure] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None

    def add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        return figure

    def compute_ratios(self) -> None:
        """Fill each figure's ratios from its baseline's p50 and p99."""
        by_name = {figure.name: figure for figure in self.figures}
        for figure in self.figures:
            if figure.baseline is None:
                continue
            base = by_name.get(figure.baseline)
            if base is None:
                raise ValueError(
                    f"{self.name}: figure {figure.name!r} names baseline {figure.baseline!r}, "
                    f"which is not one of {sorted(by_name)}"
                )
            figure.ratio_p50 = _ratio(figure.p50, base.p50)
            if figure.p99 is not None and base.p99 is not None:
                figure.ratio_p99 = _ratio(figure.p99, base.p99)


def _ratio(a: float, b: float) -> float | None:
    return None if b == 0 else a / b


@dataclass(kw_only=True)
class Results:
    """Everything one ``make bench`` run writes to ``benchmarks/results/latest.json``."""

    started: str
    quick: bool
    machine: dict[str, Any]
    versions: dict[str, str]
    comparisons: list[Comparison] = field(default_factory=list)
    finished: str = ""

    def to_json(self) -> str:
        for comparison in self.comparisons:
            comparison.compute_ratios()
        return json.dumps(asdict(self), indent=2, sort_keys=False) + "\n"

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_json())

    @classmethod
    def read(cls, path: Path) -> Results:
        data = json.loads(path.read_text())
        comparisons = [
            Comparison(
                **{k: v for k, v in c.items() if k != "figures"},
                figures=[Figure(**f) for f in c["figures"]],
            )
            for c in data.pop("comparisons")
        ]
        return cls(**data, comparisons=comparisons)


def _num(value: float | None) -> str:
    if value is None:
        return ""
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    if value >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def _times(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}x"


def render_table(results: Results) -> str:
    """The one Markdown table of every figure and ratio, with a line on the machine."""
    for comparison in results.comparisons:
        comparison.compute_ratios()
    m = results.machine
    load = " to ".join(f"{m[k][0]:.2f}" for k in ("load_start", "load_end") if k in m)
    lines = [
        f"{'`run_all.py --quick`' if results.quick else '`make bench`'}, {results.started} "
        f"({m.get('cpu_model', '?')}, {m.get('cores', '?')} cores; load average {load}; "
        f"CPU steal {m.get('steal_percent', '?')} %; Python {m.get('python', '?')}). "
        "Ratios are p50 / the baseline's p50 (and p99 / p99), contenders alternated in one "
        "process; below 1x is faster (or fewer) than the baseline.",
        "",
        "| comparison | figure | unit | p50 | p99 | vs | ratio p50 | ratio p99 |",
        "| --- | --- | --- | ---: | ---: | --- | ---: | ---: |",
    ]
    for comparison in results.comparisons:
        if comparison.error is not None:
            lines.append(f"| {comparison.name} | not measured: {comparison.error} | | | | | | |")
            continue
        for figure in comparison.figures:
            name = figure.name + (f" ({figure.note})" if figure.note else "")
            lines.append(
                f"| {comparison.name} | {name} | {figure.unit} | {_num(figure.p50)} | "
                f"{_num(figure.p99)} | {figure.baseline or ''} | {_times(figure.ratio_p50)} | "
                f"{_times(figure.ratio_p99)} |"
            )
    return "\n".join(lines) + "\n"


def replace_table(document: str, table: str) -> str:
    """``document`` with the text between the table markers replaced by ``table``."""
    start, end = document.find(TABLE_START), document.find(TABLE_END)
    if start < 0 or end < start:
        raise ValueError(
            f"the document has no {TABLE_START} ... {TABLE_END} markers: add them where the "
            "table belongs"
        )
    head = document[: start + len(TABLE_START)]
    return f"{head}\n{table}{document[end:]}"


def update_doc(path: Path, results: Results) -> None:
    path.write_text(replace_table(path.read_text(), render_table(results)))


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cpu_ticks() -> tuple[int, int]:
    """(all, steal) CPU ticks from /proc/stat; (0, 0) where there is none."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return 0, 0
    values = [int(v) for v in fields]
    return sum(values[:8]), values[7] if len(values) > 7 else 0


def machine_start() -> dict[str, Any]:
    total, steal = cpu_ticks()
    return {
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "load_start": list(os.getloadavg()),
        "python": platform.python_version(),
        "implementation": sys.implementation.name,
        "os": f"{platform.system()} {platform.release()}",
        "platform": platform.platform(),
        "_ticks": [total, steal],
    }


def machine_end(machine: dict[str, Any]) -> None:
    machine["load_end"] = list(os.getloadavg())
    total0, steal0 = machine.pop("_ticks", [0, 0])
    total, steal = cpu_ticks()
    if total > total0:
        machine["steal_percent"] = round(100 * (steal - steal0) / (total - total0), 1)


def versions(distributions: Sequence[str]) -> dict[str, str]:
    """Installed versions of ``distributions`` ("not installed" for the missing)."""
    out = {}
    for name in distributions:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def now() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
