"""A workflow: the tools, contract, instructions and models a run of it uses."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from proctor.contracts import Contract
from proctor.gateway import ModelClient
from proctor.tools import Registry


@dataclass(kw_only=True)
class Workflow:
    """Everything needed to start, resume or replay runs of one workflow.

    ``scripts`` maps a scenario name to a factory of its scripted model, selected with
    the model spec ``scripted:<name>``. ``default_model`` is the spec used when a run
    names none.
    """

    name: str
    registry: Registry
    contract: Contract
    instructions: str
    default_model: str
    description: str = ""
    scripts: dict[str, Callable[[], ModelClient]] = field(default_factory=dict)
    ref: str = ""
    """How to load this workflow again (a name or ``package.module:attribute``), so its
    runs can be resumed by another process. Defaults to ``name``."""

    def __post_init__(self) -> None:
        self.ref = self.ref or self.name
