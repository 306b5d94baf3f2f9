"""The workflows a process may run: registered or configured, looked up by name, never
imported from what a request, a queue item or a stored run spells."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from proctor.errors import NotFoundError
from proctor.examples import invoice
from proctor.policy import Redactor
from proctor.runtime import (
    UnknownWorkflow,
    Worker,
    WorkerOptions,
    WorkflowCatalog,
    configured_refs,
    identity_key,
    project_runner,
    pseudonym_key,
    same_person,
    submit,
)
from proctor.store import MemoryStore, Store

OWN = "server.own_workflows:own"  # tests/server/own_workflows.py, an operator's own


@pytest.mark.parametrize("name", ["this:s", "os:abort", ":x", "..:x", "proctor", ""])
def test_a_name_outside_the_catalog_is_refused_without_importing(name: str) -> None:
    before = set(sys.modules)
    with pytest.raises(UnknownWorkflow, match="invoice_reconciliation"):
        WorkflowCatalog().load(name)
    assert set(sys.modules) - before == set()


def test_configured_refs_load_by_ref_and_by_name_and_are_listed() -> None:
    catalog = WorkflowCatalog([OWN, "invoice_reconciliation"])
    assert catalog.load(OWN).name == "own_invoices"
    assert catalog.load("own_invoices").ref == OWN  # runs record the ref others look up
    assert catalog.load("invoice_reconciliation").ref == "invoice_reconciliation"
    assert {OWN, "own_invoices", "invoice_reconciliation"} <= set(catalog.names())


def test_a_misconfigured_ref_fails_when_loaded_naming_it() -> None:
    with pytest.raises(NotFoundError, match="no_such_module"):
        WorkflowCatalog(["no_such_module:flow"]).preload()
    with pytest.raises(UnknownWorkflow, match="registered: invoice_reconciliation"):
        WorkflowCatalog(["not_registered"])


def test_refs_come_from_the_environment_and_proctor_yaml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "proctor.yaml"
    config.write_text(f"workflows: ['{OWN}']\n")
    monkeypatch.setenv("PROCTOR_WORKFLOWS", "a:b, c:d")
    assert configured_refs(str(config)) == ["a:b", "c:d", OWN]


async def test_a_worker_leaves_a_run_naming_unknown_code_in_the_queue(store: Store) -> None:
    """A queue item written by someone with database access names ``os:abort``: the
    worker neither claims nor imports it; its own workflows still run."""
    hostile = await submit(store, "os:abort", {}, load=lambda ref: invoice.workflow())
    fine = await submit(store, "invoice_reconciliation", invoice.sample_input("clean"))
    options = WorkerOptions(drain=True, lease_s=5, poll_s=0.05)
    stats = await Worker(store, options).run()
    assert (stats.claimed, stats.finished, stats.failed) == (1, 1, 0)
    states = {item.run_id: item.state for item in await store.queue_items()}
    assert states == {hostile: "queued", fine: "done"}


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("alice", "ALICE", True),
        ("cli:alice", "alice", True),
        ("user:Alice ", " alice", True),
        ("\uff21lice", "alice", True),  # full-width A: the same name to a reader
        ("alice", "alicia", False),
        ("", "", False),  # nobody recorded: nobody to compare
        ("checker:gpt", "gpt", False),
        # Single sign-on records "shown <issuer#subject>": the person is the subject.
        ("alice@example.com <https://idp#42>", "Alice Smith <https://IDP#42>", True),
        ("alice@example.com <https://idp#42>", "alice@example.com <https://idp#43>", False),
        ("alice@example.com <https://idp#42>", "alice@example.com", False),
        ("alice <https://other#42>", "alice <https://idp#42>", False),
    ],
)
def test_identities_compare_by_person_not_spelling(a: str, b: str, same: bool) -> None:
    assert same_person(a, b) is same
    assert (identity_key(a) == identity_key(b) and bool(identity_key(a))) is same


def test_a_name_is_the_person_its_pseudonym_in_a_record_stands_for() -> None:
    names_key = pseudonym_key(b"k" * 32)
    recorded = Redactor(names_key=names_key).name("Alice@Example.com")
    assert recorded.startswith("[email:sha256:")
    assert not same_person("alice@example.com", recorded)  # without the key: names only
    assert same_person("alice@example.com", recorded, names_key=names_key)
    assert same_person(recorded, " ALICE@example.com", names_key=names_key)
    assert not same_person("bob@example.com", recorded, names_key=names_key)
    assert not same_person("alice@example.com", recorded, names_key=pseudonym_key(b"x" * 32))


def test_a_proctor_yaml_with_only_prices_prices_the_runs_model(tmp_path: Path) -> None:
    config = tmp_path / "proctor.yaml"
    config.write_text("prices:\n  llama3.1: {input: 0.1, output: 0.2}\n")
    runner = project_runner(MemoryStore(), invoice.workflow(), str(config))
    assert runner.gateway is None  # no models: runs name theirs with --model
    price = runner.prices.price("llama3.1")
    assert price is not None
    assert (price.input_per_million, price.output_per_million) == (0.1, 0.2)
