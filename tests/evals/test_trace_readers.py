"""Reading traces: OTLP GenAI spans (current, event-based, flattened), OpenInference,
Langfuse, chat-completions JSONL and JSON datasets, into one trajectory per agent run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from proctor.errors import UsageError
from proctor.evals import DatasetFields, TraceFormatError, read_traces

EXAMPLE = (
    Path(__file__).parents[2] / "examples" / "observed_traces" / "hasty-invoice-agent.otlp.json"
)


def _value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    return {"stringValue": value if isinstance(value, str) else json.dumps(value)}


def span(
    name: str, span_id: str, parent: str | None, start: int, attrs: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    return {
        "traceId": "ab" * 16,
        "spanId": span_id * 8,
        **({"parentSpanId": parent * 8} if parent else {}),
        "name": name,
        "startTimeUnixNano": str(1_700_000_000_000_000_000 + start * 1_000_000),
        "endTimeUnixNano": str(1_700_000_000_000_000_000 + (start + 1) * 1_000_000),
        "attributes": [{"key": k, "value": _value(v)} for k, v in attrs.items()],
        **extra,
    }


def otlp(*spans: dict[str, Any], scope: str = "test") -> bytes:
    request = {
        "resourceSpans": [{"scopeSpans": [{"scope": {"name": scope}, "spans": list(spans)}]}]
    }
    return json.dumps(request).encode()


def test_the_shipped_pydantic_ai_trace_reads_as_one_run_with_its_calls_results_and_answer() -> None:
    [trajectory] = read_traces(EXAMPLE, "otlp")
    assert trajectory.source == "pydantic-ai"
    assert trajectory.agent == "invoice-agent"
    assert trajectory.model == "gpt-4o-mini"
    assert [c.tool for c in trajectory.calls] == [
        "ocr_parse_invoice",
        "erp_lookup_vendor",
        "erp_fetch_po",
        "erp_create_payment",
        "policy_check_thresholds",
    ]
    assert trajectory.run_input()["vendor_id"] == "V-1001"
    assert trajectory.results["call_4"].result["payment_id"] == "PAY-7F3A19C2E0B4"
    assert trajectory.final_text == "Paid invoice INV-2026-0042 (PAY-7F3A19C2E0B4)."
    assert trajectory.usage.input_tokens > 0
    assert trajectory.instructions.startswith("Reconcile")


def test_event_based_genai_spans_and_a_failed_tool_span() -> None:
    chat = span(
        "chat gpt-4o",
        "2",
        "1",
        1,
        {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o"},
        events=[
            {
                "name": "gen_ai.user.message",
                "attributes": [{"key": "content", "value": _value("pay V-1")}],
            },
            {
                "name": "gen_ai.choice",
                "attributes": [
                    {
                        "key": "message",
                        "value": _value(
                            {
                                "tool_calls": [
                                    {
                                        "id": "c1",
                                        "function": {"name": "pay", "arguments": '{"to": "V-1"}'},
                                    }
                                ]
                            }
                        ),
                    }
                ],
            },
        ],
    )
    tool = span(
        "execute_tool pay",
        "3",
        "1",
        2,
        {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": "pay",
            "gen_ai.tool.call.id": "c1",
        },
        status={"code": 2, "message": "bank down"},
    )
    root = span(
        "invoke_agent payer",
        "1",
        None,
        0,
        {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "payer"},
    )
    [trajectory] = read_traces(otlp(root, chat, tool), "otlp")
    assert trajectory.messages == ["pay V-1"]
    assert [(c.id, c.tool, c.arguments) for c in trajectory.calls] == [("c1", "pay", {"to": "V-1"})]
    result = trajectory.results["c1"]
    assert (result.ok, result.error) == (False, "bank down")


CALL = "llm.output_messages.0.message.tool_calls.0.tool_call"


def test_openinference_flattened_messages_and_tool_spans() -> None:
    llm = span(
        "ChatCompletion",
        "2",
        None,
        1,
        {
            "openinference.span.kind": "LLM",
            "llm.model_name": "gpt-4o-mini",
            "llm.input_messages.0.message.role": "user",
            "llm.input_messages.0.message.content": '{"vendor_id": "V-1"}',
            "llm.output_messages.0.message.role": "assistant",
            f"{CALL}.id": "t1",
            f"{CALL}.function.name": "lookup",
            f"{CALL}.function.arguments": '{"id": "V-1"}',
            "llm.token_count.prompt": 10,
            "llm.token_count.completion": 3,
        },
    )
    tool = span(
        "lookup",
        "3",
        None,
        2,
        {
            "openinference.span.kind": "TOOL",
            "tool.name": "lookup",
            "input.value": '{"id": "V-1"}',
            "output.value": '{"ok": true}',
        },
    )
    [trajectory] = read_traces(
        otlp(llm, tool, scope="openinference.instrumentation.openai"), "openinference"
    )
    assert trajectory.source == "openinference"
    assert trajectory.run_input() == {"vendor_id": "V-1"}
    assert [(c.tool, c.arguments) for c in trajectory.calls] == [("lookup", {"id": "V-1"})]
    assert trajectory.results["t1"].result == {"ok": True}
    assert trajectory.usage.input_tokens == 10


def test_spans_without_content_still_give_the_calls_of_their_tool_spans() -> None:
    chat = span(
        "chat m", "2", "1", 1, {"gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": 5}
    )
    tool = span(
        "execute_tool lookup",
        "3",
        "1",
        3,
        {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup"},
    )
    last = span("chat m", "4", "1", 5, {"gen_ai.operation.name": "chat"})
    root = span("invoke_agent a", "1", None, 0, {"gen_ai.operation.name": "invoke_agent"})
    [trajectory] = read_traces(otlp(root, chat, tool, last), "otlp")
    assert [c.tool for c in trajectory.calls] == ["lookup"]
    assert any("not recorded" in note for note in trajectory.notes)


def test_langfuse_export_observations() -> None:
    export = {
        "id": "t-1",
        "name": "refunds",
        "input": {"customer": "c-1"},
        "observations": [
            {
                "id": "g1",
                "traceId": "t-1",
                "type": "GENERATION",
                "startTime": "2026-01-01T10:00:00Z",
                "model": "gpt-4o",
                "input": [{"role": "user", "content": "refund c-1"}],
                "output": {
                    "role": "assistant",
                    "tool_calls": [
                        {"id": "x", "function": {"name": "refund", "arguments": '{"amount": 5}'}}
                    ],
                },
                "usage": {"input": 7, "output": 2},
            },
            {
                "id": "o2",
                "traceId": "t-1",
                "type": "TOOL",
                "name": "refund",
                "startTime": "2026-01-01T10:00:01Z",
                "input": {"amount": 5},
                "output": {"refund_id": "r-9"},
            },
            {
                "id": "g2",
                "traceId": "t-1",
                "type": "GENERATION",
                "startTime": "2026-01-01T10:00:02Z",
                "output": "Refunded.",
            },
        ],
    }
    [trajectory] = read_traces(json.dumps(export).encode(), "langfuse")
    assert trajectory.run_input() == {"customer": "c-1"}
    assert [(c.tool, c.arguments) for c in trajectory.calls] == [("refund", {"amount": 5})]
    assert trajectory.results["x"].result == {"refund_id": "r-9"}
    assert trajectory.final_text == "Refunded."


def test_openai_jsonl_one_conversation_per_line() -> None:
    line = {
        "messages": [
            {"role": "system", "content": "Be careful."},
            {"role": "user", "content": "pay"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "a", "type": "function", "function": {"name": "pay", "arguments": "{}"}}
                ],
            },
            {"role": "tool", "tool_call_id": "a", "content": '{"paid": true}'},
            {"role": "assistant", "content": "Done."},
        ]
    }
    text = (
        json.dumps(line)
        + "\n"
        + json.dumps(
            {
                "messages": [
                    {"role": "user", "content": "hi"},
                    {"role": "assistant", "content": "hello"},
                ]
            }
        )
    ).encode()
    first, second = read_traces(text, "openai-jsonl")
    assert first.instructions == "Be careful."
    assert first.results["a"].result == {"paid": True}
    assert first.final_text == "Done."
    assert (second.id, second.calls, second.final_text) == ("line 2", [], "hello")


def test_json_dataset_with_mapped_fields() -> None:
    rows = [
        {
            "meta": {"task": {"vendor_id": "V-1"}},
            "steps": [{"tool": "lookup", "args": {"id": "V-1"}, "result": {"ok": 1}}, "pay"],
            "answer": "ok",
        }
    ]
    fields = DatasetFields(input="meta.task", calls="steps", output="answer")
    [trajectory] = read_traces(json.dumps(rows).encode(), "json", fields=fields)
    assert trajectory.run_input() == {"vendor_id": "V-1"}
    assert [c.tool for c in trajectory.calls] == ["lookup", "pay"]
    assert trajectory.final_text == "ok"
    with pytest.raises(TraceFormatError, match=r"item 1 has no input .*--input-field"):
        read_traces(json.dumps(rows).encode(), "json")


@pytest.mark.parametrize(
    ("text", "format", "problem"),
    [
        (b"{not json", "otlp", r"x\.json: not JSON .* Fix: export the spans as OTLP JSON"),
        (b'{"resourceSpans": []}', "otlp", "no resourceSpans found"),
        (
            otlp(span("GET /", "1", None, 0, {"http.method": "GET"})),
            "otlp",
            "no span says it is a model call",
        ),
        (b"[1, 2]", "json", "item 1 is not an object"),
        (b'{"a": 1}\n{"b": 2}', "openai-jsonl", r"x\.json:1: expected a conversation"),
        (b"[]", "langfuse", "no Langfuse observations"),
    ],
)
def test_malformed_files_are_refused_with_the_problem_and_the_fix(
    tmp_path: Path, text: bytes, format: str, problem: str
) -> None:
    path = tmp_path / "x.json"
    path.write_bytes(text)
    with pytest.raises(TraceFormatError, match=problem):
        read_traces(path, format)


def test_an_unknown_format_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="unknown trace format 'zipkin'"):
        read_traces(b"{}", "zipkin")
