"""A real OpenID provider for the single sign-on tests, and a browser that signs in with it.

``oidc_provider/provider.mjs`` (the npm package ``oidc-provider``, as locked in
``oidc_provider/package-lock.json``; ``make test`` installs it) starts two providers on
loopback: ``main``, which the server trusts, and ``other``, which signs with the same key
under another issuer and keeps people's claims out of its ID tokens (userinfo has them).
Its people: alice (operator and approver, tenant acme), bob (approver, acme), carol (no
Proctor group) and dana (admin, tenants acme and globex).
Without ``node`` or the installed package the tests skip here and fail in CI.
"""

from __future__ import annotations

import os
import re
import select
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

import httpx2
import orjson
import pytest

PROVIDER_DIR = Path(__file__).parent / "oidc_provider"
APP_BASE = "https://testserver"
REDIRECT_URI = f"{APP_BASE}/login/sso/callback"
SECRET_ENV = "PROCTOR_TEST_OIDC_SECRET"
SECRET = "proctor-secret"  # as provider.mjs gives its clients: "<client_id>-secret"


@dataclass(frozen=True)
class Issuers:
    main: str
    other: str


def node_or_skip() -> str:
    """The ``node`` executable with oidc-provider installed; else skip (fail on CI)."""
    node = shutil.which("node")
    if node is None:
        reason = "node is not installed (the single sign-on tests need Node.js 20+)"
    elif not (PROVIDER_DIR / "node_modules" / "oidc-provider" / "package.json").exists():
        reason = f"oidc-provider is not installed: npm ci --prefix {PROVIDER_DIR}"
    else:
        return node
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI must run these tests", pytrace=False)
    pytest.skip(reason)


@contextmanager
def running_provider(redirect_uri: str = REDIRECT_URI) -> Iterator[Issuers]:
    """Start provider.mjs, its clients sending browsers back to ``redirect_uri``; yield
    its issuers; end it (closing its standard input)."""
    node = node_or_skip()
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            [node, str(PROVIDER_DIR / "provider.mjs"), redirect_uri],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
        )
        try:
            assert proc.stdout is not None
            ready, _, _ = select.select([proc.stdout], [], [], 30)
            line = proc.stdout.readline() if ready else b""
            if not line:
                proc.kill()
                log.seek(0)
                raise RuntimeError(f"the OpenID provider did not start: {log.read()[-2000:]!r}")
            found = orjson.loads(line)
            yield Issuers(main=found["main"], other=found["other"])
        finally:
            if proc.stdin is not None:
                proc.stdin.close()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()


def sso_yaml(issuer: str, **extra: str) -> str:
    """proctor.yaml's ``sso:`` for the test provider (``extra``: more keys, as YAML)."""
    lines = [
        "sso:",
        f"  issuer: {issuer}",
        "  client_id: proctor",
        f"  client_secret_env: {SECRET_ENV}",
        "  scopes: [openid, email, profile, groups]",
        "  label: Test IdP",
        "  roles:",
        "    claim: groups",
        "    map: {proctor-operators: operator, proctor-approvers: approver,"
        " proctor-admins: admin}",
        "  tenants:",
        "    claim: tenant",
        "    default: null",
        *(f"  {key}: {value}" for key, value in extra.items()),
    ]
    return "\n".join(lines) + "\n"


def log_in_at_provider(url: str, login: str) -> str:
    """Follow an authorization URL through the provider's sign-in form as ``login``
    (a fresh browser at the provider: no earlier session); returns the URL it sends
    the browser back to (the callback, with the code and state)."""
    with httpx2.Client(follow_redirects=False, timeout=10) as idp:
        for _ in range(12):
            if url.startswith(APP_BASE):
                return url
            page = idp.get(url)
            if page.is_redirect:
                url = urljoin(url, page.headers["location"])
                continue
            form = re.search(r'<form[^>]*action="([^"]+)"', page.text)
            assert page.status_code == 200, page.text
            assert form, page.text
            assert 'name="login"' in page.text, page.text
            sent = idp.post(
                urljoin(url, form.group(1)),
                data={"prompt": "login", "login": login, "password": "anything"},
            )
            assert sent.is_redirect, sent.text
            url = urljoin(url, sent.headers["location"])
    raise AssertionError(f"the provider never sent the browser back: {url}")
