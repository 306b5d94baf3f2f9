"""Replaying a suite: every case through the same loop as a live run, tools from fixtures.

Per workflow (usually one per suite) a harness is built once: the workflow with its tools
swapped for fixture tools (same names, schemas, effects and risk; never the real tools),
its contract (or the suite's or ``--contract``'s), one ``Runner`` on an in-memory store,
redaction off (nothing is kept but the verdict, and the results file is redacted
instead), and credentials signed with a throwaway key. Each case then costs
one run of the loop: its model is the live one (the ``--model`` spec, the case's, the
suite's or the workflow's default, resolved as ``proctor run`` resolves it) or, with
``recorded``, a ``RecordedModel`` playing the recorded responses. Cases run
concurrently, at most ``concurrency`` at a time.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import secrets
import time
from collections.abc import Callable
from pathlib import Path

from proctor.contracts import load_contract
from proctor.errors import ProctorError, UsageError
from proctor.evals._case import Case, Suite
from proctor.evals._expect import check
from proctor.evals._fixtures import CaseReplay, fixture_registry
from proctor.evals._matchers import brief
from proctor.evals._observe import Observed, observe
from proctor.evals._recorded import RecordedModel
from proctor.evals._results import CaseResult, FailureRecord, SuiteResult, new_result_id
from proctor.gateway import Gateway, PriceTable
from proctor.policy import CredentialIssuer
from proctor.runtime import Runner, RunResult, Workflow, decide_approval
from proctor.store import MemoryStore

WorkflowLoader = Callable[[str], Workflow]
"""Turns a case's ``workflow`` (a name or ``package.module:attribute``) into a Workflow."""

_MAX_APPROVAL_ROUNDS = 50


@dataclasses.dataclass(frozen=True, kw_only=True)
class ReplayOptions:
    """How a suite is replayed."""

    recorded: bool = False
    """Play each case's recorded model responses instead of calling a model."""
    model: str | None = None
    """Model spec for live replays, overriding the cases' and the suite's."""
    contract: Path | None = None
    """Replay every case under this contract file instead."""
    concurrency: int = 8


class _Harness:
    """One workflow, ready to replay its cases: built once per suite."""

    def __init__(
        self,
        workflow: Workflow,
        store: MemoryStore,
        gateway: Gateway | None,
        contract: Path | None,
        prices: PriceTable | None = None,
    ) -> None:
        terms = workflow.contract
        if contract is not None:
            terms = load_contract(contract, workflow=workflow.name)
        # A replay judges one contract: a canary rollout would split the cases at random
        # (replay the candidate with --contract CANDIDATE.yaml).
        terms = terms.model_copy(update={"rollout": None})
        self.workflow = dataclasses.replace(
            workflow,
            registry=fixture_registry(workflow.registry),
            contract=terms,
            scripts=dict(workflow.scripts),
        )
        # A throwaway signing key: replays never need (or create) the project's.
        issuer = CredentialIssuer(secrets.token_bytes(32))
        # A replay is a test, not production: its runs never reach an OTLP endpoint.
        self.runner = Runner(
            store,
            self.workflow,
            gateway=gateway,
            prices=prices,
            issuer=issuer,
            live_telemetry=False,
        )
        self.redactor = self.runner.redactor
        self.writes = frozenset(t.name for t in self.workflow.registry if t.effect == "write")
        self.runner.redact = None  # the log is scratch; the results file is redacted

    def redact(self, text: str) -> str:
        if not self.redactor.enabled:
            return text
        return str(self.redactor({"text": text})["text"])


class SuiteReplay:
    """Replays the cases of one suite and checks each against its expectations."""

    def __init__(
        self,
        suite: Suite,
        *,
        loader: WorkflowLoader,
        options: ReplayOptions | None = None,
        gateway: Gateway | None = None,
        prices: PriceTable | None = None,
    ) -> None:
        """``gateway`` holds the project's routes (``proctor.yaml``) for live models;
        ``prices`` prices models outside it (default: the gateway's, else the published)."""
        self.suite = suite
        self.options = options or ReplayOptions()
        if self.options.recorded and self.options.model is not None:
            raise UsageError("choose one: --recorded replays the recording, --model a live model")
        if self.options.concurrency < 1:
            raise UsageError("concurrency must be at least 1")
        self.loader = loader
        self.gateway = gateway
        self.prices = prices
        self.store = MemoryStore()
        self._harnesses: dict[str, _Harness] = {}
        self._keys = itertools.count(1)

    def prepare(self) -> None:
        """Load every workflow the cases name; a bad name or contract raises here, once."""
        for ref in dict.fromkeys(case.workflow for case in self.suite.cases):
            self._harness(ref)

    def _harness(self, ref: str) -> _Harness:
        harness = self._harnesses.get(ref)
        if harness is None:
            contract = self.options.contract or self.suite.contract
            harness = _Harness(self.loader(ref), self.store, self.gateway, contract, self.prices)
            self._harnesses[ref] = harness
        return harness

    async def run(self, on_result: Callable[[CaseResult], None] | None = None) -> SuiteResult:
        """Replay every case (at most ``concurrency`` at once); results in suite order."""
        self.prepare()
        started, clock = time.time(), time.perf_counter()
        gate = asyncio.Semaphore(self.options.concurrency)

        async def one(case: Case) -> CaseResult:
            async with gate:
                result = await self.replay_case(case)
            if on_result is not None:
                on_result(result)
            return result

        cases = await asyncio.gather(*(one(case) for case in self.suite.cases))
        contract = self.options.contract or self.suite.contract
        flows = [harness.workflow for harness in self._harnesses.values()]
        return SuiteResult(
            result_id=new_result_id(),
            suite=self.suite.name,
            path=str(self.suite.path),
            mode="recorded" if self.options.recorded else "live",
            model=self.options.model,
            workflow=", ".join(dict.fromkeys(flow.name for flow in flows)) or None,
            contract=None if contract is None else str(contract),
            contract_hash=", ".join(dict.fromkeys(f.contract.content_hash for f in flows)) or None,
            started_at=started,
            duration_s=round(time.perf_counter() - clock, 4),
            cases=list(cases),
        )

    async def replay_case(self, case: Case) -> CaseResult:
        """Replay one case and judge it; a case that cannot run is an error, not a raise."""
        clock = time.perf_counter()
        harness = self._harness(case.workflow)
        replay = CaseReplay(case)
        key: str | None = None
        run_id: str | None = None
        deactivate = replay.activate()
        try:
            spec, key = self._model_spec(case, harness)
            result = await harness.runner.start(case.input, model=spec, started_by="eval")
            run_id = result.run_id
            result = await self._answer_approvals(case, harness, result)
            rows = await self.store.events(result.run_id)
            seen = observe(rows, result.state)
        except (ProctorError, UsageError) as exc:
            return CaseResult(
                id=case.id,
                file=case.file,
                passed=False,
                error=harness.redact(f"{type(exc).__name__}: {exc}"),
                duration_ms=_ms(clock),
            )
        finally:
            deactivate()
            if key is not None:
                harness.workflow.scripts.pop(key, None)
            if run_id is not None:
                self.store.forget(run_id)
        failures = check(case, seen, replay.deviations, writes=harness.writes)
        return CaseResult(
            id=case.id,
            file=case.file,
            passed=not failures,
            outcome=seen.outcome,
            failures=[
                FailureRecord(expectation=f.expectation, message=harness.redact(f.message))
                for f in failures
            ],
            deviations=[harness.redact(str(d)) for d in replay.deviations],
            divergence=_divergence(case, seen, harness),
            calls=[call.tool for call in seen.calls],
            tool_calls=seen.tool_calls,
            model_calls=seen.model_calls,
            tokens=seen.tokens,
            cost_usd=seen.cost_usd,
            duration_ms=_ms(clock),
        )

    def _model_spec(self, case: Case, harness: _Harness) -> tuple[str | None, str | None]:
        """The model spec to start the case with, and the script key to remove after."""
        if not self.options.recorded:
            return self.options.model or case.model or self.suite.model, None
        recording = case.recorded
        if recording is None or not recording.responses:
            raise UsageError(
                f"{case.file}: the case has no recorded responses to replay. Fix: run it live "
                "(without --recorded), or capture it again with `proctor eval capture`"
            )
        key = f"eval-replay-{next(self._keys)}"
        harness.workflow.scripts[key] = lambda: RecordedModel(recording=recording)
        return f"scripted:{key}", key

    async def _answer_approvals(
        self, case: Case, harness: _Harness, result: RunResult
    ) -> RunResult:
        rounds = 0
        while (
            case.approvals != "pending"
            and result.status == "awaiting_approval"
            and result.state.pending_approval is not None
            and rounds < _MAX_APPROVAL_ROUNDS
        ):
            rounds += 1
            approve = case.approvals == "approve"
            await decide_approval(
                self.store,
                result.state.pending_approval,
                approved=approve,
                by="proctor-eval",
                reason=f"the case {case.id} says {case.approvals}",
                keys=harness.runner.deps.keys,
            )
            result = await harness.runner.resume(result.run_id, reason="decided by the case")
        return result


def _divergence(case: Case, seen: Observed, harness: _Harness) -> str | None:
    """The first call where the replay differs from the recording (None: no recording,
    or the same calls)."""
    if case.recorded is None:
        return None
    recorded = case.recorded.calls
    for i in range(max(len(recorded), len(seen.calls))):
        was = recorded[i] if i < len(recorded) else None
        now = seen.calls[i] if i < len(seen.calls) else None
        if was is not None and now is not None and (was[0], was[1]) == (now.tool, now.arguments):
            continue
        before = "nothing" if was is None else f"{was[0]} {brief(was[1], 80)}"
        after = "nothing" if now is None else f"{now.tool} {brief(now.arguments, 80)}"
        return harness.redact(f"call {i + 1}: recorded {before}, replayed {after}")
    return None


def _ms(clock: float) -> float:
    return round((time.perf_counter() - clock) * 1000, 3)


async def run_suite(
    suite: Suite,
    *,
    loader: WorkflowLoader,
    options: ReplayOptions | None = None,
    gateway: Gateway | None = None,
    on_result: Callable[[CaseResult], None] | None = None,
) -> SuiteResult:
    """Replay every case of ``suite`` and return each verdict (see ``SuiteReplay``)."""
    replay = SuiteReplay(suite, loader=loader, options=options, gateway=gateway)
    return await replay.run(on_result)
