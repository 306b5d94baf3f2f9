"""End to end: runs exported to a real OTLP/HTTP receiver (Arize Phoenix) and read back.

One run is exported live by the ``proctor`` processes that drive it (it pauses for
approval in one and finishes in another); another, run with export off, is sent later
by ``proctor otel export``. Phoenix's REST API then gives back what it stored, which
must match each run's recorded log: names, parentage, ids, usage, decisions (as span
events and guardrail spans), and no content. A third run, on an OpenAI model, checks that
the cost Phoenix shows for its call (Phoenix prices spans itself) is what Proctor charged.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

from proctor.contracts import Contract
from proctor.examples import invoice
from proctor.gateway.providers import OpenAIModel
from proctor.runtime import Runner, Workflow
from proctor.store import (
    Event,
    ModelCalled,
    PolicyDecided,
    RunFinished,
    SQLiteStore,
    ToolProposed,
    row_to_event,
)
from proctor.telemetry import (
    CONTENT_ATTRIBUTES,
    configure_live_export,
    reset_live_export,
    run_spans,
)
from proctor.tools import Registry
from support.fake_openai import FakeOpenAIServer
from support.fake_replies import Completion
from support.otel import proctor
from support.phoenix import Phoenix, running_phoenix

pytestmark = pytest.mark.slow

PROJECT = "proctor-e2e"
# What Phoenix derives from content attributes, had any been sent. (It fills input.value
# and output.value from other attributes too, so those are checked by their values.)
DERIVED_CONTENT = ("llm.input_messages", "llm.output_messages", "llm.tools")


@pytest.fixture(scope="module")
def phoenix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Phoenix]:
    with running_phoenix(tmp_path_factory.mktemp("phoenix")) as server:
        yield server


def sample(tmp_path: Path, name: str) -> str:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(invoice.sample_input(name)))
    return str(path)


def stored(home: Path, run_id: str) -> list[Event]:
    async def read() -> list[Event]:
        store = SQLiteStore(home / "proctor.db")
        try:
            return [row_to_event(row) for row in await store.events(run_id)]
        finally:
            await store.close()

    return asyncio.run(read())


def expected_shape(home: Path, run_id: str) -> list[tuple[str, str, str | None]]:
    async def read() -> list[tuple[str, str, str | None]]:
        store = SQLiteStore(home / "proctor.db")
        try:
            spans = await run_spans(store, run_id)
        finally:
            await store.close()
        return sorted((s.name, s.span_id, s.parent_span_id) for s in spans)

    return asyncio.run(read())


def check_trace(spans: list[dict[str, Any]], events: list[Event]) -> None:
    """``spans`` (as Phoenix stored them) tell the run that ``events`` record."""
    first = events[0]
    mine = [s for s in spans if s["context"]["trace_id"] == first.trace_id]
    assert mine, f"no span with the run's trace id {first.trace_id}"

    (root,) = [s for s in mine if s["parent_id"] is None]
    assert root["name"] == "invoke_agent invoice_reconciliation"
    assert root["context"]["span_id"] == first.span_id  # the run's recorded root span
    assert root["attributes"]["gen_ai.operation.name"] == "invoke_agent"
    assert root["attributes"]["gen_ai.agent.name"] == "invoice_reconciliation"
    assert root["attributes"]["proctor.run.id"] == first.run_id
    finished = events[-1].data
    assert isinstance(finished, RunFinished)
    assert root["attributes"]["proctor.outcome"] == finished.outcome == "resolved"
    assert root["attributes"]["gen_ai.usage.input_tokens"] == finished.totals.input_tokens
    assert root["attributes"]["gen_ai.usage.output_tokens"] == finished.totals.output_tokens

    children = [s for s in mine if s is not root]
    model_calls = {e.span_id: e.data for e in events if isinstance(e.data, ModelCalled)}
    chats = {s["context"]["span_id"]: s for s in children if s["name"].startswith("chat ")}
    procedure_chats = {k: v for k, v in chats.items() if v["parent_id"] == first.span_id}
    assert set(procedure_chats) == set(model_calls)  # one chat span per recorded model call
    for span_id, span in procedure_chats.items():
        call = model_calls[span_id]
        assert span["name"] == f"chat {call.model}"
        assert span["attributes"]["gen_ai.operation.name"] == "chat"
        assert span["attributes"]["gen_ai.request.model"] == call.model
        assert span["attributes"]["gen_ai.usage.input_tokens"] == call.usage.input_tokens
        assert span["attributes"]["gen_ai.usage.output_tokens"] == call.usage.output_tokens

    proposals = [e.data for e in events if isinstance(e.data, ToolProposed)]
    tools = [s for s in children if s["name"].startswith("execute_tool ")]
    assert sorted(s["attributes"]["gen_ai.tool.call.id"] for s in tools) == sorted(
        p.call_id for p in proposals
    )
    rules: dict[str, list[str]] = {}
    for event in events:
        if isinstance(event.data, PolicyDecided):
            rules.setdefault(event.data.call_id, []).append(event.data.rule)
    for span in tools:
        assert span["parent_id"] == first.span_id
        call_id = span["attributes"]["gen_ai.tool.call.id"]
        tool = next(p.tool for p in proposals if p.call_id == call_id)
        assert span["name"] == f"execute_tool {tool}"
        assert span["attributes"]["gen_ai.tool.name"] == tool
        decisions = [e for e in span["events"] if e["name"] == "proctor.policy_decided"]
        assert [e["attributes"]["proctor.rule"] for e in decisions] == rules[call_id]
        guards = sorted(
            (s for s in mine if s["parent_id"] == span["context"]["span_id"]
             and s["name"] == "run_guardrail proctor.policy"),
            key=lambda s: s["start_time"],
        )  # fmt: skip
        rule_ids = [g["attributes"]["gen_ai.guardrail.security.policy.rule.id"] for g in guards]
        assert rule_ids == rules[call_id]  # each decision a guardrail run, under its call
        assert {g["attributes"]["gen_ai.guardrail.target.id"] for g in guards} == {call_id}

    for span in mine:
        keys = set(span["attributes"]) | {k for e in span["events"] for k in e["attributes"]}
        assert not keys & CONTENT_ATTRIBUTES, span["name"]
        assert not [k for k in keys if k.startswith(DERIVED_CONTENT)], span["name"]
    sent = json.dumps(mine)
    for text in ("Acme Supplies", "INVOICE", "Paid invoice", "po_number", "invoice_text"):
        assert text not in sent  # the invoice, tool arguments and results, the final answer


def test_live_and_batch_export_reach_phoenix(tmp_path: Path, phoenix: Phoenix) -> None:
    home = tmp_path / "home"
    otel = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": phoenix.url,
        "OTEL_RESOURCE_ATTRIBUTES": f"openinference.project.name={PROJECT}",
    }
    # Live: the run pauses for approval in one process and finishes in the next.
    paused = proctor(
        "run", "invoice_reconciliation", "--input", sample(tmp_path, "over_threshold"), "--json",
        home=home, otel=otel,
    )  # fmt: skip
    assert paused.returncode == 10, paused  # awaiting approval
    started = json.loads(paused.stdout)
    assert started["status"] == "awaiting_approval"
    approved = proctor(
        "approve", started["pending_approval"], "--as", "bob", "--reason", "checked with AP",
        home=home, otel=otel,
    )  # fmt: skip
    assert approved.returncode == 0, approved
    assert "resolved" in approved.stdout
    # Batch: a run made with export off, sent afterwards.
    quiet = proctor(
        "run", "invoice_reconciliation", "--input", sample(tmp_path, "clean"), "--json",
        home=home,
    )  # fmt: skip
    assert quiet.returncode == 0, quiet
    past = json.loads(quiet.stdout)["run_id"]
    sent = proctor("otel", "export", "--run", past, home=home, otel=otel)
    assert sent.returncode == 0, sent
    live_shape = expected_shape(home, started["run_id"])
    past_shape = expected_shape(home, past)
    # The run, its model calls and tool calls (12), and its policy decisions (5).
    assert len(past_shape) == 17
    assert sent.stdout.startswith(f"✓ sent {len(past_shape)} spans of 1 run(s) to "), sent.stdout

    live_events, past_events = stored(home, started["run_id"]), stored(home, past)
    spans = phoenix.wait_for(PROJECT, count=len(live_shape) + len(past_shape))

    assert len(spans) == len(live_shape) + len(past_shape)
    check_trace(spans, live_events)
    check_trace(spans, past_events)
    for run_id, events in ((started["run_id"], live_events), (past, past_events)):
        trace = [s for s in spans if s["context"]["trace_id"] == events[0].trace_id]
        got = sorted((s["name"], s["context"]["span_id"], s["parent_id"]) for s in trace)
        assert got == expected_shape(home, run_id)

    # The paused call's span holds the whole approval story, from both processes.
    (payment,) = [s for s in spans if s["name"] == "execute_tool erp.create_payment"
                  and s["context"]["trace_id"] == live_events[0].trace_id]  # fmt: skip
    story = [(e["name"], e["attributes"].get("proctor.rule")) for e in payment["events"]]
    assert story[:5] == [
        ("proctor.policy_decided", "approval.erp.create_payment"),
        ("proctor.approval_requested", "approval.erp.create_payment"),
        ("proctor.checker_decided", None),
        ("proctor.approval_decided", None),
        ("proctor.policy_decided", "approval.granted"),
    ]
    decided = payment["events"][3]["attributes"]
    assert decided["proctor.approval.decided_by"] == "bob"
    (checker,) = [s for s in spans if s["name"] == "chat scripted:checker"]
    assert checker["parent_id"] == payment["context"]["span_id"]


def test_an_endpoint_that_refuses_is_one_line(tmp_path: Path, phoenix: Phoenix) -> None:
    home = tmp_path / "home"
    ran = proctor("run", "invoice_reconciliation", "--input", sample(tmp_path, "clean"), home=home)
    assert ran.returncode == 0, ran

    refused = proctor("otel", "export", "--endpoint", f"{phoenix.url}/not-otlp", home=home)

    assert refused.returncode == 1
    assert refused.stderr.count("\n") == 1, refused.stderr
    assert refused.stderr.startswith(
        f"error: the OTLP endpoint {phoenix.url}/not-otlp did not accept the spans (HTTP 405"
    ), refused.stderr


COST_PROJECT = "proctor-cost"
SPAN_COST = """query ($id: String!) {
  getSpanByOtelId(spanId: $id) {
    costSummary { prompt { tokens cost } completion { tokens cost } total { tokens cost } }
  }
}"""
TRACE_COST = """query ($id: String!) {
  getTraceByOtelId(traceId: $id) { costSummary { total { cost } } }
}"""


def span_cost(phoenix: Phoenix, span_id: str, timeout_s: float = 10.0) -> dict[str, Any]:
    """Phoenix's cost summary of a span, once it has priced it (costs follow the insert)."""
    deadline = time.monotonic() + timeout_s
    while True:
        span = phoenix.graphql(SPAN_COST, id=span_id)["getSpanByOtelId"]
        if span is not None and span["costSummary"] is not None:
            summary: dict[str, Any] = span["costSummary"]
            return summary
        assert time.monotonic() < deadline, f"Phoenix has not priced span {span_id}"
        time.sleep(0.25)


async def test_phoenix_shows_the_cost_proctor_charged(
    tmp_path: Path, phoenix: Phoenix, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", f"openinference.project.name={COST_PROJECT}")
    store = SQLiteStore(tmp_path / "cost.db")
    workflow = Workflow(
        name="priced",
        registry=Registry(),
        contract=Contract.model_validate({"workflow": "priced"}),
        instructions="Answer.",
        default_model="gpt-4o-mini",
    )
    configure_live_export(OTLPSpanExporter(endpoint=f"{phoenix.url}/v1/traces"))
    try:
        with FakeOpenAIServer() as fake:
            fake.enqueue(Completion(text="done", prompt_tokens=12_000, completion_tokens=3_000,
                                    cached_tokens=8_000))  # fmt: skip
            async with OpenAIModel(
                "gpt-4o-mini", base_url=fake.base_url, api_key="unused"
            ) as model:
                result = await Runner(store, workflow, model=model).start({"q": 1})
    finally:
        reset_live_export()  # sends what is queued
    events = [row_to_event(row) for row in await store.events(result.run_id)]
    await store.close()
    (call,) = [e for e in events if isinstance(e.data, ModelCalled)]
    assert isinstance(call.data, ModelCalled)
    charged = call.data.cost_usd
    # Proctor's price (genai-prices): 4,000 new input tokens at $0.15 a million, 8,000
    # cached at $0.075, 3,000 output at $0.60.
    assert charged == pytest.approx(0.0006 + 0.0006 + 0.0018)
    assert call.data.response_id == "chatcmpl-fake"

    spans = phoenix.wait_for(COST_PROJECT, count=2)
    (chat,) = [s for s in spans if s["context"]["span_id"] == call.span_id]
    assert chat["attributes"]["gen_ai.usage.cost"] == pytest.approx(charged)
    assert chat["attributes"]["gen_ai.response.id"] == "chatcmpl-fake"
    cost = span_cost(phoenix, call.span_id)
    assert cost["total"]["cost"] == pytest.approx(charged)  # what Phoenix's cost column shows
    assert cost["total"]["tokens"] == 15_000
    assert cost["completion"]["cost"] == pytest.approx(0.0018)
    # The run's span carries no cost of its own: the trace's total is its one call's.
    trace = phoenix.graphql(TRACE_COST, id=call.trace_id)["getTraceByOtelId"]
    assert trace["costSummary"]["total"]["cost"] == pytest.approx(charged)
