"""Any contract file loads into contracts or is refused with a ConfigError, nothing else.

Threat model: whoever writes a contract (a colleague's pull request, a file copied from
elsewhere): a file can be wrong in any way, and each way ends in a message with its line.
"""

from __future__ import annotations

from typing import Any, get_args, get_origin

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from proctor.contracts import Contract, parse_contracts
from proctor.errors import ConfigError
from support.json_strategies import json_values

# Pieces of YAML, valid and not: put together at random they make files of every shape.
PIECES = [
    "workflow: w\n", "agent:\n", "  ", "- ", "\n", "limits: ", "max_tool_calls: ",
    "required_steps_for_task:\n", "    w: [a]\n", "approvals:\n", "tool: a\n", "when: ",
    "args.amount > 10", "'!x'", "escalation: {on_budget_exceeded: true}\n", "[", "]", "{", "}",
    ", ", ": ", "&a ", "*a", "<<: ", ".nan", ".inf", "18446744073709551616", "-1", "0", "1.5",
    "!!python/object:os.system ", "!!set ", "~", "null", "on", "yes", "'", '"', "\\ud800",
    "\t", "#", "---\n", "? ", "|\n", ">-\n", "2024-13-45", "é", "\x00", "%YAML 1.1\n",
]  # fmt: skip
yaml_texts = st.lists(st.sampled_from(PIECES), max_size=40).map("".join) | st.text(max_size=80)


def _fields(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in get_args(annotation) for m in _fields(arg)]


def shaped(model: type[BaseModel], depth: int = 0) -> st.SearchStrategy[dict[str, Any]]:
    """Mappings with ``model``'s keys (and now and then a stranger), each holding a value
    of roughly its kind: a nested mapping for a model, a list for a list, else anything."""
    values: dict[str, st.SearchStrategy[Any]] = {}
    for name, field in model.model_fields.items():
        nested = _fields(field.annotation) if depth < 3 else []
        listed = get_origin(field.annotation) is list or any(
            get_origin(arg) is list for arg in get_args(field.annotation)
        )
        if nested:
            inner = shaped(nested[0], depth + 1)
            values[name] = st.lists(inner, max_size=2) | inner if listed else inner | json_values
        else:
            values[name] = st.lists(json_values | st.text(max_size=8), max_size=3) | json_values
    stranger = st.dictionaries(st.text(max_size=6), json_values, max_size=1)
    return st.tuples(st.fixed_dictionaries({}, optional=values), stranger).map(
        lambda parts: {**parts[1], **parts[0]}
    )


contract_data = shaped(Contract).map(lambda d: {"workflow": "w", **d}) | st.fixed_dictionaries(
    {"agent": shaped(Contract).map(lambda d: {"required_steps_for_task": {"w": ["a"]}, **d})}
)


def loads_or_refuses(text: str) -> None:
    try:
        contracts = parse_contracts(text, "contract.yaml")
    except ConfigError as exc:
        refused = str(exc)
    else:
        for contract in contracts.values():
            assert isinstance(contract, Contract)
            assert len(contract.content_hash) == 64  # its terms are canonical JSON
        return
    assert refused.startswith("contract.yaml"), refused


@settings(max_examples=300, deadline=None)
@given(yaml_texts)
def test_any_text_is_contracts_or_a_config_error(text: str) -> None:
    loads_or_refuses(text)


@settings(max_examples=100, deadline=None)
@given(contract_data)
def test_any_structure_is_contracts_or_a_config_error(data: dict[str, Any]) -> None:
    loads_or_refuses(yaml.safe_dump(data, allow_unicode=True))
