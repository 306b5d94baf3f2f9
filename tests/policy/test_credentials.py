"""Scoped, short-lived credentials: signing, verification, ``require``, and the signing key."""

from __future__ import annotations

import base64
import json
import logging
import os
import stat
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import jwt
import pytest

from proctor.errors import ConfigError, CredentialDenied, ProctorError
from proctor.policy import (
    Credential,
    CredentialIssuer,
    InvalidCredential,
    load_signing_key,
)
from proctor.tools import NoCredential, ToolContext

KEY = b"k" * 32
ISSUER = CredentialIssuer(KEY)


def issue(issuer: CredentialIssuer = ISSUER, **changes: Any) -> Credential:
    claims: dict[str, Any] = {
        "run_id": "run_a",
        "call_id": "call_1",
        "tool": "erp.create_payment",
        "actions": ["payment.create"],
        "resources": ["vendor:V-1001"],
        "limits": {"max_amount": 10000},
        "ttl_seconds": 60,
    }
    return issuer.issue(**{**claims, **changes})


def reencode(token: str, **claims: Any) -> str:
    """``token`` with its payload changed and its signature kept: a forgery."""
    header, payload, signature = token.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged = base64.urlsafe_b64encode(json.dumps({**data, **claims}).encode()).rstrip(b"=")
    return f"{header}.{forged.decode()}.{signature}"


# --- issuing and verifying -------------------------------------------------------------


def test_a_credential_is_an_hs256_jwt_with_every_claim() -> None:
    before = time.time()
    credential = issue()
    header = jwt.get_unverified_header(credential.token)
    claims = jwt.decode(credential.token, KEY, algorithms=["HS256"], issuer="proctor")
    assert header["alg"] == "HS256"
    assert claims["run_id"] == credential.run_id == "run_a"
    assert claims["call_id"] == credential.call_id == "call_1"
    assert claims["tool"] == credential.tool == "erp.create_payment"
    assert claims["actions"] == ["payment.create"] == list(credential.actions)
    assert claims["resources"] == ["vendor:V-1001"] == list(credential.resources)
    assert claims["limits"] == {"max_amount": 10000} == credential.limits
    assert claims["exp"] - claims["iat"] == 60
    assert int(before) <= credential.issued_at <= time.time()
    assert claims["jti"] == credential.jti
    assert issue().jti != credential.jti


def test_the_token_is_the_one_pyjwt_writes_for_the_same_claims() -> None:
    credential = issue()
    claims = jwt.decode(credential.token, KEY, algorithms=["HS256"], issuer="proctor")
    assert credential.token == jwt.encode(claims, KEY, algorithm="HS256")
    # Text beyond ASCII is written as UTF-8 (PyJWT escapes it); both read it back alike.
    other = issue(resources=["vendor:Müller & Söhne"])
    read = jwt.decode(other.token, KEY, algorithms=["HS256"], issuer="proctor")
    assert read["resources"] == ["vendor:Müller & Söhne"]


def test_verify_returns_the_same_credential() -> None:
    credential = issue()
    assert ISSUER.verify(credential.token, run_id="run_a", tool="erp.create_payment") == credential


def test_the_token_stays_out_of_reprs() -> None:
    credential = issue()
    context = ToolContext(
        run_id="r",
        call_id="c",
        step=0,
        idempotency_key="r:0",
        logger=logging.getLogger("t"),
        credential=credential,
    )
    assert credential.token not in repr(credential)
    assert credential.token not in repr(context)
    assert "k" * 32 not in repr(ISSUER)


def test_a_short_key_is_refused() -> None:
    with pytest.raises(ConfigError, match="at least 32"):
        CredentialIssuer(b"short")


# --- rejected tokens -------------------------------------------------------------------


def test_a_tampered_token_is_rejected() -> None:
    credential = issue()
    widened = reencode(credential.token, resources=["*"], limits={})
    with pytest.raises(InvalidCredential, match="signature does not match") as caught:
        ISSUER.verify(widened, run_id="run_a", tool="erp.create_payment")
    assert caught.value.problem == "tampered"


def test_a_token_signed_with_another_key_is_rejected() -> None:
    other = issue(CredentialIssuer(b"x" * 32))
    with pytest.raises(InvalidCredential) as caught:
        ISSUER.verify(other.token, run_id="run_a", tool="erp.create_payment")
    assert caught.value.problem == "tampered"


@pytest.mark.parametrize("token", ["", "not.a.jwt", "abc"])
def test_garbage_is_malformed(token: str) -> None:
    with pytest.raises(InvalidCredential, match="not a valid Proctor token") as caught:
        ISSUER.verify(token, run_id="run_a", tool="erp.create_payment")
    assert caught.value.problem == "malformed"


def test_a_token_without_the_proctor_claims_is_malformed() -> None:
    token = jwt.encode({"iss": "proctor", "exp": int(time.time()) + 60}, KEY, algorithm="HS256")
    with pytest.raises(InvalidCredential) as caught:
        ISSUER.verify(token, run_id="run_a", tool="erp.create_payment")
    assert caught.value.problem == "malformed"


def test_an_expired_token_is_rejected_and_says_when() -> None:
    an_hour_ago = CredentialIssuer(KEY, clock=lambda: time.time() - 3600)
    old = issue(an_hour_ago)
    with pytest.raises(InvalidCredential, match=r"expired 354\d s ago.*ttl_seconds") as caught:
        ISSUER.verify(old.token, run_id="run_a", tool="erp.create_payment")
    assert caught.value.problem == "expired"
    # A leeway for clock skew between machines accepts it only within that leeway.
    ISSUER.verify(old.token, run_id="run_a", tool="erp.create_payment", leeway_s=3600)


def test_a_credential_from_another_run_is_rejected() -> None:
    credential = issue()
    with pytest.raises(InvalidCredential, match="issued for run run_a was presented in run") as c:
        ISSUER.verify(credential.token, run_id="run_b", tool="erp.create_payment")
    assert c.value.problem == "foreign_run"


def test_a_credential_for_another_tool_is_rejected() -> None:
    credential = issue()
    with pytest.raises(InvalidCredential, match=r"issued for erp\.create_payment") as caught:
        ISSUER.verify(credential.token, run_id="run_a", tool="wire_transfer.create")
    assert caught.value.problem == "foreign_tool"


def test_rejections_are_credential_denials_and_proctor_errors() -> None:
    assert issubclass(InvalidCredential, CredentialDenied)
    assert issubclass(CredentialDenied, ProctorError)


# --- require -----------------------------------------------------------------------------


def test_require_allows_what_is_granted() -> None:
    credential = issue()
    credential.require("payment.create")
    credential.require("payment.create", resource="vendor:V-1001")
    credential.require("payment.create", resource="vendor:V-1001", amount=10000)
    credential.require(action="payment.create", resource="vendor:V-1001", amount=0.01)


def test_require_refuses_another_action_and_says_what_is_granted() -> None:
    with pytest.raises(CredentialDenied) as caught:
        issue().require("payment.refund", resource="vendor:V-1001")
    message = str(caught.value)
    assert "asked for 'payment.refund'" in message
    assert "grants only 'payment.create'" in message
    assert "credentials.tools.erp.create_payment.actions" in message


def test_require_refuses_another_resource() -> None:
    with pytest.raises(CredentialDenied) as caught:
        issue().require("payment.create", resource="vendor:V-1003")
    message = str(caught.value)
    assert "on 'vendor:V-1003'" in message
    assert "covers only 'vendor:V-1001'" in message
    assert "credentials.tools.erp.create_payment.resources" in message


def test_require_refuses_an_amount_over_the_limit() -> None:
    with pytest.raises(CredentialDenied) as caught:
        issue().require("payment.create", resource="vendor:V-1001", amount=10000.01)
    message = str(caught.value)
    assert "amount 10000, over its credential's max_amount of 10000" in message
    assert "limits.max_amount" in message


@pytest.mark.parametrize("amount", [float("nan"), float("inf")])
def test_require_refuses_an_amount_that_is_not_a_finite_number(amount: float) -> None:
    with pytest.raises(CredentialDenied, match="not a finite number"):
        issue().require("payment.create", amount=amount)


def test_other_quantities_check_their_own_limit_and_unlimited_ones_pass() -> None:
    credential = issue(limits={"max_items": 3})
    credential.require("payment.create", items=3)
    credential.require("payment.create", amount=10**9)  # no max_amount declared
    with pytest.raises(CredentialDenied, match="items 4, over its credential's max_items of 3"):
        credential.require("payment.create", items=4)


def test_no_resources_granted_refuses_any_named_resource() -> None:
    credential = issue(resources=[])
    credential.require("payment.create")
    with pytest.raises(CredentialDenied, match="covers only no resources"):
        credential.require("payment.create", resource="vendor:V-1001")


def test_an_expired_credential_refuses_everything() -> None:
    credential = issue(CredentialIssuer(KEY, clock=lambda: time.time() - 120))
    with pytest.raises(InvalidCredential, match=r"expired 6\d s ago") as caught:
        credential.require("payment.create")
    assert caught.value.problem == "expired"


@pytest.mark.parametrize(
    ("pattern", "resource", "matches"),
    [
        ("vendor:V-1001", "vendor:V-1001", True),
        ("vendor:V-1001", "vendor:V-10011", False),
        ("vendor:V-1001", "Vendor:V-1001", False),
        ("vendor:V-10*", "vendor:V-1001", True),
        ("vendor:V-10*", "vendor:V-2001", False),
        ("vendor:*", "vendor:", True),
        ("*", "anything at all", True),
        ("po:*:lines", "po:PO-1:lines", True),
        ("po:*:lines", "po:PO-1:header", False),
        ("a.b", "axb", False),  # regex characters are literal
        ("a?[b]", "a?[b]", True),
        ("a?[b]", "ax[b]", False),  # no '?' or '[...]' wildcards, only '*'
        ("vendor:\\*", "vendor:*", True),  # an escaped star is literal
        ("vendor:\\*", "vendor:V-1", False),
        ("vendor:a\\\\*", "vendor:a\\xyz", True),  # an escaped backslash, then a wildcard
    ],
)
def test_resource_patterns_match_exactly_or_with_star(
    pattern: str, resource: str, matches: bool
) -> None:
    credential = issue(resources=[pattern])
    if matches:
        credential.require("payment.create", resource=resource)
    else:
        with pytest.raises(CredentialDenied):
            credential.require("payment.create", resource=resource)


def test_a_tool_without_scopes_is_told_what_to_declare() -> None:
    with pytest.raises(CredentialDenied) as caught:
        NoCredential(tool="erp.fetch_po").require("po.read", resource="po:PO-1")
    message = str(caught.value)
    assert "erp.fetch_po asked for po.read on po:PO-1, but it has no credential" in message
    assert "Fix: declare them in the contract under credentials.tools.erp.fetch_po" in message
    assert NoCredential().token is None


# --- the signing key -------------------------------------------------------------------


@pytest.fixture
def no_env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROCTOR_SIGNING_KEY", raising=False)


@pytest.fixture
def umask_022() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("no_env_key", "umask_022")
def test_the_key_file_is_created_once_with_mode_0600_and_reused(proctor_home: Path) -> None:
    key = load_signing_key()
    path = proctor_home / "signing.key"
    assert mode(path) == 0o600
    assert len(bytes.fromhex(key.decode())) == 32  # 32 random bytes, in hex
    assert path.read_text() == key.decode() + "\n"
    assert load_signing_key() == key
    assert mode(path) == 0o600
    # Tokens signed by one process verify in the next.
    first = issue(CredentialIssuer.from_environment())
    CredentialIssuer.from_environment().verify(first.token, run_id="run_a", tool=first.tool)


@pytest.mark.usefixtures("no_env_key", "umask_022")
def test_the_key_file_is_created_in_a_home_that_does_not_exist_yet(tmp_path: Path) -> None:
    home = tmp_path / "new" / "home"
    load_signing_key(home)
    assert mode(home / "signing.key") == 0o600
    assert mode(home) == 0o700


@pytest.mark.usefixtures("no_env_key")
def test_concurrent_first_use_agrees_on_one_key(tmp_path: Path) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        keys = set(pool.map(lambda _: load_signing_key(tmp_path), range(32)))
    assert len(keys) == 1
    assert (tmp_path / "signing.key").read_text().strip().encode() in keys


@pytest.mark.usefixtures("no_env_key")
def test_a_key_file_others_can_read_is_refused(proctor_home: Path) -> None:
    load_signing_key()
    path = proctor_home / "signing.key"
    path.chmod(0o644)
    with pytest.raises(ConfigError, match=r"accessible to other users \(mode 0644\).*chmod 600"):
        load_signing_key()


@pytest.mark.usefixtures("no_env_key")
def test_a_short_key_file_is_refused(proctor_home: Path) -> None:
    proctor_home.mkdir(parents=True)
    path = proctor_home / "signing.key"
    path.write_text("too short\n")
    path.chmod(0o600)
    with pytest.raises(ConfigError, match="has 9 bytes; at least 32"):
        load_signing_key()


def test_the_environment_key_wins_and_writes_no_file(
    proctor_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROCTOR_SIGNING_KEY", "  " + "e" * 40 + "\n")
    assert load_signing_key() == b"e" * 40
    assert not (proctor_home / "signing.key").exists()
    signed = issue(CredentialIssuer(b"e" * 40))
    CredentialIssuer.from_environment().verify(signed.token, run_id="run_a", tool=signed.tool)


def test_a_short_environment_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROCTOR_SIGNING_KEY", "secret")
    with pytest.raises(ConfigError, match="PROCTOR_SIGNING_KEY has 6 bytes"):
        load_signing_key()
