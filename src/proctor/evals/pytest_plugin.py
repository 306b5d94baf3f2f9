"""pytest plugin: ``pytest --proctor-suite DIR`` runs an eval suite's cases as test items.

Registered through the ``pytest11`` entry point, so it is active wherever Proctor is
installed; it does nothing unless ``--proctor-suite`` is given. Then it collects only the
suites, unless test paths are given on the command line too. Each case file becomes
one item, replayed as ``proctor eval run`` replays it (live models by default,
``--proctor-recorded`` for the recorded responses); a failing item shows the first
failed expectation, then the others, the calls without a fixture and the first call
where the replay left the recording. Workflows are found by ``package.module:attribute``
or by the names registered in the ``proctor.workflows`` entry points.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from proctor.evals import Case, CaseResult, Suite, SuiteReplay

_SUITES = pytest.StashKey[dict[Path, "tuple[Suite | None, SuiteReplay | None, str]"]]()
_LOOP = pytest.StashKey[asyncio.AbstractEventLoop]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("proctor", "Proctor eval suites")
    group.addoption(
        "--proctor-suite",
        action="append",
        default=[],
        metavar="DIR",
        help="Collect the cases of this Proctor eval suite as test items (repeatable).",
    )
    group.addoption(
        "--proctor-recorded",
        action="store_true",
        default=False,
        help="Replay the cases' recorded model responses instead of a live model.",
    )
    group.addoption(
        "--proctor-model", default=None, metavar="SPEC", help="Model spec for live replays."
    )
    group.addoption(
        "--proctor-contract", default=None, metavar="FILE", help="Replay under this contract."
    )


def pytest_configure(config: pytest.Config) -> None:
    suites = [Path(p).resolve() for p in config.getoption("proctor_suite") or []]
    config.stash[_SUITES] = {}
    if suites and config.args_source != pytest.Config.ArgsSource.ARGS:
        # Only the suites, not the project's own tests (run from its root, pytest would
        # collect those too): name both on the command line to run both.
        config.args[:] = []
    for suite in suites:
        config.stash[_SUITES][suite] = (None, None, "")
        config.args.append(str(suite))  # collected like a path given on the command line


def pytest_unconfigure(config: pytest.Config) -> None:
    loop = config.stash.get(_LOOP, None)
    if loop is not None:
        loop.close()


def _loop(config: pytest.Config) -> asyncio.AbstractEventLoop:
    """One event loop for every case of the session: a suite's gateways and runners
    (built once) may hold loop-bound state, such as a rate limiter's lock."""
    loop = config.stash.get(_LOOP, None)
    if loop is None:
        loop = config.stash[_LOOP] = asyncio.new_event_loop()
    return loop


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    suites = parent.config.stash.get(_SUITES, {})
    if not suites or file_path.suffix not in (".yaml", ".yml") or file_path.name == "suite.yaml":
        return None
    if file_path.resolve().parent not in suites:
        return None
    return CaseFile.from_parent(parent, path=file_path)


def _suite(config: pytest.Config, folder: Path) -> tuple[Suite | None, SuiteReplay | None, str]:
    """The suite of ``folder`` and its replayer, loaded once per session (or the error)."""
    from proctor.errors import ProctorError, UsageError
    from proctor.evals import ReplayOptions, SuiteReplay, load_suite, load_workflow_ref

    known = config.stash[_SUITES]
    suite, replayer, problem = known.get(folder, (None, None, ""))
    if suite is None and not problem:
        try:
            suite = load_suite(folder)
            contract = config.getoption("proctor_contract")
            options = ReplayOptions(
                recorded=config.getoption("proctor_recorded"),
                model=config.getoption("proctor_model"),
                contract=None if contract is None else Path(contract),
            )
            replayer = SuiteReplay(suite, loader=load_workflow_ref, options=options)
            replayer.prepare()
        except (ProctorError, UsageError) as exc:
            suite, replayer, problem = None, None, str(exc)
        known[folder] = (suite, replayer, problem)
    return suite, replayer, problem


class CaseFile(pytest.File):
    """One case file of a suite: one item."""

    def collect(self) -> list[pytest.Item]:
        suite, _, problem = _suite(self.config, self.path.resolve().parent)
        if suite is None:
            raise self.CollectError(problem)
        resolved = self.path.resolve()
        found = [case for case in suite.cases if Path(case.file).resolve() == resolved]
        return [CaseItem.from_parent(self, name=case.id, case=case) for case in found]


class CaseFailed(Exception):
    """A replayed case failed an expectation (or could not be replayed)."""

    def __init__(self, result: CaseResult) -> None:
        self.result = result
        super().__init__(result.first_failure or "failed")


class CaseItem(pytest.Item):
    """One case, replayed when the item runs."""

    def __init__(self, *, case: Case, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case

    def runtest(self) -> None:
        _, replayer, problem = _suite(self.config, self.path.resolve().parent)
        assert replayer is not None, problem
        result = _loop(self.config).run_until_complete(replayer.replay_case(self.case))
        if not result.passed:
            raise CaseFailed(result)

    def repr_failure(
        self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None
    ) -> str | Any:
        if not isinstance(excinfo.value, CaseFailed):
            return super().repr_failure(excinfo)
        result = excinfo.value.result
        lines = [f"{self.case.file}: {result.first_failure}"]
        lines += [f"  also {failure}" for failure in result.failures[1:]]
        lines += [f"  deviation: {deviation}" for deviation in result.deviations]
        if result.divergence:
            lines.append(f"  diverged from the recording at {result.divergence}")
        lines.append(f"  outcome {result.outcome}; calls: {', '.join(result.calls) or 'none'}")
        return "\n".join(lines)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"proctor case {self.case.id}"
