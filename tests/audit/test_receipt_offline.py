"""A receipt checks offline with only the public key: by ``proctor audit check-receipt``
and by the script in docs/audit.md, run as written."""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from proctor.audit import build_receipt, check_receipt, receipt_json
from proctor.store import EvidenceKeys, LocalSigner, Store, load_evidence_keys
from support.invoice_runs import approved_run

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def receipt(store: Store) -> dict[str, Any]:
    run_id = await approved_run(store)
    document: dict[str, Any] = orjson.loads(receipt_json(await build_receipt(store, run_id)))
    return document


def public_only() -> EvidenceKeys:
    keys = load_evidence_keys()
    assert keys.signer is not None
    return EvidenceKeys.public_only([keys.signer.public_key()])


async def test_a_receipt_carries_its_chain_and_signer(receipt: dict[str, Any]) -> None:
    check = receipt["verification"]
    assert check["ok"]
    assert check["keyed"]
    assert check["signed_through"] == len(receipt["events"]) - 1  # a finished run: all
    keys = load_evidence_keys()
    assert keys.signer is not None
    assert list(check["public_keys"]) == [keys.signer.key_id]
    assert check["procedure"]
    found = check_receipt(receipt, public_only())
    assert found.ok, found.problem
    assert found.head_hash == check["head_hash"]


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (
            lambda r: r["events"][5]["hashed"]["meta"].update(tool="erp.delete"),
            "event 5 was edited",
        ),
        (lambda r: r["events"].pop(3), "event 3 is out of order"),
        (lambda r: r["events"][-1].update(signature=r["events"][0]["signature"] or "x.y"), "event"),
        (lambda r: r["verification"].update(head_hash="0" * 64), "head"),
    ],
)
async def test_an_edited_receipt_does_not_check(
    receipt: dict[str, Any], edit: Any, problem: str
) -> None:
    edited = copy.deepcopy(receipt)
    edit(edited)
    found = check_receipt(edited, public_only())
    assert not found.ok
    assert problem in (found.problem or "")


async def test_another_key_does_not_vouch_for_it(receipt: dict[str, Any]) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    stranger = LocalSigner(Ed25519PrivateKey.generate())
    found = check_receipt(receipt, EvidenceKeys.public_only([stranger.public_key()]))
    assert not found.ok
    assert "not trusted here" in (found.problem or "")


async def test_the_by_hand_script_in_the_docs_checks_a_receipt(
    receipt: dict[str, Any], tmp_path: Path
) -> None:
    doc = (ROOT / "docs" / "audit.md").read_text(encoding="utf-8")
    [script] = re.findall(r"```python\n(.*?)```", doc, re.DOTALL)
    (tmp_path / "check.py").write_text(script, encoding="utf-8")
    (tmp_path / "receipt.json").write_bytes(orjson.dumps(receipt))
    keys = load_evidence_keys()
    assert keys.signer is not None
    from proctor.store import public_pem

    (tmp_path / "evidence.pub").write_bytes(public_pem(keys.signer.public_key()))
    ran = subprocess.run(
        [sys.executable, "check.py", "receipt.json", "evidence.pub"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    assert f"chain ok, head {receipt['verification']['head_hash']}" in ran.stdout
    receipt["events"][4]["hashed"]["ts"] += 1
    (tmp_path / "receipt.json").write_bytes(orjson.dumps(receipt))
    edited = subprocess.run(
        [sys.executable, "check.py", "receipt.json", "evidence.pub"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert edited.returncode != 0
    assert "event 4 was edited" in edited.stderr
