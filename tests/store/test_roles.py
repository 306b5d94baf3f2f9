"""``Store`` is its roles combined, and every backend implements each role whole."""

from __future__ import annotations

import inspect

import pytest

from proctor.store import (
    ApiKeys,
    Approvals,
    CallLedger,
    ContractVersions,
    EvalResults,
    Health,
    MemoryStore,
    PostgresStore,
    ResponseCache,
    Retention,
    RunLog,
    RunQueue,
    Sessions,
    SQLiteStore,
    Store,
)

ROLES = (
    RunLog,
    Approvals,
    ResponseCache,
    CallLedger,
    ContractVersions,
    Retention,
    EvalResults,
    ApiKeys,
    Sessions,
    RunQueue,
    Health,
)


def methods(role: type) -> set[str]:
    return {name for name, value in vars(role).items() if inspect.iscoroutinefunction(value)}


def test_the_store_is_its_roles_and_close() -> None:
    assert set(Store.__mro__) >= set(ROLES)
    assert methods(Store) == {"close"}
    named = [name for role in ROLES for name in methods(role)]
    assert len(named) == len(set(named)), "a method belongs to one role"


@pytest.mark.parametrize("backend", [SQLiteStore, PostgresStore, MemoryStore])
@pytest.mark.parametrize("role", ROLES, ids=lambda role: role.__name__)
def test_every_backend_implements_every_role(backend: type, role: type) -> None:
    for name in methods(role):
        implemented = getattr(backend, name, None)
        assert inspect.iscoroutinefunction(implemented), f"{backend.__name__}.{name}"
        assert inspect.signature(implemented) == inspect.signature(getattr(role, name))
