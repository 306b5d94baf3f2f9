"""Redaction settings: what is replaced in a run's record before it is hashed or stored.

```yaml
redaction:
  detectors: {email: hash, secret: drop, phone: off}
  patterns:
    - {name: customer_id, regex: 'CUST-\\d{6}', action: hash}
  hash_salt_env: PROCTOR_REDACTION_SALT
```

The built-in detectors are on by default; the policy layer (``proctor.policy.Redactor``)
compiles these settings once per contract.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

RedactionAction = Literal["mask", "hash", "drop"]
"""``mask``: ``[email:redacted]``; ``hash``: ``[email:sha256:<12 hex>]``, equal values
correlate; ``drop``: the whole value becomes ``[dropped]``."""
DetectorAction = Literal["mask", "hash", "drop", "off"]
"""A detector's action; ``off`` disables it."""

Loc = tuple[str | int, ...]
Problem = tuple[Loc, str, str]
"""(key path from the contract's root, message, fix)."""

_LABEL = re.compile(r"^[a-z][a-z0-9_]*$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RedactionDetectors(_Strict):
    """The built-in detectors and the action each takes (``off`` disables one)."""

    email: DetectorAction = "mask"
    """E-mail addresses."""
    phone: DetectorAction = "mask"
    """Phone numbers: international (``+`` and country code) and North American."""
    card: DetectorAction = "mask"
    """Payment card numbers, 13 to 19 digits, Luhn-checked."""
    iban: DetectorAction = "mask"
    """IBANs, mod-97 checked."""
    ssn: DetectorAction = "mask"
    """US social security numbers (``123-45-6789``)."""
    secret: DetectorAction = "drop"
    """API keys and tokens, private key blocks, and high-entropy values of key-like fields."""
    person: DetectorAction = "mask"
    """Names of people (only with Presidio installed)."""
    location: DetectorAction = "mask"
    """Addresses and places (only with Presidio installed)."""

    @field_validator("*", mode="before")
    @classmethod
    def _off(cls, value: object) -> object:
        # YAML 1.1 reads a bare 'off' as false, so 'email: off' arrives as False.
        return "off" if value is False else value


class RedactionPattern(_Strict):
    """A custom detector: a regular expression and what to do with its matches."""

    name: str
    """Label in placeholders, e.g. ``[customer_id:redacted]``: lower case, digits, ``_``."""
    regex: str
    """Python regular expression; every match is redacted."""
    action: RedactionAction = "mask"


class Redaction(_Strict):
    """What the run's record keeps of personal data and secrets."""

    enabled: bool = True
    """``false`` records everything as it is (only for data that holds nothing personal)."""
    detectors: RedactionDetectors = Field(default_factory=RedactionDetectors)
    patterns: list[RedactionPattern] = Field(default_factory=list)
    presidio: Literal["auto", "off"] = "auto"
    """``auto``: detect ``person`` and ``location`` with Presidio when it is installed."""
    hash_salt_env: str = "PROCTOR_REDACTION_SALT"
    """Environment variable holding the secret salt of the ``hash`` action."""
    names: Literal["pseudonymize", "keep"] = "pseudonymize"
    """Who started a run or decided an approval: ``pseudonymize`` records a name in which
    a detector finds personal data (an e-mail address) as a keyed pseudonym of the whole
    name, equal for one person and different between people; ``keep`` records names as
    given. Either way the run acts on the real name (kept sealed)."""

    @property
    def hashes(self) -> bool:
        """Whether any detector or pattern uses the ``hash`` action (and so needs a salt)."""
        actions = [*self.detectors.model_dump().values(), *(p.action for p in self.patterns)]
        return "hash" in actions


def redaction_problems(redaction: Redaction) -> list[Problem]:
    """Everything wrong with a contract's ``redaction`` section that types cannot say."""
    found: list[Problem] = []
    for i, pattern in enumerate(redaction.patterns):
        where: Loc = ("redaction", "patterns", i)
        if not _LABEL.match(pattern.name):
            found.append(
                (
                    (*where, "name"),
                    f"pattern name {pattern.name!r} cannot label a placeholder",
                    "use lower-case letters, digits and '_', starting with a letter, "
                    "e.g. customer_id",
                )
            )
        try:
            compiled = re.compile(pattern.regex)
        except re.error as exc:
            found.append(
                (
                    (*where, "regex"),
                    f"redaction pattern {pattern.name!r} is not a valid regular expression: "
                    f"{exc.msg} at position {exc.pos}",
                    "correct the expression (Python 're' syntax); escape a literal "
                    "'(', '[', '.', '+', '*' or '?' with a backslash, and single-quote the "
                    "YAML value so backslashes stay as written",
                )
            )
            continue
        if compiled.fullmatch(""):
            found.append(
                (
                    (*where, "regex"),
                    f"redaction pattern {pattern.name!r} matches empty text, so it would "
                    "redact between every character",
                    "make it match at least one character (e.g. '+' instead of '*')",
                )
            )
    if not _ENV_NAME.match(redaction.hash_salt_env):
        found.append(
            (
                ("redaction", "hash_salt_env"),
                f"{redaction.hash_salt_env!r} is not an environment variable name",
                "name the variable that holds the salt, e.g. PROCTOR_REDACTION_SALT",
            )
        )
    return found
