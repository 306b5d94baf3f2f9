"""Suite results: one verdict per case, as a JSON file to compare later and as JUnit XML.

Result files live under ``<proctor home>/eval-results/``; the same JSON is kept in the
store (``_stored``), and ``proctor eval diff`` reads either. Their text is redacted by
each case's contract before it is written, like the run log it summarises: a failure
message may quote arguments or the final answer.
"""

from __future__ import annotations

import secrets
import time
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from proctor.errors import ConfigError
from proctor.store import default_home, private_dirs

FORMAT_VERSION = 1
RESULT_ID_PREFIX = "evr_"


def new_result_id() -> str:
    """A fresh result id: ``evr_`` and 16 hex digits."""
    return RESULT_ID_PREFIX + secrets.token_hex(8)


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class FailureRecord(_Result):
    """One expectation a case failed (``expectation``: its key), and why."""

    expectation: str
    message: str

    def __str__(self) -> str:
        return f"{self.expectation}: {self.message}"


class CaseResult(_Result):
    """The verdict on one case, with the figures a diff compares."""

    id: str
    file: str
    passed: bool
    error: str | None = None
    """Why the case could not be replayed at all (it then counts as failed)."""
    outcome: str | None = None
    failures: list[FailureRecord] = Field(default_factory=list)
    deviations: list[str] = Field(default_factory=list)
    """Calls no fixture answered, each with the closest fixture."""
    divergence: str | None = None
    """The first call where the replay differs from the recording."""
    calls: list[str] = Field(default_factory=list)
    """The tools called, in order."""
    tool_calls: int = 0
    model_calls: int = 0
    tokens: int = 0
    cost_usd: float | None = None
    duration_ms: float = 0.0

    @property
    def first_failure(self) -> str | None:
        if self.error is not None:
            return f"error: {self.error}"
        return str(self.failures[0]) if self.failures else None

    def tool_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for tool in self.calls:
            counts[tool] = counts.get(tool, 0) + 1
        return counts


class SuiteResult(_Result):
    """Every case's verdict from one ``proctor eval run``."""

    format_version: int = FORMAT_VERSION
    result_id: str | None = None
    """The result's id in the store (``None`` in files written before results were stored)."""
    suite: str
    path: str
    mode: Literal["recorded", "live"]
    model: str | None = None
    workflow: str | None = None
    """The workflow(s) the cases replayed, comma-separated when several."""
    contract: str | None = None
    contract_hash: str | None = None
    """Content hash of the contract(s) the cases were judged by, comma-separated."""
    started_at: float = Field(default_factory=time.time)
    duration_s: float = 0.0
    cases: list[CaseResult] = Field(default_factory=list)

    @property
    def passed(self) -> int:
        return sum(case.passed for case in self.cases)

    @property
    def failed(self) -> int:
        return len(self.cases) - self.passed

    @property
    def errors(self) -> int:
        return sum(case.error is not None for case in self.cases)

    @property
    def ok(self) -> bool:
        return self.failed == 0

    @property
    def pass_rate(self) -> float:
        return self.passed / len(self.cases) if self.cases else 1.0


def results_dir(home: Path | None = None) -> Path:
    """Where result files are kept: ``<proctor home>/eval-results``."""
    return (home or default_home()) / "eval-results"


def save_result(result: SuiteResult, path: Path | None = None) -> Path:
    """Write ``result`` as JSON (default: a new file under ``results_dir()``)."""
    if path is None:
        stamp = datetime.fromtimestamp(result.started_at, UTC).strftime("%Y%m%dT%H%M%S%fZ")
        safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in result.suite)
        path = results_dir() / f"{stamp}-{safe}.json"
    private_dirs(path.parent)
    path.write_text(result_json(result), encoding="utf-8")
    return path


def result_json(result: SuiteResult) -> str:
    """The result file's text; the store keeps the same text."""
    return result.model_dump_json(indent=2) + "\n"


def load_result(path: str | Path) -> SuiteResult:
    """Read a result file written by ``save_result``."""
    target = Path(path)
    try:
        text = target.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{target}: the result file is not UTF-8 text ({exc.reason} at byte {exc.start}). "
            "Fix: pass a file that `proctor eval run` wrote"
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"{target}: cannot read the result file ({exc.strerror or exc}). Fix: pass a file "
            f"that `proctor eval run` wrote (they are in {results_dir()})"
        ) from None
    return parse_result(text, str(target), fix="pass a file that `proctor eval run` wrote")


def parse_result(text: str, source: str, *, fix: str) -> SuiteResult:
    """A result from its JSON; errors name ``source`` and end with ``fix``."""
    try:
        result = SuiteResult.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "the file"
        raise ConfigError(
            f"{source}: not a Proctor eval result ({where}: {first['msg']}). Fix: {fix}"
        ) from None
    if result.format_version > FORMAT_VERSION:
        raise ConfigError(
            f"{source}: result format {result.format_version} is newer than this Proctor "
            f"reads ({FORMAT_VERSION}). Fix: upgrade Proctor"
        )
    return result


def junit_xml(result: SuiteResult) -> str:
    """The results as JUnit XML: one testcase per case, failures with every message."""
    suite = ET.Element(
        "testsuite",
        name=result.suite,
        tests=str(len(result.cases)),
        failures=str(result.failed - result.errors),
        errors=str(result.errors),
        skipped="0",
        time=f"{result.duration_s:.3f}",
        timestamp=datetime.fromtimestamp(result.started_at, UTC).isoformat(timespec="seconds"),
    )
    for case in result.cases:
        item = ET.SubElement(
            suite,
            "testcase",
            classname=f"proctor.eval.{result.suite}",
            name=case.id,
            file=case.file,
            time=f"{case.duration_ms / 1000:.4f}",
        )
        if case.error is not None:
            ET.SubElement(item, "error", message=case.error, type="ReplayError").text = case.error
        elif not case.passed:
            first = (
                case.failures[0] if case.failures else FailureRecord(expectation="?", message="")
            )
            details = [str(f) for f in case.failures]
            details += [f"deviation: {d}" for d in case.deviations]
            if case.divergence:
                details.append(f"diverged from the recording at {case.divergence}")
            failure = ET.SubElement(item, "failure", message=str(first), type=first.expectation)
            failure.text = "\n".join(details)
        out = f"outcome: {case.outcome}\ncalls: {', '.join(case.calls) or 'none'}\n"
        ET.SubElement(item, "system-out").text = out
    root = ET.Element(
        "testsuites",
        name="proctor eval",
        tests=suite.get("tests", "0"),
        failures=suite.get("failures", "0"),
        errors=suite.get("errors", "0"),
        time=suite.get("time", "0"),
    )
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
