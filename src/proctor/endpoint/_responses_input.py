"""A Responses API request's ``input`` items as the gateway's messages (``_responses_wire``).

An assistant turn is its message and the ``function_call`` items after it;
``function_call_output`` items become tool results, named after their call (chat
completions' tool role does not name it, and some upstreams need it). User parts become
chat completions' parts; what chat completions cannot carry is refused, naming the item.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from proctor.endpoint._wire import WireError, explain
from proctor.gateway import AssistantMessage, Message, SystemMessage, ToolMessage, UserMessage
from proctor.gateway.providers.wire import tool_call
from proctor.store import RecordedToolCall, json_value_problem


def fail(where: str, why: str) -> WireError:
    """A bad request naming the field (``where``) and what is wrong (``why``, with a fix)."""
    return WireError(f"invalid request body: {where}: {why}")


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


_T = TypeVar("_T", bound=_Wire)


class _FunctionCall(_Wire):
    type: Literal["function_call"]
    call_id: str
    name: str = Field(min_length=1)
    arguments: str = ""


class _FunctionCallOutput(_Wire):
    type: Literal["function_call_output"]
    call_id: str
    output: str | list[dict[str, Any]]


class _Message(_Wire):
    type: Literal["message"] = "message"
    role: Literal["user", "assistant", "system", "developer"]
    content: str | list[dict[str, Any]]


def input_messages(input: str | list[dict[str, Any]]) -> list[Message]:
    """The conversation of ``input``: an assistant turn is its message and the function
    calls after it; a call's output names the call's tool (chat completions' tool role
    does not, and some upstreams need it)."""
    if isinstance(input, str):
        return [UserMessage(content=input)]
    messages: list[Message] = []
    names: dict[str, str] = {}
    turn_text: str | None = None
    turn_calls: list[RecordedToolCall] = []
    in_turn = False

    def close_turn() -> None:
        nonlocal in_turn, turn_text
        if in_turn:
            messages.append(AssistantMessage(text=turn_text, tool_calls=tuple(turn_calls)))
        in_turn, turn_text = False, None
        turn_calls.clear()

    for index, item in enumerate(input):
        where = f"input.{index}"
        kind = item.get("type", "message")
        if kind == "function_call":
            call = _item(_FunctionCall, item, where)
            turn_calls.append(tool_call(call.call_id, call.name, call.arguments))
            names[call.call_id] = call.name
            in_turn = True
        elif kind == "message" and item.get("role") == "assistant":
            close_turn()
            turn_text = _assistant_text(_item(_Message, item, where).content, where) or None
            in_turn = True
        elif kind == "message":
            close_turn()
            messages.append(_message(_item(_Message, item, where), where))
        elif kind == "function_call_output":
            close_turn()
            output = _item(_FunctionCallOutput, item, where)
            content = _output_text(output.output, f"{where}.output")
            name = names.get(output.call_id, "")
            messages.append(ToolMessage(call_id=output.call_id, name=name, content=content))
        else:
            raise fail(
                f"{where}.type",
                f"{kind!r} items are not supported: this gateway "
                "takes messages, function_call and function_call_output items. Fix: "
                "leave the others out of the input",
            )
    close_turn()
    if not messages:
        raise fail("input", "holds no message. Fix: send at least one input item")
    return messages


def _item(model: type[_T], item: dict[str, Any], where: str) -> _T:
    try:
        return model.model_validate(item)
    except ValidationError as exc:
        message = explain(exc).replace("invalid request body: ", f"invalid request body: {where}.")
        raise WireError(message) from None


def _message(message: _Message, where: str) -> Message:
    if message.role in ("system", "developer"):
        return SystemMessage(content=_plain_text(message.content, where))
    if isinstance(message.content, str):
        return UserMessage(content=message.content)
    parts = [_user_part(part, f"{where}.content.{i}") for i, part in enumerate(message.content)]
    text = "".join(p["text"] for p in parts if p["type"] == "text")
    if all(p["type"] == "text" for p in parts):
        return UserMessage(content=text)
    return UserMessage(content=text, parts=tuple(parts))


def _user_part(part: dict[str, Any], where: str) -> dict[str, Any]:
    """A user content part in chat completions' words."""
    kind = part.get("type")
    if kind in ("input_text", "output_text") and isinstance(part.get("text"), str):
        return {"type": "text", "text": part["text"]}
    if kind == "input_image":
        url = part.get("image_url")
        if not isinstance(url, str):
            raise fail(
                where,
                "an image by file_id is a file stored at OpenAI, which chat "
                "completions cannot read. Fix: send image_url (an https: or data: URL)",
            )
        return {
            "type": "image_url",
            "image_url": {"url": url, "detail": part.get("detail") or "auto"},
        }
    if kind == "input_file":
        if part.get("file_url") is not None:
            raise fail(
                where,
                "file_url is not supported by chat-completions upstreams. Fix: "
                "send the file's content as file_data (a base64 data: URL)",
            )
        file = {k: part[k] for k in ("file_data", "file_id", "filename") if part.get(k) is not None}
        problem = json_value_problem(file, where=where)
        if problem is not None:
            raise WireError(problem)
        return {"type": "file", "file": file}
    raise fail(
        f"{where}.type",
        f"{kind!r} is not a user content part this gateway takes: "
        "input_text, input_image or input_file",
    )


def _plain_text(content: str | list[dict[str, Any]], where: str) -> str:
    if isinstance(content, str):
        return content
    texts = []
    for i, part in enumerate(content):
        if part.get("type") not in ("input_text", "output_text") or not isinstance(
            part.get("text"), str
        ):
            raise fail(f"{where}.content.{i}", "a system or developer message holds text only")
        texts.append(part["text"])
    return "".join(texts)


def _assistant_text(content: str | list[dict[str, Any]], where: str) -> str:
    if isinstance(content, str):
        return content
    texts = []
    for i, part in enumerate(content):
        kind = part.get("type")
        if kind in ("output_text", "input_text") and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind == "refusal" and isinstance(part.get("refusal"), str):
            texts.append(part["refusal"])  # what the model said, so it sees it again
        else:
            raise fail(
                f"{where}.content.{i}", "an assistant message holds output_text or refusal parts"
            )
    return "".join(texts)


def _output_text(output: str | list[dict[str, Any]], where: str) -> str:
    if isinstance(output, str):
        return output
    texts = []
    for i, part in enumerate(output):
        if part.get("type") != "input_text" or not isinstance(part.get("text"), str):
            raise fail(
                f"{where}.{i}",
                "a function call's output reaches chat-completions "
                "upstreams as text only. Fix: send the output as a string or input_text parts",
            )
        texts.append(part["text"])
    return "".join(texts)
