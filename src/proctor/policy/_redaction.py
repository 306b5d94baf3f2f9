"""``Redactor``: personal data and secrets are replaced before anything is recorded.

A contract's ``redaction`` settings are compiled once into a ``Redactor``; the runtime
hands it to the run's journal, which applies it to every event's content (and to the
free-text ``reason`` of its metadata) before the event is hashed and stored. The live
run is untouched: the model and the tools see the real values, only the record differs.

Each match is replaced according to its detector's action:

* ``mask``: ``[email:redacted]``;
* ``hash``: ``[email:sha256:3f1c0a9be2d4]``, the first 12 hex digits of an HMAC-SHA256
  under a secret salt, so equal values correlate across events and runs, and a value
  cannot be recovered by hashing guesses without the salt;
* ``drop``: the whole value becomes ``[dropped]`` (a secret's surroundings may hold the
  rest of it).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from proctor.contracts import Redaction, RedactionAction
from proctor.errors import ConfigError
from proctor.policy import _detectors as d
from proctor.policy import _presidio

DROPPED = "[dropped]"
PLACEHOLDER = re.compile(r"\[(?:dropped|[a-z][a-z0-9_]*:(?:redacted|sha256:[0-9a-f]{12}))\]")
"""What the actions put in place of a value."""

_EMAIL = re.compile(d.EMAIL)
_SECRET = re.compile(d.SECRET)
_SECRET_GATE = re.compile(d.SECRET_GATE)
_NUMBER_GATE = re.compile(d.NUMBER_GATE)
# Gates over a whole event's JSON, so an event with nothing to find costs two passes.
_LOWER_GATE_BYTES = re.compile(d.LOWER_GATE_FAST)
_NUMBER_GATE_BYTES = re.compile(d.NUMBER_GATE_BYTES)
_NOT_DIGITS = bytes(byte for byte in range(256) if not 48 <= byte <= 57)
_CLEAN_CACHE = 1024
"""Small contents found clean, remembered (reasons and results repeat across events)."""
_PLACEHOLDER_BYTES = re.compile(PLACEHOLDER.pattern.encode())
_LABEL_IN = re.compile(r"\[([a-z][a-z0-9_]*):")
_SHORTEST = 6
"""No built-in detector matches fewer characters (``a@b.io``)."""
_CARD_INT = 10**12
"""JSON integers from this size on may be card numbers (13 digits and more)."""


@dataclass(frozen=True, slots=True)
class _Rule:
    label: str
    action: RedactionAction
    check: Callable[[str], d.Span] | None = None
    """For number candidates: where within the candidate the valid match is."""
    rank: int = 0
    """Breaks ties between matches at one position: custom patterns first."""


Span = tuple[int, int, _Rule]


class Redactor:
    """Replaces personal data and secrets in values about to be recorded.

    Call it on an event's content (``redactor(content)``), or use ``value`` and ``text``
    on anything else. It returns new values and never changes its argument.

    Args:
        config: The contract's ``redaction`` section; default: the built-in detectors.
        salt: Secret for the ``hash`` action; default: the environment variable that
            ``config.hash_salt_env`` names. Required only when something hashes.
        analyzer: A Presidio ``AnalyzerEngine`` (or a stand-in); default: Presidio's,
            when it is installed and ``config.presidio`` is ``auto``.
        names_key: Secret keying the pseudonyms of name fields (``name``); without it a
            name holding personal data is masked.
    """

    def __init__(
        self,
        config: Redaction | None = None,
        *,
        salt: str | bytes | None = None,
        analyzer: _presidio.Analyzer | None = None,
        names_key: bytes | None = None,
    ) -> None:
        config = config or Redaction()
        self.config = config
        self._names_key = names_key
        on: dict[str, RedactionAction] = {}
        if config.enabled:
            on = {k: v for k, v in config.detectors.model_dump().items() if v != "off"}
        self._salt = _resolve_salt(config, salt) if config.enabled and config.hashes else b""
        self._email = _Rule("email", on["email"], rank=2) if "email" in on else None
        self._secret = _Rule("secret", on["secret"], rank=1) if "secret" in on else None
        numbers = [name for name in d.NUMBER if name in on]
        self._numbers = {name: _Rule(name, on[name], d.CHECKS[name], rank=3) for name in numbers}
        self._number = (
            re.compile("|".join(f"(?P<{name}>{d.NUMBER[name]})" for name in numbers))
            if numbers
            else None
        )
        # Each alone too: a candidate one detector rejects may be another's at that place.
        self._number_each = {name: re.compile(d.NUMBER[name]) for name in numbers}
        self._custom = _compile_patterns(config) if config.enabled else []
        self._entities: dict[str, _Rule] = {
            name: _Rule(name, on[name], rank=4) for name in ("person", "location") if name in on
        }
        wanted = [entity for entity, name in _presidio.ENTITIES.items() if name in self._entities]
        if analyzer is None and wanted and config.presidio == "auto":
            analyzer = _presidio.load_analyzer()
        self._analyzer = analyzer if wanted and config.presidio == "auto" else None
        self._presidio_entities = wanted
        # Without custom patterns or Presidio, the gates decide whether to look closer.
        self._walk_always = bool(self._custom) or self._analyzer is not None
        self._shortest = 1 if self._walk_always else _SHORTEST
        self._key_kinds: dict[str, int] = {}
        self._clean: set[bytes] = set()
        self._clean_text: set[str] = set()
        self.enabled = bool(
            self._email or self._secret or self._number or self._custom or self._analyzer
        )

    # --- the journal's hook -------------------------------------------------------

    def __call__(self, data: dict[str, Any]) -> dict[str, Any]:
        """``data`` with everything the detectors find replaced (``data`` itself if none)."""
        if not self.enabled or not data:
            return data
        if not self._walk_always:
            try:
                blob = orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS)
            except orjson.JSONEncodeError:  # e.g. an integer beyond 64 bits: look closer
                return self._dict(data)
            if self._passes(blob):
                return data
        return self._dict(data)

    def encoded(self, data: dict[str, Any], blob: bytes) -> dict[str, Any]:
        """``self(data)`` for a caller that holds ``data``'s JSON as orjson writes it
        (``blob``) already: the journal, which stores it, so it is made once."""
        if not self.enabled or not data:
            return data
        if not self._walk_always and self._passes(blob):
            return data
        return self._dict(data)

    def prose(self, text: str) -> str:
        """Free text (a denial's reason) as the record keeps it: ``self({"text": text})``'s
        text. Short texts found clean are remembered: reasons repeat from step to step."""
        if text in self._clean_text:
            return text
        shown: str = self({"text": text})["text"]
        if shown == text and len(text) <= 256:
            if len(self._clean_text) >= _CLEAN_CACHE:
                self._clean_text.clear()
            self._clean_text.add(text)
        return shown

    def _passes(self, blob: bytes) -> bool:
        """Whether content whose JSON is ``blob`` holds nothing any detector could match
        (remembering small clean contents: results and reasons repeat)."""
        if blob in self._clean:
            return True
        if self._gate(blob):
            return False
        if len(blob) <= 256:
            if len(self._clean) >= _CLEAN_CACHE:
                self._clean.clear()
            self._clean.add(blob)
        return True

    def _gate(self, blob: bytes) -> bool:
        """Whether any detector could match somewhere in this JSON."""
        if self._email is not None and b"@" in blob:
            return True
        if self._secret is not None and _LOWER_GATE_BYTES.search(blob.lower()):
            return True
        return (
            self._number is not None
            and len(blob.translate(None, _NOT_DIGITS)) >= d.MIN_DIGITS
            and _NUMBER_GATE_BYTES.search(blob) is not None
        )

    # --- values ---------------------------------------------------------------------

    def value(self, value: Any) -> Any:
        """A JSON-like value with every string (and dict key) redacted."""
        kind = type(value)
        if kind is str:
            return self.text(value)
        if kind is dict:
            return self._dict(value)
        if kind is list:
            return [self.value(item) for item in value]
        if (
            kind is int
            and "card" in self._numbers
            and (value >= _CARD_INT or value <= -_CARD_INT)
            and d.int_is_card(value)
        ):
            return self._whole(self._numbers["card"], str(value))
        if (
            kind is float
            and "card" in self._numbers
            and (value >= _CARD_INT or value <= -_CARD_INT)
            and d.float_is_card(value)
        ):
            return self._whole(self._numbers["card"], str(int(value)))
        return value

    def _dict(self, data: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, item in data.items():
            kind = self._key_kind(key) if self._secret is not None and type(key) is str else 0
            new_key = self.text(key) if type(key) is str else key
            if new_key in out:  # two keys redacted alike: keep both values
                new_key = f"{new_key}#{len(out)}"
            out[new_key] = self._keyed(item, kind) if kind else self.value(item)
        return out

    def _key_kind(self, key: str) -> int:
        kind = self._key_kinds.get(key)
        if kind is None:
            if len(self._key_kinds) > 4096:  # names repeat; a flood of new ones must not pile up
                self._key_kinds.clear()
            kind = self._key_kinds[key] = d.key_kind(key)
        return kind

    def _keyed(self, item: Any, kind: int) -> Any:
        """The value of a key-like field: a password always, a token when it looks random."""
        assert self._secret is not None
        if type(item) is str:
            if item and (kind == d.PASSWORD_KEY or d.looks_random(item)):
                return self._whole(self._secret, item)
            return self.text(item)
        if type(item) is list:
            return [self._keyed(element, kind) for element in item]
        return self.value(item)

    def text(self, text: str) -> str:
        """``text`` with every match replaced by its placeholder."""
        if len(text) < self._shortest:
            return text
        spans: list[Span] = []
        if self._email is not None and "@" in text:
            # A local part holds no space: no address starts before the last one.
            start = text.rfind(" ", 0, text.find("@")) + 1
            spans.extend((m.start(), m.end(), self._email) for m in _EMAIL.finditer(text, start))
        if self._secret is not None and _SECRET_GATE.search(text):
            spans.extend((m.start(), m.end(), self._secret) for m in _SECRET.finditer(text))
        if self._number is not None and (gate := _NUMBER_GATE.search(text)) is not None:
            # No number starts more than two characters (an IBAN's country) before it.
            spans.extend(self._number_spans(self._number, text, max(0, gate.start() - 2)))
        for regex, rules in self._custom:
            for m in regex.finditer(text):
                if m.end() > m.start():
                    # A pattern compiled alone has one rule, whatever its own groups are.
                    spans.append((m.start(), m.end(), rules.get(m.lastgroup or "", rules[""])))
        if self._analyzer is not None:
            found = _presidio.find(self._analyzer, text, self._presidio_entities)
            spans.extend((start, end, self._entities[name]) for start, end, name in found)
        return self._replace(text, spans) if spans else text

    def _number_spans(self, regex: re.Pattern[str], text: str, pos: int) -> list[Span]:
        spans: list[Span] = []
        while (m := regex.search(text, pos)) is not None:
            found = self._valid(m.lastgroup or "", m.start(), m.group())
            if found is None:  # the alternation took the first that matched: try the rest
                for name, alone in self._number_each.items():
                    other = alone.match(text, m.start()) if name != m.lastgroup else None
                    if other is not None:
                        found = self._valid(name, m.start(), other.group())
                        if found is not None:
                            break
            if found is not None:
                spans.append(found)
                pos = found[1]
            else:  # not a valid number: another may start inside this candidate
                pos = m.start() + 1
        return spans

    def _valid(self, name: str, start: int, candidate: str) -> Span | None:
        rule = self._numbers[name]
        assert rule.check is not None
        within = rule.check(candidate)
        return None if within is None else (start + within[0], start + within[1], rule)

    def _replace(self, text: str, spans: list[Span]) -> str:
        spans.sort(key=lambda span: (span[0], span[0] - span[1], span[2].rank))
        merged: list[list[Any]] = []
        for start, end, rule in spans:
            if merged and start < merged[-1][1]:  # overlapping matches: cover both
                merged[-1][1] = max(merged[-1][1], end)
                if rule.action == "drop":
                    return DROPPED
                continue
            if rule.action == "drop":
                return DROPPED
            merged.append([start, end, rule])
        out: list[str] = []
        at = 0
        for start, end, rule in merged:
            out.append(text[at:start])
            out.append(self._whole(rule, text[start:end]))
            at = end
        out.append(text[at:])
        return "".join(out)

    def _whole(self, rule: _Rule, value: str) -> str:
        if rule.action == "drop":
            return DROPPED
        if rule.action == "mask":
            return f"[{rule.label}:redacted]"
        message = d.normalize(rule.label, value).encode()
        mac = hmac.new(self._salt, message, hashlib.sha256).hexdigest()[:12]
        return f"[{rule.label}:sha256:{mac}]"

    def name(self, name: str) -> str:
        """A name field (who started a run, who decided an approval) as the record keeps
        it: as given, unless a detector finds personal data in it; then a pseudonym of the
        whole name, keyed by ``names_key`` (``[email:sha256:3f1c0a9be2d4]``). Spellings
        of one identity (case, spaces, Unicode forms) get one pseudonym, so separation
        of duties compares recorded names as it compares real ones."""
        if not self.enabled or not name or self.config.names == "keep":
            return name
        shown = self.text(name)
        if shown == name:
            return name
        found = _LABEL_IN.search(shown)
        label = found.group(1) if found else "name"
        if self._names_key is None:
            return f"[{label}:redacted]"
        return f"[{label}:sha256:{name_mac(name, self._names_key)}]"

    @staticmethod
    def has_placeholder(value: Any) -> bool:
        """Whether a JSON-like value holds something an action put in place of a value."""
        blob = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)
        return _PLACEHOLDER_BYTES.search(blob) is not None


def identity_key(name: str) -> str:
    """The identity a name stands for: case, Unicode compatibility forms, surrounding and
    repeated spaces and a ``cli:``/``user:`` prefix make no difference. A name written
    ``Shown <id>`` (as single sign-on records a person: ``alice@example.com
    <https://idp.example.com#248289761001>``) stands for its ``id``: the shown part may
    change, the person does not."""
    text = " ".join(unicodedata.normalize("NFKC", name).casefold().split())
    if text.endswith(">") and " <" in text:
        inner = text[text.rindex(" <") + 2 : -1].strip()
        if inner and "<" not in inner:
            return inner
    for prefix in ("cli:", "user:"):
        if text.startswith(prefix):
            return text.removeprefix(prefix).strip()
    return text


def name_mac(name: str, names_key: bytes) -> str:
    """What a pseudonymised name keeps of ``name`` (``[email:sha256:<these 12 hex>]``):
    one value for every spelling of one identity (``identity_key``)."""
    return hmac.new(names_key, identity_key(name).encode(), hashlib.sha256).hexdigest()[:12]


def pseudonym_key(secret: bytes) -> bytes:
    """The key of name pseudonyms (``Redactor.name``), derived from the store secret."""
    return hmac.digest(secret, b"proctor name pseudonyms v1", "sha256")


def _resolve_salt(config: Redaction, salt: str | bytes | None) -> bytes:
    if salt is None:
        salt = os.environ.get(config.hash_salt_env, "")
        if not salt:
            raise ConfigError(
                f"the contract's redaction uses the 'hash' action, which needs a secret salt, "
                f"but ${config.hash_salt_env} is not set. Fix: set it to a long random value "
                "that every process writing this store shares (e.g. the output of "
                "python -c 'import secrets; print(secrets.token_hex(32))'), or use 'mask'"
            )
    return salt.encode() if isinstance(salt, str) else salt


def _compile_patterns(config: Redaction) -> list[tuple[re.Pattern[str], dict[str, _Rule]]]:
    """Custom patterns: one combined regex, plus each pattern that cannot join it.

    A pattern joins the combination as a named group; one with groups of its own (a
    backreference would count groups differently) or global flags (``(?i)`` is only
    allowed at the very start) is compiled alone.
    """
    joined: list[str] = []
    rules: dict[str, _Rule] = {}
    alone: list[tuple[re.Pattern[str], dict[str, _Rule]]] = []
    for i, pattern in enumerate(config.patterns):
        rule = _Rule(pattern.name, pattern.action)
        group = f"p{i}"
        try:
            combinable = re.compile(pattern.regex).groups == 0
            re.compile(f"(?P<{group}>{pattern.regex})")
        except re.error:
            combinable = False
        if combinable:
            joined.append(f"(?P<{group}>{pattern.regex})")
            rules[group] = rules[""] = rule
        else:
            alone.append((re.compile(pattern.regex), {"": rule}))
    combined = [(re.compile("|".join(joined)), rules)] if joined else []
    return combined + alone
