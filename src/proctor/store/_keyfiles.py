"""Key files: the store secret and the evidence key, read from the environment or from
0600 files in the Proctor home, created on first use.

- ``signing.key`` (or ``$PROCTOR_SIGNING_KEY``): the store secret. It signs credentials,
  keys every digest of content and, derived, the MAC of every commit of a run's chain.
- ``evidence.key`` (or ``$PROCTOR_EVIDENCE_KEY``): an Ed25519 private key (PKCS#8 PEM)
  that signs run heads and store checkpoints, so anyone with its public key can verify.
- ``evidence-keys/*.pub``: public keys trusted besides the current one (the retired keys
  of a rotation, or another store's), PEM.
- ``retired/*.key``: store secrets replaced by a new ``signing.key``, kept so the MACs
  they made still verify.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from proctor.errors import ConfigError
from proctor.store._files import default_home, private_dirs

if TYPE_CHECKING:
    from proctor.store._evidence import EvidenceKeys

KEY_ENV = "PROCTOR_SIGNING_KEY"
KEY_FILE = "signing.key"
EVIDENCE_ENV = "PROCTOR_EVIDENCE_KEY"
EVIDENCE_FILE = "evidence.key"
TRUSTED_DIR = "evidence-keys"
RETIRED_DIR = "retired"
MIN_KEY_BYTES = 32
_GENERATE = "python -c 'import secrets; print(secrets.token_hex(32))'"


def _home(home: Path | None) -> Path:
    return home if home is not None else default_home()


def load_signing_key(home: Path | None = None) -> bytes:
    """The store secret: ``$PROCTOR_SIGNING_KEY``, else ``<home>/signing.key``.

    The file is created on first use (64 hex characters from ``secrets.token_bytes(32)``)
    with mode 0600 from the start, so it is never readable by others, not even briefly.
    An existing file that others may read is refused. Copy its content into
    ``PROCTOR_SIGNING_KEY`` to share one key between processes on several machines.
    """
    value = os.environ.get(KEY_ENV)
    if value is not None and value.strip():
        key = value.strip().encode()
        if len(key) < MIN_KEY_BYTES:
            raise ConfigError(
                f"{KEY_ENV} has {len(key)} bytes; a signing key needs at least "
                f"{MIN_KEY_BYTES}. Fix: set it to a random value, e.g. from {_GENERATE}"
            )
        return key
    path = _home(home) / KEY_FILE
    text = _read_or_create(path, lambda: secrets.token_bytes(32).hex() + "\n", "signing key")
    key = text.strip().encode()
    if len(key) < MIN_KEY_BYTES:
        raise ConfigError(
            f"the signing key {path} has {len(key)} bytes; at least {MIN_KEY_BYTES} are "
            f"needed. Fix: delete the file to have a new key generated, or write one from "
            f"{_GENERATE}"
        )
    return key


def retired_secrets(home: Path | None = None) -> list[bytes]:
    """Store secrets kept in ``<home>/retired/*.key`` after a rotation."""
    folder = _home(home) / RETIRED_DIR
    if not folder.is_dir():
        return []
    return [_read_private(path).strip().encode() for path in sorted(folder.glob("*.key"))]


def load_evidence_pem(home: Path | None = None) -> bytes:
    """The evidence key's PKCS#8 PEM: ``$PROCTOR_EVIDENCE_KEY``, else
    ``<home>/evidence.key`` (a new Ed25519 key, 0600, on first use)."""
    value = os.environ.get(EVIDENCE_ENV)
    if value is not None and value.strip():
        return value.strip().encode() + b"\n"
    path = _home(home) / EVIDENCE_FILE
    return _read_or_create(path, _new_evidence_pem, "evidence key").encode()


def trusted_public_pems(home: Path | None = None) -> list[tuple[Path, bytes]]:
    """The public keys (PEM) in ``<home>/evidence-keys``, with their files."""
    folder = _home(home) / TRUSTED_DIR
    if not folder.is_dir():
        return []
    return [(path, path.read_bytes()) for path in sorted(folder.glob("*.pub"))]


def load_evidence_keys(home: Path | None = None) -> EvidenceKeys:
    """The keys a process writing runs holds: the store secret (current and retired), the
    evidence signer, and the public keys it trusts."""
    from proctor.store._evidence import EvidenceKeys, LocalSigner, load_public_key

    signer = LocalSigner.from_pem(load_evidence_pem(home), where=_evidence_where(home))
    trusted = [load_public_key(pem, where=str(path)) for path, pem in trusted_public_pems(home)]
    return EvidenceKeys.build(
        secret=load_signing_key(home),
        retired=retired_secrets(home),
        signer=signer,
        trusted=trusted,
    )


def rotate_evidence_key(home: Path | None = None) -> tuple[str, str]:
    """Replace ``<home>/evidence.key`` with a new key; the old public key is kept in
    ``evidence-keys/`` so what it signed still verifies. Returns (old id, new id)."""
    from proctor.store._evidence import LocalSigner

    if os.environ.get(EVIDENCE_ENV, "").strip():
        raise ConfigError(
            f"the evidence key comes from {EVIDENCE_ENV}, so Proctor cannot rotate it. Fix: "
            "generate a new key, add the old public key (`proctor audit public-key`) to "
            f"<home>/{TRUSTED_DIR}/, then set {EVIDENCE_ENV} to the new key"
        )
    base = _home(home)
    old = LocalSigner.from_pem(load_evidence_pem(home), where=str(base / EVIDENCE_FILE))
    folder = base / TRUSTED_DIR
    private_dirs(folder)
    (folder / f"{old.key_id}.pub").write_bytes(old.public_pem())
    fresh = base / f"{EVIDENCE_FILE}.new"
    with contextlib.suppress(FileNotFoundError):
        fresh.unlink()
    _write_private(fresh, _new_evidence_pem())
    fresh.replace(base / EVIDENCE_FILE)  # atomic: a reader sees the old key or the new
    new = LocalSigner.from_pem(load_evidence_pem(home), where=str(base / EVIDENCE_FILE))
    return old.key_id, new.key_id


def _evidence_where(home: Path | None) -> str:
    if os.environ.get(EVIDENCE_ENV, "").strip():
        return EVIDENCE_ENV
    return str(_home(home) / EVIDENCE_FILE)


def _new_evidence_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return (
        Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )


def _read_or_create(path: Path, make: Callable[[], str], what: str) -> str:
    try:
        return _read_private(path)
    except FileNotFoundError:
        pass
    try:
        return _write_private(path, make())
    except FileExistsError:
        return _read_private(path)  # another process created it just now
    except OSError as exc:
        raise ConfigError(
            f"cannot create the {what} {path}: {exc.strerror or exc}. Fix: make "
            f"{path.parent} writable, or set the key in the environment"
        ) from None


def _write_private(path: Path, text: str) -> str:
    private_dirs(path.parent)
    # O_EXCL: exactly one creator; 0o600 at creation: no moment with wider access.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as file:
        file.write(text)
        file.flush()
        os.fsync(file.fileno())
    return text


def _read_private(path: Path, wait_s: float = 2.0) -> str:
    if os.name == "posix":
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise ConfigError(
                f"the key file {path} is accessible to other users (mode {mode:04o}). "
                f"Fix: chmod 600 {path}"
            )
    deadline = time.monotonic() + wait_s
    while True:
        text = path.read_text(encoding="utf-8")
        # Empty: another process has just created the file and is about to write the key
        # (in one write). Anything else is what the file holds.
        if text or time.monotonic() >= deadline:
            return text
        time.sleep(0.005)
