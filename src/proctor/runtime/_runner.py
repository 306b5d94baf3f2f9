"""``Runner``: starts and resumes the runs of one workflow.

There is one loop (``_driver``). A live run, a resumed run and a replayed run all drive
it; they differ only in where the model's output and the tools' results come from. The
runner compiles the contract once (``RunDeps``), opens or reloads a run's log
(``LiveRun``: the state folded from it, so the loop picks up exactly where the log ends)
and hands both to the driver.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from dataclasses import dataclass, replace
from typing import Any

from proctor.contracts import Contract, contract_record, stored_contract
from proctor.errors import ConfigError, NotFoundError, RunStateError, UsageError
from proctor.gateway import Gateway, ModelClient, PriceTable
from proctor.policy import CredentialIssuer, Policy, Redactor
from proctor.runtime._approvals import attend_pending
from proctor.runtime._checker import separation_problem
from proctor.runtime._clock import Clock
from proctor.runtime._deps import RunDeps
from proctor.runtime._driver import drive
from proctor.runtime._live import LiveRun
from proctor.runtime._models import run_model
from proctor.runtime._results import NEXT, Step
from proctor.runtime._verified import (
    ensure_checkpointed,
    ensure_verified,
    opened_events,
    run_key_of,
)
from proctor.runtime._workflow import Workflow
from proctor.store import (
    ContractRecord,
    Event,
    EventRow,
    EvidenceKeys,
    Outcome,
    RunJournal,
    RunKey,
    RunRecord,
    RunResumed,
    RunStarted,
    RunState,
    Store,
    check_session_key,
    json_value_problem,
    load_evidence_keys,
    new_run_key,
    new_span_id,
    summary_input,
)
from proctor.telemetry import live_exporter
from proctor.tools import Registry

logger = logging.getLogger("proctor.runtime")


def check_run_input(input: Any) -> None:
    """Refuse (``UsageError``) a run input that is not a JSON object the log can record."""
    if not isinstance(input, dict):
        raise UsageError(f"a run's input must be a JSON object, not {type(input).__name__}")
    problem = json_value_problem(input, where="input")
    if problem is not None:
        raise UsageError(f"the run's input cannot be recorded: {problem}")


@dataclass(frozen=True, kw_only=True)
class RunResult:
    """Where a run stands after the loop stopped driving it."""

    run_id: str
    state: RunState

    @property
    def status(self) -> str:
        return self.state.status

    @property
    def outcome(self) -> Outcome | None:
        return self.state.outcome

    @property
    def final_text(self) -> str | None:
        return self.state.final_text


def new_run_id() -> str:
    """A new, unguessable run id."""
    return "run_" + secrets.token_hex(8)


def owner_id() -> str:
    """Identifies this process as the driver of a run (host:pid)."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Runner:
    """Starts and resumes runs of one workflow against a store."""

    def __init__(
        self,
        store: Store,
        workflow: Workflow,
        *,
        prices: PriceTable | None = None,
        model: ModelClient | None = None,
        gateway: Gateway | None = None,
        issuer: CredentialIssuer | None = None,
        live_telemetry: bool = True,
        clock: Clock = time.time,
        keys: EvidenceKeys | None = None,
    ) -> None:
        """``gateway`` holds the project's routes (``proctor.yaml``); ``model`` overrides
        every spec with one client (tests, scripts); ``issuer`` signs the credentials of
        tools with scopes (default: the configured key, see ``load_signing_key``);
        ``live_telemetry`` ``False`` keeps its runs out of live OpenTelemetry export;
        ``clock`` is the time its runs read (``ManualClock`` in tests); ``keys`` MAC and
        sign what its runs record (default: ``load_evidence_keys()``, the home's keys)."""
        self.store = store
        self.workflow = workflow
        # Runs report spans live when OpenTelemetry export is configured; replays opt out.
        self.live_telemetry = live_telemetry
        self._issuer = issuer
        # A canary: the candidate's runner (its own policy, redactor, credentials, specs)
        # is built on the first run the rollout assigns to it, then reused.
        self.rollout = workflow.contract.rollout
        if self.rollout is not None:
            _ = self.rollout.contract  # refuses a rollout whose candidate was never loaded
        self._canary: Runner | None = None
        self._stored: tuple[Contract, ContractRecord] | None = None
        self._by_stored_contract: dict[str, Runner | None] = {}
        self.prices = prices or (gateway.prices if gateway is not None else PriceTable())
        self.gateway = gateway
        self._model_override = model
        self.deps = RunDeps.build(
            store,
            workflow,
            issuer=issuer,
            gateway=gateway,
            prices=self.prices,
            live_telemetry=live_telemetry,
            clock=clock,
            keys=keys if keys is not None else load_evidence_keys(),
        )
        """What every run of this runner shares (frozen; see ``RunDeps``)."""
        self._refuse_self_approval(self.default_spec())

    @property
    def policy(self) -> Policy:
        """The contract, compiled for deciding calls."""
        return self.deps.policy

    @property
    def registry(self) -> Registry:
        """The tools its runs may call (with ``context.expand`` under a context target)."""
        return self.deps.registry

    @property
    def redactor(self) -> Redactor:
        """The contract's redactor (its ``redaction`` settings, compiled)."""
        return self.deps.redactor

    @property
    def redact(self) -> Redactor | None:
        """The redactor applied to every event this runner's runs write, if it has work."""
        return self.deps.redact

    @redact.setter
    def redact(self, redact: Redactor | None) -> None:
        # A replay turns it off: its log is scratch, and its results file is redacted.
        self.deps = replace(self.deps, redact=redact)

    def canary(self) -> Runner:
        """The runner of the rollout's candidate contract (built on first use)."""
        if self._canary is None:
            if self.rollout is None:
                raise ConfigError(
                    f"the {self.workflow.name} contract has no rollout, so no candidate to run"
                )
            self._canary = self._sibling(self.rollout.contract)
        return self._canary

    def _sibling(self, contract: Contract) -> Runner:
        """A runner like this one (store, models, keys, clock) enforcing ``contract``."""
        return Runner(
            self.store,
            replace(self.workflow, contract=contract),
            prices=self.prices,
            model=self._model_override,
            gateway=self.gateway,
            issuer=self._issuer,
            live_telemetry=self.live_telemetry,
            clock=self.deps.clock,
            keys=self.deps.keys,
        )

    async def under_contract(self, content_hash: str) -> Runner | None:
        """The runner enforcing the contract with this hash: this one, the rollout
        candidate's, or one under the version the store keeps by that hash (a run started
        with ``--contract FILE``); None if the store has no such version."""
        runner = self.for_contract(content_hash)
        if runner is not None:
            return runner
        if content_hash not in self._by_stored_contract:
            contract = await stored_contract(self.store, content_hash)
            self._by_stored_contract[content_hash] = (
                None if contract is None else self._sibling(contract)
            )
        return self._by_stored_contract[content_hash]

    def for_contract(self, content_hash: str) -> Runner | None:
        """The runner enforcing the contract with this hash: this one, the rollout's
        candidate's, or None if it is neither."""
        if content_hash == self.workflow.contract.content_hash:
            return self
        if self.rollout is not None and content_hash == self.rollout.contract.content_hash:
            return self.canary()
        return None

    def _refuse_self_approval(self, acting_spec: str) -> None:
        problem = separation_problem(
            self.workflow.contract, self.workflow.instructions, acting_spec
        )
        if problem is not None:
            raise ConfigError(problem)

    def check_model(self, model: str | None) -> str:
        """Refuse now what ``start(model=model)`` would refuse (an unknown model or route,
        a model that may not act where it approves); returns the route a run would take.
        For a caller that queues the run and answers before a worker starts it."""
        spec = model or self.default_spec()
        if model is not None:
            self._refuse_self_approval(model)
        return self._model(spec)[1]

    def default_spec(self) -> str:
        """The model spec a run uses when it names none."""
        chosen = self.workflow.contract.model.default
        if chosen is not None and self.gateway is not None:
            return chosen
        return self.workflow.default_model

    def _model(self, spec: str) -> tuple[Gateway, str]:
        return run_model(
            self.workflow,
            spec,
            gateway=self.gateway,
            prices=self.prices,
            override=self._model_override,
        )

    async def start(
        self,
        input: dict[str, Any],
        *,
        model: str | None = None,
        started_by: str = "api",
        tenant: str = "default",
        run_id: str | None = None,
        session: str | None = None,
    ) -> RunResult:
        """Start a run and drive it until it finishes or waits for approval.

        Under a rollout, the run id decides the contract: ``Rollout.takes(run_id)`` runs
        it under the candidate, which its record (hash, version) then names. ``run_id``
        names the run (default: a new random id), so a caller can answer with it before
        the run is driven. ``session`` is a key the runs of one conversation share
        (``check_session_key``): the run's log and record keep it, and lists filter by it.
        """
        check_run_input(input)
        if session is not None:
            check_session_key(session)
        # A run id given may be a queued run's, whose data key sealed its input already.
        given = run_id is not None
        run_id = run_id or new_run_id()
        runner = self.canary() if self.rollout is not None and self.rollout.takes(run_id) else self
        return await runner._start(
            run_id,
            input,
            model=model,
            started_by=started_by,
            tenant=tenant,
            given=given,
            session=session,
        )

    async def _start(
        self,
        run_id: str,
        input: dict[str, Any],
        *,
        model: str | None,
        started_by: str,
        tenant: str,
        given: bool = False,
        session: str | None = None,
    ) -> RunResult:
        spec = model or self.default_spec()
        if model is not None:
            self._refuse_self_approval(model)
        gateway, route = self._model(spec)
        contract = self._contract_record()
        run_key, new_key = await self._new_run_key(run_id, given)
        journal = RunJournal(
            self.store,
            run_id=run_id,
            trace_id=secrets.token_hex(16),
            root_span_id=new_span_id(),
            redact=self.deps.redact,
            clock=self.deps.clock,
            keys=self.deps.keys,
            run_key=run_key,
            redact_name=self.deps.redact_name,
        )
        started = RunStarted(
            workflow=self.workflow.name,
            model=route,
            contract_name=contract.workflow,
            contract_version=contract.version,
            contract_hash=contract.content_hash,
            contract_description=self.deps.contract.description,
            tool_descriptions={t.name: t.description for t in self.deps.registry},
            started_by=started_by,
            tenant=tenant,
            workflow_ref=self.workflow.ref,
            session=session,
            input=input,
            instructions=self.workflow.instructions,
        )
        row, event = journal.build(started)
        journal.authenticate([row])
        record = RunRecord(
            run_id=run_id,
            workflow=self.workflow.name,
            model=spec,
            contract_name=contract.workflow,
            contract_hash=contract.content_hash,
            trace_id=journal.trace_id,
            started_at=event.ts,
            updated_at=event.ts,
            last_seq=0,
            head_hash=row.hash,
            owner=owner_id(),
            workflow_ref=self.workflow.ref,
            tenant=tenant,
            started_by=row.meta["started_by"],  # as the chain records it (a pseudonym?)
            session=session,
            # As the log records it: redacted (and empty once purged).
            input_text=summary_input(None if row.content is None else row.content.get("input")),
        )
        # The contract's full text is stored by hash with the run (once per version), so
        # the run's record names terms that can still be read and compared later.
        await self.store.create_run(
            record, row, contract=replace(contract, created_at=event.ts), run_key=new_key
        )
        run = self._live(journal, record, gateway, route)
        run.observe([event])
        run.witness([event])  # written with the run's next batch
        await _driven(self.deps, run)
        return RunResult(run_id=run_id, state=run.state)

    def _contract_record(self) -> ContractRecord:
        """The stored form of the workflow's contract, worked out once per contract object
        (hashing its terms three times per start was a tenth of a replayed run)."""
        contract = self.workflow.contract
        if self._stored is None or self._stored[0] is not contract:
            self._stored = (contract, contract_record(contract, at=0.0))
        return self._stored[1]

    async def _new_run_key(self, run_id: str, given: bool) -> tuple[RunKey | None, str | None]:
        """The data key a new run seals what redaction replaces with, and its wrapped
        form when the store has yet to keep it (``None``: nothing to seal)."""
        keys = self.deps.keys
        if self.deps.redact is None or keys is None or not keys.can_seal:
            return None, None
        if given:
            stored = await run_key_of(self.store, keys, run_id)
            if stored is not None:
                return stored, None
        fresh = new_run_key(keys, run_id)
        return fresh, fresh.wrapped

    def _live(
        self, journal: RunJournal, record: RunRecord, gateway: Gateway, route: str
    ) -> LiveRun:
        telemetry = live_exporter() if self.deps.live_telemetry else None
        return LiveRun(
            journal,
            record,
            gateway=gateway,
            route=route,
            facts=self.deps.policy.new_facts(key=self.deps.fingerprint_key),
            secret=self.deps.secret,
            redact=self.deps.redact,
            telemetry=telemetry,
        )

    async def resume(self, run_id: str, *, reason: str = "resumed") -> RunResult:
        """Continue a run from its log. Finished runs are refused; waiting runs stay waiting."""
        record = await self.store.get_run(run_id)
        rows = await self.store.events(run_id)
        if record is None or not rows:
            raise NotFoundError(f"no run {run_id!r} in this store; list runs with `proctor runs`")
        ensure_verified(run_id, rows, record, "resume", keys=self.deps.keys)
        await ensure_checkpointed(self.store, run_id, rows, "resume")
        if record.workflow != self.workflow.name:
            raise RunStateError(
                f"run {run_id} belongs to workflow {record.workflow!r}, not {self.workflow.name!r}"
            )
        if record.status == "finished":
            raise RunStateError(
                f"run {run_id} already finished with outcome {record.outcome}; nothing to resume"
            )
        # A run without sealed values yet may get a key now; one with some must have its own.
        sealed = any(row.sealed for row in rows)
        key = await run_key_of(
            self.store, self.deps.keys, run_id, create_at=None if sealed else record.updated_at
        )
        events = opened_events(run_id, rows, key, "resume")
        state = RunState.from_events(events)
        runner = await self.under_contract(state.contract_hash)
        if runner is None:
            candidate = (
                f" (rollout candidate {self.rollout.contract.content_hash[:12]})"
                if self.rollout is not None
                else ""
            )
            raise RunStateError(
                f"run {run_id} started under contract {state.contract_hash[:12]}, but workflow "
                f"{self.workflow.name!r} now has {self.workflow.contract.content_hash[:12]}"
                f"{candidate}, and the store keeps no version of the contract it started "
                "under; resume it with that contract (--contract FILE)"
            )
        if state.status == "finished":
            raise RunStateError(
                f"run {run_id} already finished with outcome {state.outcome}; nothing to resume"
            )
        return await runner._continue(record, rows, events, reason, key)

    async def _continue(
        self,
        record: RunRecord,
        rows: list[EventRow],
        events: list[Event],
        reason: str,
        key: RunKey | None,
    ) -> RunResult:
        gateway, route = self._model(record.model)
        journal = RunJournal.resume(
            self.store,
            rows,
            redact=self.deps.redact,
            clock=self.deps.clock,
            keys=self.deps.keys,
            run_key=key,
            redact_name=self.deps.redact_name,
        )
        record.owner = owner_id()
        run = self._live(journal, record, gateway, route)
        run.observe(events)
        step: Step = NEXT
        if run.state.status == "running":
            await run.write([RunResumed(reason=reason, pid=os.getpid())])
        elif run.state.status == "awaiting_approval":
            step = attend_pending(self.deps, run)
        await _driven(self.deps, run, step)
        return RunResult(run_id=record.run_id, state=run.state)


INTERRUPTED_REASON = "the process driving the run was stopped (Ctrl-C or shutdown)"


async def _driven(deps: RunDeps, run: LiveRun, step: Step = NEXT) -> None:
    """``drive``; if the drive is cancelled (Ctrl-C, a server shutting down), the log
    records it (``run_interrupted``) and the summary row is left current: ``proctor runs``
    shows how far it got, and a resume continues from what the log holds."""
    try:
        await drive(deps, run, step)
    except asyncio.CancelledError:
        try:
            await asyncio.shield(run.interrupted(INTERRUPTED_REASON))
        except Exception:  # the store may be what failed: keep the row current at least
            with contextlib.suppress(Exception):
                await asyncio.shield(run.save_progress())
        raise
