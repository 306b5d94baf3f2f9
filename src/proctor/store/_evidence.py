"""Keyed and signed evidence: who can extend a run's chain, and who can check it.

Every commit of a run ends with an event carrying a MAC (HMAC-SHA256 under a key derived
from the store secret) over its chain hash, which covers everything before it: rewriting
any event, even with the hashing code, needs the secret. At the moments that decide (an
approval asked for or decided, the run's end, a purge) the commit's last event is also
signed with the evidence key (Ed25519), so anyone holding only the public key can check
the run, offline. Store checkpoints sign a Merkle root over every run's head, so a whole
run deleted or replaced is caught too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from proctor.errors import ConfigError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

SIGNED_EVENTS = frozenset(
    {"approval_requested", "approval_decided", "approval_expired", "run_finished", "purged"}
)
"""Event types whose commit is signed (a decision, the end, a purge)."""

_MAC_LABEL = b"proctor chain mac v1"
_DIGEST_LABEL = b"proctor content digest v1"
_SEAL_LABEL = b"proctor seal master v1"


class Signer(Protocol):
    """Signs evidence with an Ed25519 key: a local file's, or a KMS's (implement this)."""

    @property
    def key_id(self) -> str:
        """``key_id(public key)``: recorded beside every signature."""
        ...

    def public_key(self) -> Ed25519PublicKey: ...

    def sign(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``message``."""
        ...


def key_id(public: Ed25519PublicKey) -> str:
    """A public key's id: the first 16 hex digits of SHA-256 over its raw 32 bytes."""
    from cryptography.hazmat.primitives import serialization

    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_pem(public: Ed25519PublicKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_public_key(pem: bytes, *, where: str) -> Ed25519PublicKey:
    """An Ed25519 public key from PEM; a clear error names ``where`` it came from."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError as exc:
        raise ConfigError(
            f"{where} is not a PEM public key ({exc}). Fix: export one with "
            "`proctor audit public-key > FILE`"
        ) from None
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError(f"{where} is not an Ed25519 public key; Proctor signs with Ed25519")
    return key


class LocalSigner:
    """A signer holding its Ed25519 private key in memory (from a file or the env)."""

    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._private = private
        self._public = private.public_key()
        self.key_id = key_id(self._public)

    @classmethod
    def from_pem(cls, pem: bytes, *, where: str) -> LocalSigner:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError) as exc:
            fix = (
                "set it to an unencrypted Ed25519 PKCS#8 PEM key (an evidence.key file's text)"
                if where.isupper()  # an environment variable
                else "delete the file to have a new key generated, or write an Ed25519 "
                "PKCS#8 PEM key into it"
            )
            raise ConfigError(
                f"{where} is not an unencrypted PEM private key ({exc}). Fix: {fix}"
            ) from None
        if not isinstance(key, Ed25519PrivateKey):
            raise ConfigError(f"{where} is not an Ed25519 key; Proctor signs with Ed25519")
        return cls(key)

    def public_key(self) -> Ed25519PublicKey:
        return self._public

    def public_pem(self) -> bytes:
        return public_pem(self._public)

    def sign(self, message: bytes) -> bytes:
        return self._private.sign(message)


def head_message(run_id: str, seq: int, hash_: str) -> bytes:
    """What a run head's signature signs (the run and position, so no signature can be
    moved to another run or event)."""
    return f"proctor run head v1\n{run_id}\n{seq}\n{hash_}".encode()


def checkpoint_message(hash_: str) -> bytes:
    return f"proctor checkpoint v1\n{hash_}".encode()


def mac_key(secret: bytes, label: bytes = _MAC_LABEL) -> tuple[str, bytes]:
    """A key derived from a store secret for one use (the chain MAC by default), and its
    id (8 hex digits)."""
    key = hmac.digest(secret, label, "sha256")
    return hashlib.sha256(key).hexdigest()[:8], key


@dataclass(frozen=True, kw_only=True)
class EvidenceKeys:
    """The keys that make and check evidence.

    A writer has the store secret (``mac_id``/``mac_keys``) and a ``signer``. A verifier
    holding only public keys has ``public_keys`` and no MAC keys: it checks hashes and
    signatures, and reports what no signature covers yet.
    """

    mac_id: str = ""
    mac_keys: dict[str, bytes] = field(default_factory=dict)
    digest_id: str = ""
    digest_keys: dict[str, bytes] = field(default_factory=dict)
    """Keys of the content digests (a payload's digest must not confirm a guess of it)."""
    digest_states: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    """A SHA-256 state fed each digest key, copied for each payload (``digest_keys``)."""
    mac_state: Any = field(default=None, repr=False, compare=False)
    """The current MAC key's HMAC, keyed once and copied per commit (a copy costs half of
    ``hmac.digest``, which sets the key up each time)."""
    seal_id: str = ""
    seal_keys: dict[str, bytes] = field(default_factory=dict, repr=False)
    """Master keys that wrap each run's data key (``store._sealing``), by id."""
    signer: Signer | None = None
    public_keys: dict[str, Ed25519PublicKey] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        *,
        secret: bytes,
        signer: Signer | None,
        retired: Iterable[bytes] = (),
        trusted: Iterable[Ed25519PublicKey] = (),
    ) -> EvidenceKeys:
        secrets = [*retired, secret]  # the current one last: it wins an id clash
        macs = dict(mac_key(each) for each in secrets)
        digests = dict(mac_key(each, _DIGEST_LABEL) for each in secrets)
        public = {key_id(k): k for k in trusted}
        if signer is not None:
            public[signer.key_id] = signer.public_key()
        return cls(
            mac_id=mac_key(secret)[0],
            mac_keys=macs,
            digest_id=mac_key(secret, _DIGEST_LABEL)[0],
            digest_keys=digests,
            digest_states={kid: hashlib.sha256(key) for kid, key in digests.items()},
            mac_state=hmac.new(macs[mac_key(secret)[0]], digestmod=hashlib.sha256),
            seal_id=mac_key(secret, _SEAL_LABEL)[0],
            seal_keys=dict(mac_key(each, _SEAL_LABEL) for each in secrets),
            signer=signer,
            public_keys=public,
        )

    @classmethod
    def public_only(cls, keys: Sequence[Ed25519PublicKey]) -> EvidenceKeys:
        """What someone without the store's secrets verifies with."""
        return cls(public_keys={key_id(k): k for k in keys})

    @property
    def can_check_macs(self) -> bool:
        return bool(self.mac_keys)

    @property
    def can_seal(self) -> bool:
        """Whether these keys seal and open payloads (a writer's, not a verifier's)."""
        return bool(self.seal_keys)

    def mac(self, hash_: str) -> str:
        """``<key id>.<hex HMAC>`` of a chain hash."""
        state = self.mac_state.copy()
        state.update(hash_.encode())
        return f"{self.mac_id}.{state.hexdigest()}"

    def mac_problem(self, hash_: str, mac: str) -> str | None:
        """Why ``mac`` is not a valid MAC of ``hash_`` under a key held, or ``None``."""
        kid, _, value = mac.partition(".")
        key = self.mac_keys.get(kid)
        if key is None:
            return (
                f"its MAC was made with key {kid!r}, which this store does not hold (a "
                "retired store secret belongs in <home>/retired/)"
            )
        expected = hmac.digest(key, hash_.encode(), "sha256").hex()
        if not hmac.compare_digest(expected, value):
            return "its MAC does not match: it was rewritten without the store's secret"
        return None

    def content_digest(self, canonical: bytes) -> str:
        """``<key id>.<hex SHA-256(key + payload)>`` of a payload's canonical JSON: a
        digest that confirms nothing to someone guessing the payload without the store
        secret. (A secret prefix, not HMAC: the digest is only compared, never trusted to
        authenticate, which the chain's MAC does; it costs one hash, from a saved state.)"""
        state = self.digest_states[self.digest_id].copy()
        state.update(canonical)
        return f"{self.digest_id}.{state.hexdigest()}"

    def content_digest_matches(self, canonical: bytes, digest: str) -> bool | None:
        """Whether ``digest`` is this payload's keyed digest (``None``: its key is not
        held, so it cannot be told)."""
        kid, _, value = digest.partition(".")
        state = self.digest_states.get(kid)
        if state is None:
            return None
        state = state.copy()
        state.update(canonical)
        return hmac.compare_digest(state.hexdigest(), value)

    def sign(self, message: bytes) -> str:
        """``<key id>.<base64url signature>`` by the signer."""
        assert self.signer is not None
        raw = self.signer.sign(message)
        return f"{self.signer.key_id}.{base64.urlsafe_b64encode(raw).decode().rstrip('=')}"

    def signature_problem(self, message: bytes, signature: str) -> str | None:
        """Why ``signature`` is not a valid signature of ``message`` by a trusted key."""
        from cryptography.exceptions import InvalidSignature

        kid, _, value = signature.partition(".")
        public = self.public_keys.get(kid)
        if public is None:
            return (
                f"it is signed by key {kid!r}, which is not trusted here (pass its public "
                "key with --public-key, or keep it in <home>/evidence-keys/)"
            )
        try:
            public.verify(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)), message)
        except (InvalidSignature, ValueError):
            return "its signature does not verify: it was forged, or moved from elsewhere"
        return None


def merkle_root(leaves: Sequence[bytes]) -> str:
    """RFC 6962's Merkle tree hash over ``leaves`` (hex): ``sha256(0x00 + leaf)`` for a
    leaf, ``sha256(0x01 + left + right)`` for a node, split at the largest power of two
    below the count. The empty tree's hash is ``sha256("")``."""
    if not leaves:
        return hashlib.sha256(b"").hexdigest()
    hashed = [hashlib.sha256(b"\x00" + leaf).digest() for leaf in leaves]
    return _tree(hashed, 0, len(hashed)).hex()


def _tree(nodes: list[bytes], start: int, end: int) -> bytes:
    count = end - start
    if count == 1:
        return nodes[start]
    split = 1 << ((count - 1).bit_length() - 1)
    left = _tree(nodes, start, start + split)
    return hashlib.sha256(b"\x01" + left + _tree(nodes, start + split, end)).digest()
