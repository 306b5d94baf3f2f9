"""Cases and suites as the replay uses them: compiled once from their YAML files.

A suite is a folder of case files (``*.yaml``) plus an optional ``suite.yaml`` holding
defaults (workflow, model, contract). Loading reports every problem of every file at
once, each with its file, line and fix.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from proctor._yaml import YamlCache
from proctor.contracts import KeyPath, show
from proctor.evals._matchers import CallPattern, compile_pattern
from proctor.evals._problems import CaseFileError, CaseProblem, SourceFile, read_yaml
from proctor.evals._spec import (
    ApprovalPlan,
    CallSpec,
    CaseSpec,
    ExpectSpec,
    FixtureFileSpec,
    FixtureSpec,
    OrderMode,
    OutcomeName,
    SuiteSpec,
    UsageSpec,
)
from proctor.store import Usage

SUITE_FILE = "suite.yaml"


@dataclass(frozen=True, kw_only=True, slots=True)
class Fixture:
    """A result served for calls matching ``pattern`` (or an error raised for them)."""

    index: int
    """Its place in the file that holds it (from 0)."""
    pattern: CallPattern
    result: Any = None
    error: tuple[str, str] | None = None
    """(error type, message) when the recorded call failed."""
    origin: str = ""
    """The shared file it comes from (``suite.yaml`` or an included file); empty for the
    case's own fixtures."""

    @property
    def where(self) -> str:
        place = f"fixture {self.index + 1}" + (f" of {self.origin}" if self.origin else "")
        return f"{place} (line {self.pattern.line})" if self.pattern.line else place


@dataclass(frozen=True, kw_only=True, slots=True)
class RecordedResponse:
    text: str | None
    calls: tuple[tuple[str, dict[str, Any]], ...]
    usage: Usage


@dataclass(frozen=True, kw_only=True)
class Recording:
    """The recorded run's model responses, replayed turn by turn with ``--recorded``."""

    model: str
    priced_as: str | None
    responses: tuple[RecordedResponse, ...]

    @property
    def calls(self) -> list[tuple[str, dict[str, Any]]]:
        """Every tool call the recorded model proposed, in order."""
        return [call for response in self.responses for call in response.calls]


@dataclass(frozen=True, kw_only=True)
class Ceilings:
    tool_calls: int | None = None
    model_calls: int | None = None
    tokens: int | None = None
    cost_usd: float | None = None


@dataclass(frozen=True, kw_only=True)
class PartialOrder:
    """Every call fitting one of ``then`` comes after calls fitting each of ``all_of``
    and one of ``any_of``."""

    all_of: tuple[CallPattern, ...]
    any_of: tuple[CallPattern, ...]
    then: tuple[CallPattern, ...]


@dataclass(frozen=True, kw_only=True)
class CountRule:
    """How many calls may fit ``pattern`` (for each value at ``per``, if given)."""

    pattern: CallPattern
    per: tuple[str, ...] | None = None
    at_most: int | None = None
    at_least: int | None = None
    exactly: int | None = None


@dataclass(frozen=True, kw_only=True)
class Expectations:
    """The golden behaviours of a case (see docs/evals.md for each one's meaning)."""

    outcome: tuple[OutcomeName, ...] = ()
    must_call: tuple[CallPattern, ...] = ()
    must_not_call: tuple[CallPattern, ...] = ()
    order: OrderMode | None = None
    sequence: tuple[CallPattern, ...] = ()
    writes_only: bool = False
    """Compare the sequence with the run's write calls only."""
    before: tuple[PartialOrder, ...] = ()
    counts: tuple[CountRule, ...] = ()
    ceilings: Ceilings = field(default_factory=Ceilings)
    no_violation: bool = False
    require_rules: tuple[str, ...] = ()
    forbid_rules: tuple[str, ...] = ()
    contains: tuple[str, ...] = ()
    not_contains: tuple[str, ...] = ()
    regex: tuple[re.Pattern[str], ...] = ()


@dataclass(frozen=True, kw_only=True)
class Case:
    """One behaviour test: a workflow's input, its fixtures, and what must happen."""

    id: str
    file: str
    workflow: str
    description: str = ""
    model: str | None = None
    input: dict[str, Any] = field(default_factory=dict)
    approvals: ApprovalPlan = "pending"
    allow_unmatched_calls: bool = False
    fixtures: tuple[Fixture, ...] = ()
    recorded: Recording | None = None
    expect: Expectations = field(default_factory=Expectations)
    by_tool: dict[str, tuple[Fixture, ...]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        grouped: dict[str, list[Fixture]] = {}
        for fixture in self.fixtures:
            grouped.setdefault(fixture.pattern.tool, []).append(fixture)
        self.by_tool.update({tool: tuple(items) for tool, items in grouped.items()})


@dataclass(frozen=True, kw_only=True)
class Suite:
    """A folder of cases, with the defaults of its ``suite.yaml``."""

    name: str
    path: Path
    cases: tuple[Case, ...]
    description: str = ""
    model: str | None = None
    contract: Path | None = None


@dataclass(kw_only=True)
class _Shared:
    """What a suite's cases share, compiled once: argument paths to ignore, the suite's
    fixtures and default expectations, and the fixture files cases include."""

    folder: Path
    ignore: dict[str, list[str]] = field(default_factory=dict)
    fixtures: tuple[Fixture, ...] = ()
    expect: Expectations | None = None
    expect_keys: frozenset[str] = frozenset()
    includes: dict[Path, tuple[Fixture, ...] | None] = field(default_factory=dict)
    problems: list[CaseProblem] = field(default_factory=list)
    cache: YamlCache | None = None

    def include(
        self, name: str, case_file: Path, source: SourceFile, at: KeyPath
    ) -> tuple[Fixture, ...]:
        """The fixtures of the file ``name`` (relative to the case), read once per suite."""
        path = (case_file.parent / name).resolve()
        if path not in self.includes:
            self.includes[path] = self._read_fixture_file(path)
        found = self.includes[path]
        if found is None:
            source.add(at, f"cannot use the fixture file {name}", "see its own problems above")
            return ()
        return found

    def _read_fixture_file(self, path: Path) -> tuple[Fixture, ...] | None:
        if not path.is_file():
            self.problems.append(
                CaseProblem(
                    file=str(path),
                    line=None,
                    message="no such fixture file",
                    fix="include names a YAML file relative to the case file",
                )
            )
            return None
        value, source = read_yaml(str(path), cache=self.cache)
        spec = FixtureFileSpec()
        if not source.problems:
            try:
                spec = FixtureFileSpec.model_validate({} if value is None else value)
            except ValidationError as exc:
                source.explain(exc, FixtureFileSpec)
        try:
            origin = str(path.relative_to(self.folder.resolve()))
        except ValueError:  # a file outside the suite's folder
            origin = str(path)
        fixtures = _fixtures(spec.fixtures, source, self.ignore, origin)
        self.problems += source.problems
        return None if source.problems else fixtures


def case_sort_key(name: str) -> tuple[tuple[int, int | str], ...]:
    """Natural order of case ids: ``test-2`` before ``test-10``."""
    return tuple(
        (0, int(part)) if part.isdigit() else (1, part.lower())
        for part in re.split(r"(\d+)", name)
        if part
    )


def load_suite(path: str | Path) -> Suite:
    """Load every case of the suite at ``path`` (a folder, or one case file).

    Raises:
        CaseFileError: listing every problem of every file, each with file:line and fix.
    """
    with _collector_paused():
        return _load_suite(Path(path))


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Loading builds many small objects without cycles; the cyclic collector would walk
    them again and again as they pile up (half the time of loading 2,000 cases)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _load_suite(root: Path) -> Suite:
    if not root.exists():
        raise CaseFileError([_problem(str(root), "no such suite folder or case file")])
    folder = root if root.is_dir() else root.parent
    defaults = SuiteSpec()
    cache = YamlCache(folder)
    shared = _Shared(folder=folder, cache=cache)
    problems = []
    config = folder / SUITE_FILE
    if config.is_file():
        value, source = read_yaml(str(config), cache=shared.cache)
        if not source.problems:
            try:
                defaults = SuiteSpec.model_validate({} if value is None else value)
            except ValidationError as exc:
                source.explain(exc, SuiteSpec)
        shared.ignore = defaults.ignore_arguments
        shared.fixtures = _fixtures(defaults.fixtures, source, shared.ignore, SUITE_FILE)
        if defaults.expect is not None:
            shared.expect = _expectations(defaults.expect, source, shared.ignore)
            shared.expect_keys = frozenset(defaults.expect.model_fields_set)
        problems += source.problems
    if root.is_dir():
        files = sorted(
            (p for p in root.iterdir() if p.suffix in (".yaml", ".yml") and p.name != SUITE_FILE),
            key=lambda p: case_sort_key(p.name),
        )
        if not files:
            problems.append(_problem(str(root), "the folder holds no case files (*.yaml)"))
    else:
        files = [root]
    cases = []
    for file in files:
        try:
            cases.append(load_case(file, default_workflow=defaults.workflow, shared=shared))
        except CaseFileError as exc:
            problems += exc.problems
    cache.save()
    problems = shared.problems + problems
    if problems:
        raise CaseFileError(problems)
    contract = None
    if defaults.contract is not None:
        contract = (folder / defaults.contract).resolve()
    return Suite(
        name=defaults.name or folder.resolve().name,
        path=root,
        cases=tuple(cases),
        description=defaults.description,
        model=defaults.model,
        contract=contract,
    )


def _problem(file: str, message: str) -> CaseProblem:
    fix = "pass a folder of case files (*.yaml), or one case file"
    return CaseProblem(file=file, line=None, message=message, fix=fix)


def load_case(
    path: str | Path,
    *,
    text: str | None = None,
    default_workflow: str | None = None,
    shared: _Shared | None = None,
) -> Case:
    """Load one case file (``text`` instead of reading it, for tests and tools)."""
    value, source = read_yaml(str(path), text, None if shared is None else shared.cache)
    if source.problems:
        raise CaseFileError(source.problems)
    if not isinstance(value, dict):
        source.add((), f"a case must be a mapping at the top level, got {show(value)}", _START)
        raise CaseFileError(source.problems)
    try:
        spec = CaseSpec.model_validate(value)
    except ValidationError as exc:
        source.explain(exc, CaseSpec)
        source.raise_if_any()
        raise  # pragma: no cover - explain always adds a problem
    workflow = spec.workflow or default_workflow
    if workflow is None:
        source.add((), "the case names no workflow", "add 'workflow: NAME' here or to suite.yaml")
    case = _compile(
        spec, Path(path), workflow or "", source, shared or _Shared(folder=Path(path).parent)
    )
    source.raise_if_any()
    return case


_START = "start the file with keys such as 'workflow:', 'input:', 'fixtures:' and 'expect:'"


def _fixtures(
    items: list[FixtureSpec], source: SourceFile, ignore: dict[str, list[str]], origin: str = ""
) -> tuple[Fixture, ...]:
    return tuple(
        Fixture(
            index=i,
            pattern=compile_pattern(
                item.tool, item.arguments, ("fixtures", i), source, ignore=ignore.get(item.tool, ())
            ),
            result=item.result,
            error=None if item.error is None else (item.error.type, item.error.message),
            origin=origin,
        )
        for i, item in enumerate(items)
    )


def _compile(
    spec: CaseSpec, path: Path, workflow: str, source: SourceFile, shared: _Shared
) -> Case:
    own = _fixtures(spec.fixtures, source, shared.ignore)
    borrowed = [
        fixture
        for i, name in enumerate(spec.include)
        for fixture in shared.include(name, path, source, ("include", i))
    ]
    # Shared fixtures are compiled once for the suite; every case uses the same objects.
    fixtures = own + tuple(borrowed) + shared.fixtures
    recorded = None
    if spec.recorded is not None:
        recorded = Recording(
            model=spec.recorded.model,
            priced_as=spec.recorded.priced_as,
            responses=tuple(
                RecordedResponse(
                    text=response.text,
                    calls=tuple((call.tool, dict(call.arguments)) for call in response.calls),
                    usage=_usage(response.usage),
                )
                for response in spec.recorded.responses
            ),
        )
    expect = _expectations(spec.expect, source, shared.ignore)
    if shared.expect is not None:
        expect = _merged(shared.expect, expect, frozenset(spec.expect.model_fields_set))
    return Case(
        id=path.stem,
        file=str(path),
        workflow=workflow,
        description=spec.description,
        model=spec.model,
        input=spec.input,
        approvals=spec.approvals,
        allow_unmatched_calls=spec.allow_unmatched_calls,
        fixtures=fixtures,
        recorded=recorded,
        expect=expect,
    )


_NO_USAGE = Usage()


def _usage(spec: UsageSpec) -> Usage:
    if not spec.model_fields_set:
        return _NO_USAGE  # most recorded responses (Usage is frozen: one can be shared)
    return Usage.model_construct(**dict(spec))  # the spec checked the same fields


# Which fields of Expectations each key of ExpectSpec sets: a case's key replaces the
# suite's default whole.
_FIELDS_OF_KEY: dict[str, tuple[str, ...]] = {
    "outcome": ("outcome",),
    "must_call": ("must_call",),
    "must_not_call": ("must_not_call",),
    "calls": ("order", "sequence", "writes_only"),
    "before": ("before",),
    "counts": ("counts",),
    "ceilings": ("ceilings",),
    "policy": ("no_violation", "require_rules", "forbid_rules"),
    "final_answer": ("contains", "not_contains", "regex"),
}


def _merged(defaults: Expectations, own: Expectations, keys: frozenset[str]) -> Expectations:
    """The suite's default expectations with the case's own keys in their place."""
    taken = {name: getattr(own, name) for key in keys for name in _FIELDS_OF_KEY[key]}
    return dataclasses.replace(defaults, **taken)


def _patterns(
    items: list[CallSpec], path: KeyPath, source: SourceFile, ignore: dict[str, list[str]]
) -> tuple[CallPattern, ...]:
    return tuple(
        compile_pattern(
            item.tool,
            item.arguments,
            (*path, i),
            source,
            item.status,
            ignore=[*ignore.get(item.tool, ()), *item.ignore],
        )
        for i, item in enumerate(items)
    )


def _expectations(
    spec: ExpectSpec, source: SourceFile, ignore: dict[str, list[str]]
) -> Expectations:
    regexes = []
    for i, text in enumerate(spec.final_answer.regex):
        try:
            regexes.append(re.compile(text))
        except re.error as exc:
            where = ("expect", "final_answer", "regex", i)
            source.add(where, f"invalid regex {text!r}: {exc}", "fix the pattern")
    calls = spec.calls
    ceilings = spec.ceilings
    before = tuple(
        PartialOrder(
            all_of=_patterns(rule.all_of, ("expect", "before", i, "all_of"), source, ignore),
            any_of=_patterns(rule.any_of, ("expect", "before", i, "any_of"), source, ignore),
            then=_patterns(rule.then, ("expect", "before", i, "then"), source, ignore),
        )
        for i, rule in enumerate(spec.before)
    )
    counts = tuple(
        CountRule(
            pattern=_patterns([rule.call], ("expect", "counts", i, "call"), source, ignore)[0],
            per=None if rule.per is None else tuple(rule.per.split(".")),
            at_most=rule.at_most,
            at_least=rule.at_least,
            exactly=rule.exactly,
        )
        for i, rule in enumerate(spec.counts)
    )
    return Expectations(
        outcome=tuple(spec.outcome),
        must_call=_patterns(spec.must_call, ("expect", "must_call"), source, ignore),
        must_not_call=_patterns(spec.must_not_call, ("expect", "must_not_call"), source, ignore),
        order=None if calls is None else calls.order,
        sequence=()
        if calls is None
        else _patterns(calls.sequence, ("expect", "calls", "sequence"), source, ignore),
        writes_only=calls is not None and calls.only == "writes",
        before=before,
        counts=counts,
        ceilings=Ceilings(
            tool_calls=ceilings.tool_calls,
            model_calls=ceilings.model_calls,
            tokens=ceilings.tokens,
            cost_usd=ceilings.cost_usd,
        ),
        no_violation=spec.policy.no_violation,
        require_rules=tuple(spec.policy.require_rule),
        forbid_rules=tuple(spec.policy.forbid_rule),
        contains=tuple(spec.final_answer.contains),
        not_contains=tuple(spec.final_answer.not_contains),
        regex=tuple(regexes),
    )
