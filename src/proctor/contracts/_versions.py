"""Contract versions: the stored form of a contract, its canonical YAML, and diffs.

A version is identified by its content hash (``Contract.content_hash``). The runtime
stores each version once, when the first run under it starts, so a run's record names
the exact terms it ran under and two versions can be compared later.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import orjson
import yaml
from pydantic import ValidationError

from proctor.contracts._model import Contract
from proctor.errors import ProctorError
from proctor.store import ContractRecord, Store

ChangeKind = Literal["added", "removed", "changed"]


def contract_record(contract: Contract, *, at: float) -> ContractRecord:
    """The stored form of ``contract``, first used at ``at`` (epoch seconds)."""
    return ContractRecord(
        content_hash=contract.content_hash,
        workflow=contract.workflow,
        version=contract.version,
        body=contract.terms(),  # what the hash covers
        retention_days=contract.retention_days,
        created_at=at,
    )


async def stored_contract(store: Store, content_hash: str) -> Contract | None:
    """The contract version the store keeps under ``content_hash``, if its body still
    loads and hashes to that name: a body edited in the database is never enforced."""
    for version in await store.contracts(hash_prefix=content_hash):
        if version.content_hash != content_hash:
            continue
        try:
            contract = Contract.model_validate(version.body)
        except (ValidationError, ProctorError):  # stored by a version with other keys
            return None
        return contract if contract.content_hash == content_hash else None
    return None


def canonical_yaml(contract: Contract | Mapping[str, Any]) -> str:
    """Every key of the contract, defaults included, in model order: the text diffs compare."""
    return yaml.safe_dump(_body(contract), sort_keys=False, allow_unicode=True, width=100)


@dataclass(frozen=True, kw_only=True)
class ContractChange:
    """One key (or list item) that differs between two contract versions."""

    path: str
    """Dotted key path; list items by rule id or tool, e.g. ``approvals[large_refund].when``."""
    kind: ChangeKind
    before: Any = None
    after: Any = None

    def __str__(self) -> str:
        if self.kind == "changed":
            return f"{self.path}: {_show(self.before)} -> {_show(self.after)}"
        value = self.after if self.kind == "added" else self.before
        return f"{self.path}: {self.kind} {_show(value)}"


@dataclass(frozen=True, kw_only=True)
class ContractDiff:
    """What changed from version ``a`` to version ``b``."""

    a: str
    b: str
    changes: list[ContractChange]
    unified: str
    """A unified diff of the two versions' canonical YAML (empty if they are equal)."""

    @property
    def same(self) -> bool:
        return not self.changes


def diff_contracts(
    a: Contract | Mapping[str, Any],
    b: Contract | Mapping[str, Any],
    *,
    a_label: str = "a",
    b_label: str = "b",
) -> ContractDiff:
    """Compare two contract versions key by key, and as canonical YAML text."""
    before, after = _body(a), _body(b)
    changes: list[ContractChange] = []
    _compare((), before, after, changes)
    unified = "".join(
        difflib.unified_diff(
            canonical_yaml(before).splitlines(keepends=True),
            canonical_yaml(after).splitlines(keepends=True),
            fromfile=a_label,
            tofile=b_label,
        )
    )
    return ContractDiff(a=a_label, b=b_label, changes=changes, unified=unified)


def _body(contract: Contract | Mapping[str, Any]) -> dict[str, Any]:
    """Every key, defaults included (a stored body holds only what differs from them)."""
    if not isinstance(contract, Contract):
        try:
            contract = Contract.model_validate(contract)
        except ValidationError:  # stored by a version with other keys: show it as stored
            return dict(contract)
    return contract.model_dump(mode="json")


def _show(value: Any) -> str:
    return orjson.dumps(value).decode()


def _path(parts: tuple[str, ...]) -> str:
    text = "".join(
        part if i == 0 or part.startswith("[") else f".{part}" for i, part in enumerate(parts)
    )
    return text or "(contract)"


def _compare(at: tuple[str, ...], a: Any, b: Any, out: list[ContractChange]) -> None:
    if a == b:
        return
    if isinstance(a, dict) and isinstance(b, dict):
        for key in dict.fromkeys([*a, *b]):
            here = (*at, str(key))
            if key not in a:
                out.append(ContractChange(path=_path(here), kind="added", after=b[key]))
            elif key not in b:
                out.append(ContractChange(path=_path(here), kind="removed", before=a[key]))
            else:
                _compare(here, a[key], b[key], out)
        return
    if isinstance(a, list) and isinstance(b, list):
        _compare_lists(at, a, b, out)
        return
    out.append(ContractChange(path=_path(at), kind="changed", before=a, after=b))


def _label(item: Any) -> str | None:
    """A rule's identity within its list: its id, else the tool it governs."""
    if isinstance(item, dict):
        label = item.get("id") or item.get("tool")
        return label if isinstance(label, str) else None
    return None


def _compare_lists(
    at: tuple[str, ...], a: list[Any], b: list[Any], out: list[ContractChange]
) -> None:
    found = len(out)
    a_labels, b_labels = [_label(x) for x in a], [_label(x) for x in b]
    keyed = all(a_labels) and all(b_labels)
    if keyed and len(set(a_labels)) == len(a) and len(set(b_labels)) == len(b):
        # Rules (approvals, ordering) are matched by identity, so an edited condition
        # reads as one change, not as a removal and an addition.
        a_by = dict(zip(a_labels, a, strict=True))
        b_by = dict(zip(b_labels, b, strict=True))
        for label in dict.fromkeys([*a_labels, *b_labels]):
            if label not in a_by:
                out.append(ContractChange(path=_path(at), kind="added", after=b_by[label]))
            elif label not in b_by:
                out.append(ContractChange(path=_path(at), kind="removed", before=a_by[label]))
            else:
                _compare((*at, f"[{label}]"), a_by[label], b_by[label], out)
    else:
        out.extend(
            ContractChange(path=_path(at), kind="removed", before=item)
            for item in a
            if item not in b
        )
        out.extend(
            ContractChange(path=_path(at), kind="added", after=item) for item in b if item not in a
        )
    if len(out) == found:
        # The same items in another order; order matters (the first matching approval decides).
        out.append(ContractChange(path=_path(at), kind="changed", before=a, after=b))
