"""The keys evidence is made with: where they come from, what a bad one says, rotation."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from proctor.errors import ConfigError
from proctor.store import EvidenceKeys, load_evidence_keys, merkle_root, rotate_evidence_key
from proctor.store._evidence import head_message


def test_a_new_home_gets_private_key_files(tmp_path: Path) -> None:
    keys = load_evidence_keys(tmp_path)
    assert keys.signer is not None
    for name in ("evidence.key", "signing.key"):
        assert (tmp_path / name).stat().st_mode & 0o077 == 0
    again = load_evidence_keys(tmp_path)
    assert again.signer is not None
    assert again.signer.key_id == keys.signer.key_id
    assert again.mac_id == keys.mac_id


def test_a_key_others_may_read_is_refused(tmp_path: Path) -> None:
    load_evidence_keys(tmp_path)
    os.chmod(tmp_path / "evidence.key", 0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_evidence_keys(tmp_path)


@pytest.mark.parametrize("where", ["env", "file"])
def test_a_malformed_key_names_where_it_came_from_and_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    if where == "env":
        monkeypatch.setenv("PROCTOR_EVIDENCE_KEY", "not a key")
        expected = "PROCTOR_EVIDENCE_KEY is not .* Fix: set it to"
    else:
        (tmp_path / "evidence.key").write_text("not a key")
        os.chmod(tmp_path / "evidence.key", 0o600)
        expected = "evidence.key is not .* Fix: delete the file"
    with pytest.raises(ConfigError, match=expected):
        load_evidence_keys(tmp_path)


def test_rotation_keeps_what_the_old_key_signed_verifiable(tmp_path: Path) -> None:
    old = load_evidence_keys(tmp_path)
    message = head_message("run-1", 3, "a" * 64)
    signature = old.sign(message)

    old_id, new_id = rotate_evidence_key(tmp_path)

    new = load_evidence_keys(tmp_path)
    assert new.signer is not None
    assert old_id != new_id
    assert new.signer.key_id == new_id
    assert new.signature_problem(message, signature) is None
    assert "not trusted" in (
        EvidenceKeys.public_only([new.signer.public_key()]).signature_problem(message, signature)
        or ""
    )


def test_rotation_is_refused_for_a_key_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_evidence_keys(tmp_path)
    monkeypatch.setenv("PROCTOR_EVIDENCE_KEY", (tmp_path / "evidence.key").read_text())
    with pytest.raises(ConfigError, match="cannot rotate it"):
        rotate_evidence_key(tmp_path)


def test_a_retired_store_secret_still_checks_its_macs(tmp_path: Path) -> None:
    before = load_evidence_keys(tmp_path)
    mac = before.mac("b" * 64)
    (tmp_path / "retired").mkdir(mode=0o700)
    (tmp_path / "signing.key").rename(tmp_path / "retired" / "2026-12.key")

    after = load_evidence_keys(tmp_path)

    assert after.mac_id != before.mac_id
    assert after.mac_problem("b" * 64, mac) is None
    assert after.mac_problem("c" * 64, mac) is not None


def test_the_merkle_root_is_rfc_6962s() -> None:
    import hashlib

    def leaf(data: bytes) -> bytes:
        return hashlib.sha256(b"\x00" + data).digest()

    def node(left: bytes, right: bytes) -> bytes:
        return hashlib.sha256(b"\x01" + left + right).digest()

    a, b, c = b"a", b"b", b"c"
    # Three leaves split at two: (a b) c.
    assert merkle_root([a, b, c]) == node(node(leaf(a), leaf(b)), leaf(c)).hex()
    assert merkle_root([a]) == leaf(a).hex()
    assert merkle_root([]) == hashlib.sha256(b"").hexdigest()
