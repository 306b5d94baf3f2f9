"""Credentials for tests: a fixed key, hand-made credentials, and an issuer that remembers."""

from __future__ import annotations

from typing import Any

from proctor.policy import Credential, CredentialIssuer

TEST_KEY = b"a test signing key, at least 32 bytes long"
ISSUER = CredentialIssuer(TEST_KEY)


def granting(tool: str, *actions: str, run_id: str = "run-1", call_id: str = "c") -> Credential:
    """A credential for ``tool`` granting ``actions`` on every resource, without limits."""
    return ISSUER.issue(
        run_id=run_id,
        call_id=call_id,
        tool=tool,
        actions=actions,
        resources=["*"],
        ttl_seconds=600,
    )


class RecordingIssuer(CredentialIssuer):
    """Issues as usual and keeps every credential, so a test can look for its token."""

    def __init__(self, key: bytes = TEST_KEY, **options: Any) -> None:
        super().__init__(key, **options)
        self.issued: list[Credential] = []

    def issue(self, **claims: Any) -> Credential:
        credential = super().issue(**claims)
        self.issued.append(credential)
        return credential

    @property
    def tokens(self) -> list[str]:
        return [credential.token for credential in self.issued]
