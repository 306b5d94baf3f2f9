"""``/api/v1/runs/{run_id}/turns``: each model turn's context, rebuilt from the log."""

from __future__ import annotations

import itertools

from server.api_harness import Api, error_of


def test_every_turn_lists_the_messages_it_was_sent_once_each(api: Api) -> None:
    run_id = api.start("clean")
    run = api.settled(run_id)
    body = api.get(f"/api/v1/runs/{run_id}/turns", role="viewer").json()
    assert body["run_id"] == run_id
    turns, messages = body["turns"], body["messages"]
    assert len(turns) == run["totals"]["model_calls"]
    assert [t["turn"] for t in turns] == list(range(1, len(turns) + 1))
    first, last = turns[0], turns[-1]
    assert [messages[i]["kind"] for i in first["context"]] == ["instructions", "input"]
    # A turn was sent everything before it: the previous turn's context, its reply and
    # the results of the calls it proposed.
    for before, after in itertools.pairwise(turns):
        assert after["context"][: len(before["context"])] == before["context"]
        assert after["context"][len(before["context"])] == before["answer"]
    called = [c["name"] for t in turns for c in messages[t["answer"]]["tool_calls"]]
    assert called[0] == "ocr.parse_invoice"
    assert "erp.create_payment" in called
    results = [messages[i] for i in last["context"] if messages[i]["role"] == "tool"]
    assert [m["name"] for m in results] == called
    assert messages[last["answer"]]["tool_calls"] == []
    assert messages[last["answer"]]["text"]
    assert sum(t["input_tokens"] + t["output_tokens"] for t in turns) == run["totals"]["tokens"]
    assert last["context_tokens"] == sum(messages[i]["tokens"] for i in last["context"])
    # The first turns' messages are exactly those sent; once the vendor's IBAN came back
    # (redacted in the record), the record differs from what the model was sent.
    assert first["as_sent"] is True
    assert any("[iban:" in (messages[i]["text"] or "") for i in last["context"])
    assert last["as_sent"] is False


def test_one_turn_is_given_in_full_with_its_answer(api: Api) -> None:
    run_id = api.start("clean")
    api.settled(run_id)
    listed = api.get(f"/api/v1/runs/{run_id}/turns").json()
    second = api.get(f"/api/v1/runs/{run_id}/turns/2/context", role="viewer").json()
    turn = listed["turns"][1]
    assert second["run_id"] == run_id
    assert second["turn"] == 2
    assert second["seq"] == turn["seq"]
    assert second["messages"] == [listed["messages"][i] for i in turn["context"]]
    assert second["answer"] == listed["messages"][turn["answer"]]
    assert [m["role"] for m in second["messages"]] == ["system", "user", "assistant", "tool"]
    assert second["input_tokens"] == turn["input_tokens"] > 0


def test_a_turn_that_does_not_exist_or_another_tenants_run_is_404(api: Api) -> None:
    run_id = api.start("clean")
    api.settled(run_id)
    code, message = error_of(api.get(f"/api/v1/runs/{run_id}/turns/99/context"), 404)
    assert code == "not_found"
    assert "no model turn 99" in message
    assert "ask for 1 to" in message
    error_of(api.get(f"/api/v1/runs/{run_id}/turns", tenant="globex"), 404)
    error_of(api.get(f"/api/v1/runs/{run_id}/turns/1/context", tenant="globex"), 404)
    error_of(api.get(f"/api/v1/runs/{run_id}/turns/0/context"), 400)
