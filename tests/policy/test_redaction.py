"""``Redactor``: each detector, its near misses, the actions, custom patterns, config errors."""

from __future__ import annotations

import re
import sys
import types
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proctor.contracts import Contract, Redaction, parse_contracts
from proctor.errors import ConfigError
from proctor.policy import Redactor
from proctor.policy import _presidio as presidio
from support.json_strategies import json_values
from support.planted import PLANTED, leaks, planted_text

DEFAULT = Redactor(Redaction(presidio="off"))


def redactor(salt: str | None = "test-salt", **settings: Any) -> Redactor:
    return Redactor(Redaction.model_validate({"presidio": "off", **settings}), salt=salt)


# --- each detector: what it takes, and what it leaves -----------------------------------

POSITIVES = [
    ("email", "jane.doe@example.com"),
    ("email", "J.Doe+billing@mail.example.co.uk"),
    ("phone", "+1 415-555-2671"),
    ("phone", "+44 20 7946 0958"),
    ("phone", "+4915112345678"),
    ("phone", "(415) 555-2671"),
    ("phone", "415-555-2671"),
    ("phone", "415.555.2671"),
    ("card", "4111 1111 1111 1111"),
    ("card", "4111-1111-1111-1111"),
    ("card", "5555555555554444"),
    ("card", "3782 822463 10005"),
    ("iban", "DE89 3704 0044 0532 0130 00"),
    ("iban", "GB82 WEST 1234 5698 7654 32"),
    ("iban", "NL91ABNA0417164300"),
    ("iban", "FR14 2004 1010 0505 0001 3M02 606"),
    ("ssn", "123-45-6789"),
]


@pytest.mark.parametrize(("label", "value"), POSITIVES)
def test_each_detector_masks_its_values(label: str, value: str) -> None:
    redacted = DEFAULT.text(f"see {value}, thanks")

    assert redacted == f"see [{label}:redacted], thanks"


SECRETS = [
    PLANTED["openai"],
    "sk-ant-api03-Xy7bQ2mN8pR4tV6wZ1cF3hJ5kL9",
    "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
    PLANTED["aws"],
    "ASIAY34FZKBOKMUTVV7A",
    "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
    "github_pat_11ABCDEFG0abcdefghijklmnopqrstuv",
    "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOp",
    "AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "Bearer 0b79bab50daca910b000d4f1a2b675d604257e42",
    PLANTED["pem"],
]


def test_an_iban_ends_at_its_country_length() -> None:
    text = "BE68 5390 0754 7034 CODE 42"

    assert DEFAULT.text(text) == "[iban:redacted] CODE 42"


@pytest.mark.parametrize("secret", SECRETS)
def test_secrets_are_dropped_with_their_whole_value(secret: str) -> None:
    assert DEFAULT.text(f"config: {secret} (keep safe)") == "[dropped]"


def test_an_unterminated_private_key_block_is_cut_to_the_end() -> None:
    text = "key follows\n-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC"

    assert redactor(detectors={"secret": "mask"}).text(text) == "key follows\n[secret:redacted]"


NEAR_MISSES = [
    "4111 1111 1111 1112",  # 16 digits, fails Luhn
    "4111111111111112",
    "1712345678901",  # a timestamp in milliseconds: cards start 2-6
    "GB82 WEST 1234 5698 7654 33",  # IBAN with a wrong check digit
    "DE00370400440532013000",
    "000-12-3456",  # SSNs are never issued with area 000, 666 or 9xx
    "666-12-3456",
    "123-00-6789",
    "123-45-67890",
    "2026-03-02",  # dates, amounts, references, versions, addresses
    "INV-2026-0042",
    "4,180.00 EUR",
    "PO-4711",
    "v1.2.3",
    "10.0.0.1",
    "+12",
    "jane.doe@",
    "@jane",
    "task-1234567890abcdefghijkl",  # 'sk-' inside a word
    "sk-short",
    "AKIA123",
    "bearer token",
]


@pytest.mark.parametrize("text", NEAR_MISSES)
def test_near_misses_are_left_alone(text: str) -> None:
    assert DEFAULT.text(text) == text


# --- key-like fields and structure --------------------------------------------------------


def test_key_like_fields_hold_secrets() -> None:
    data = {
        "password": "hunter2",
        "api_key": "Zx8f2LqP9mW4rT7v",
        "accessToken": "d8Fj2kLq9Zx7Vb3N",
        "x-api-key": "Q9w8E7r6T5y4U3i2",
        "client_secret": "s3cr3t",
        "token_type": "bearer",  # a token-like name, but nothing random in it
        "auth": "disabled",
        "tokens": 1234,
        "secretary": "Grace Hopper",
    }

    assert DEFAULT(data) == {
        **data,
        "password": "[dropped]",
        "api_key": "[dropped]",
        "accessToken": "[dropped]",
        "x-api-key": "[dropped]",
        "client_secret": "[dropped]",
    }


def test_structure_and_figures_are_never_changed() -> None:
    data = {
        "id": "call_0_0",
        "digest": "ab" * 32,
        "n": 42,
        "amount": 4180.0,
        "ok": True,
        "none": None,
        "ts": 1712345678901,
        "items": [{"key": "k1"}, [1, 2, 3]],
    }

    assert DEFAULT(data) == data
    plain = {"id": "call_0_0", "n": 42, "text": "nothing personal"}
    assert DEFAULT(plain) is plain  # nothing any detector could match: not even copied


def test_nested_values_dict_keys_and_integers_are_redacted() -> None:
    data = {
        "customer": {"contacts": [PLANTED["email"], {"phone": PLANTED["phone"]}]},
        PLANTED["email"]: "owner",
        "jane@example.org": "other",
        "card": 4111111111111111,
        "not_a_card": 4111111111111112,
    }

    out = DEFAULT(data)

    assert out == {
        "customer": {"contacts": ["[email:redacted]", {"phone": "[phone:redacted]"}]},
        "[email:redacted]": "owner",
        "[email:redacted]#2": "other",  # two keys redacted alike: both values are kept
        "card": "[card:redacted]",
        "not_a_card": 4111111111111112,
    }
    assert data[PLANTED["email"]] == "owner"  # the argument itself is untouched


def test_overlapping_matches_become_one_placeholder_and_drop_wins() -> None:
    text = f"mail {PLANTED['openai']}@example.com now"

    assert DEFAULT.text(text) == "[dropped]"
    assert redactor(detectors={"secret": "mask"}).text(text) == "mail [email:redacted] now"


def test_a_disabled_redactor_changes_nothing() -> None:
    data = {"text": planted_text()}

    assert redactor(enabled=False)(data) is data
    assert not redactor(enabled=False).enabled


# --- actions ----------------------------------------------------------------------------


def test_hash_is_stable_so_equal_values_correlate() -> None:
    hashing = redactor(detectors={"email": "hash", "card": "hash", "iban": "hash"})
    again = redactor(detectors={"email": "hash", "card": "hash", "iban": "hash"})

    first = hashing.text("jane.doe@example.com paid with 4111 1111 1111 1111")
    # The same values written differently, by another redactor with the same salt.
    second = again.text("JANE.DOE@example.com paid with 4111-1111-1111-1111")

    assert first == second
    assert re.fullmatch(
        r"\[email:sha256:[0-9a-f]{12}\] paid with \[card:sha256:[0-9a-f]{12}\]", first
    )
    assert hashing.text("john@example.com") != hashing.text("jane.doe@example.com")


def test_hash_depends_on_the_secret_salt() -> None:
    one = redactor(salt="one", detectors={"email": "hash"}).text(PLANTED["email"])
    two = redactor(salt="two", detectors={"email": "hash"}).text(PLANTED["email"])

    assert one != two


def test_the_salt_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    config = Redaction.model_validate(
        {"detectors": {"email": "hash"}, "hash_salt_env": "MY_SALT", "presidio": "off"}
    )
    monkeypatch.setenv("MY_SALT", "test-salt")

    assert Redactor(config).text(PLANTED["email"]) == redactor(detectors={"email": "hash"}).text(
        PLANTED["email"]
    )

    monkeypatch.delenv("MY_SALT")
    with pytest.raises(ConfigError, match=r"\$MY_SALT is not set\. Fix: set it"):
        Redactor(config)


def test_no_salt_is_needed_unless_something_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROCTOR_REDACTION_SALT", raising=False)

    assert Redactor(Redaction(presidio="off")).text(PLANTED["email"]) == "[email:redacted]"


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ("mask", "call [phone:redacted] today"),
        ("drop", "[dropped]"),
        ("off", "call +1 415-555-2671 today"),
    ],
)
def test_each_action(action: str, expected: str) -> None:
    assert redactor(detectors={"phone": action}).text("call +1 415-555-2671 today") == expected


def test_placeholders_are_recognised() -> None:
    assert Redactor.has_placeholder({"to": "[iban:redacted]"})
    assert Redactor.has_placeholder(["[dropped]"])
    assert Redactor.has_placeholder({"x": "[customer_id:sha256:0123456789ab]"})
    assert not Redactor.has_placeholder({"to": "DE89", "note": "[draft]"})


# --- custom patterns ----------------------------------------------------------------------


def test_custom_patterns_with_each_action() -> None:
    custom = redactor(
        patterns=[
            {"name": "customer_id", "regex": r"CUST-\d{6}", "action": "hash"},
            {"name": "contract", "regex": r"K-[A-Z]{3}", "action": "mask"},
            # Groups of its own and a global flag: compiled on its own, still applied.
            {"name": "codeword", "regex": r"(?i)(blue)\s(falcon)", "action": "drop"},
        ]
    )

    text = custom.text("CUST-004211 under K-ABC")
    assert re.fullmatch(r"\[customer_id:sha256:[0-9a-f]{12}\] under \[contract:redacted\]", text)
    assert custom.text("CUST-004211") == custom.text("see CUST-004211").removeprefix("see ")
    assert custom.text("operation BLUE Falcon is on") == "[dropped]"
    assert custom.text("CUST-42") == "CUST-42"


def test_custom_patterns_run_beside_the_built_in_detectors() -> None:
    custom = redactor(patterns=[{"name": "ticket", "regex": r"T#\d+"}])

    assert (
        custom.text("T#12 from jane.doe@example.com") == "[ticket:redacted] from [email:redacted]"
    )


# --- contract errors ----------------------------------------------------------------------


def load_error(yaml_text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_contracts(yaml_text, "c.yaml")
    return str(caught.value)


def test_an_unknown_detector_is_named_with_a_suggestion() -> None:
    message = load_error("workflow: w\nredaction:\n  detectors:\n    emial: mask\n")

    assert message == (
        "c.yaml:4: unknown key 'emial' in redaction.detectors. Fix: did you mean 'email'?"
    )


def test_an_unknown_action_lists_the_valid_ones() -> None:
    message = load_error("workflow: w\nredaction:\n  detectors:\n    email: hide\n")

    assert message.startswith("c.yaml:4: redaction.detectors.email must be one of 'mask', ")
    assert "got 'hide'" in message


def test_a_pattern_may_not_be_off() -> None:
    text = "workflow: w\nredaction:\n  patterns:\n    - {name: x, regex: 'X\\d+', action: off}\n"

    assert "redaction.patterns[0].action must be one of 'mask', 'hash', 'drop'" in load_error(text)


def test_an_invalid_regex_is_reported_at_its_line_with_a_fix() -> None:
    text = "workflow: w\nredaction:\n  patterns:\n    - name: cust\n      regex: 'CUST-(\\d+'\n"

    assert load_error(text) == (
        "c.yaml:5: redaction pattern 'cust' is not a valid regular expression: missing ), "
        "unterminated subpattern at position 5. Fix: correct the expression (Python 're' "
        "syntax); escape a literal '(', '[', '.', '+', '*' or '?' with a backslash, and "
        "single-quote the YAML value so backslashes stay as written"
    )


def test_a_pattern_that_matches_nothing_at_all_is_refused() -> None:
    text = "workflow: w\nredaction:\n  patterns:\n    - {name: any, regex: 'x*'}\n"

    assert "c.yaml:4: redaction pattern 'any' matches empty text" in load_error(text)


def test_a_pattern_name_must_fit_in_a_placeholder() -> None:
    text = "workflow: w\nredaction:\n  patterns:\n    - name: Customer ID\n      regex: 'C\\d+'\n"

    assert "c.yaml:4: pattern name 'Customer ID' cannot label a placeholder" in load_error(text)


def test_a_bare_off_in_yaml_turns_a_detector_off() -> None:
    (contract,) = parse_contracts("workflow: w\nredaction:\n  detectors: {phone: off}\n").values()

    assert contract.redaction.detectors.phone == "off"
    assert Redactor(contract.redaction).text("call 415-555-2671") == "call 415-555-2671"


def test_by_default_a_contract_redacts() -> None:
    contract = Contract(workflow="w")

    assert contract.redaction.enabled
    assert contract.redaction.detectors.secret == "drop"
    assert Redactor(contract.redaction).enabled


# --- Presidio -----------------------------------------------------------------------------


@dataclass
class Found:
    entity_type: str
    start: int
    end: int
    score: float


class FakeAnalyzer:
    """Stands in for Presidio's ``AnalyzerEngine``: finds the names it is told about."""

    def __init__(self, names: dict[str, str]) -> None:
        self.names = names
        self.calls: list[tuple[str, list[str]]] = []

    def analyze(self, *, text: str, entities: list[str], language: str) -> list[Any]:
        self.calls.append((text, entities))
        return [
            Found(kind, text.index(name), text.index(name) + len(name), 0.85)
            for name, kind in self.names.items()
            if name in text
        ] + [Found("PERSON", 0, 2, 0.1)]  # too unsure to count


def test_presidio_finds_names_and_places() -> None:
    analyzer = FakeAnalyzer({"Jane Doe": "PERSON", "Berlin": "LOCATION"})
    config = Redaction.model_validate({"detectors": {"location": "hash"}})
    redacting = Redactor(config, analyzer=analyzer, salt="s")

    text = redacting.text("Jane Doe moved to Berlin; jane.doe@example.com")

    assert re.fullmatch(
        r"\[person:redacted\] moved to \[location:sha256:[0-9a-f]{12}\]; \[email:redacted\]", text
    )
    assert analyzer.calls[0][1] == ["PERSON", "LOCATION"]


def test_presidio_off_never_asks_it() -> None:
    analyzer = FakeAnalyzer({"Jane Doe": "PERSON"})

    redacting = Redactor(Redaction(presidio="off"), analyzer=analyzer)

    assert redacting.text("Jane Doe") == "Jane Doe"
    assert analyzer.calls == []


@pytest.fixture
def fresh_presidio() -> Iterator[None]:
    presidio.load_analyzer.cache_clear()
    yield
    presidio.load_analyzer.cache_clear()


def test_presidio_is_used_when_installed(
    monkeypatch: pytest.MonkeyPatch, fresh_presidio: None
) -> None:
    module = types.ModuleType("presidio_analyzer")
    module.AnalyzerEngine = lambda: FakeAnalyzer({"Jane Doe": "PERSON"})  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "presidio_analyzer", module)

    assert Redactor().text("ask Jane Doe") == "ask [person:redacted]"


def test_without_presidio_names_are_left(
    monkeypatch: pytest.MonkeyPatch, fresh_presidio: None
) -> None:
    monkeypatch.setitem(sys.modules, "presidio_analyzer", None)  # import fails

    assert Redactor().text("ask Jane Doe") == "ask Jane Doe"


def test_a_broken_presidio_says_how_to_fix_it(
    monkeypatch: pytest.MonkeyPatch, fresh_presidio: None
) -> None:
    def broken() -> None:
        raise OSError("Can't find model 'en_core_web_lg'")

    module = types.ModuleType("presidio_analyzer")
    module.AnalyzerEngine = broken  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "presidio_analyzer", module)

    with pytest.raises(ConfigError, match=r"spacy download en_core_web_lg.*presidio: off"):
        Redactor()


# --- properties ---------------------------------------------------------------------------

_SEPARATORS = st.sampled_from([" ", ", ", "\n", "; ", " and ", ": "])
_WORDS = st.text(alphabet="abcdefghij ", max_size=8)


@st.composite
def prose_with_planted(draw: st.DrawFn) -> str:
    parts = draw(st.lists(st.sampled_from(list(PLANTED.values())) | _WORDS, max_size=8))
    return draw(_SEPARATORS).join(["start", *parts, "end"])


@given(prose_with_planted())
def test_no_planted_value_survives_in_any_prose(text: str) -> None:
    assert not leaks(DEFAULT.text(text).encode())


@given(json_values | prose_with_planted())
def test_redaction_is_idempotent(value: Any) -> None:
    once = DEFAULT.value(value)

    assert DEFAULT.value(once) == once


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (4111111111111111.0, "[card:redacted]"),  # a card number as a JSON float
        (5555555555554444.0, "[card:redacted]"),  # another issuer, checksum exact below 2**53
        ("pay 4111.1111.1111.1111 today", "pay [card:redacted] today"),  # dots
        ("iban gb29nwbk60161331926819", "iban [iban:redacted]"),  # lower case
        ("iban de89 3704 0044 0532 0130 00.", "iban [iban:redacted]."),
        (1234567.25, 1234567.25),  # an amount stays
        (4111111111111112.0, 4111111111111112.0),  # not a card: the checksum fails
        ("total 1234.56 EUR, version 3.2.1", "total 1234.56 EUR, version 3.2.1"),
    ],
)
def test_card_numbers_and_ibans_in_any_form_are_masked(value: Any, expected: Any) -> None:
    assert Redactor()({"v": value})["v"] == expected


_GATE_WORDS = [
    "-----begin", "sk-", "k_live_", "k_test_", "akia", "asia", "ghp_", "gho_", "ghu_", "ghs_",
    "ghr_", "github_pat_", "xox", "aiza", "eyj", "earer", "pass", "pwd", "pin", "secret",
    "token", "auth", "credential", "cookie", "apikey", "api_key", "accesskey", "access-key",
    "privatekey", "private key", "signingkey", "signing.key", "session",
]  # fmt: skip


@given(st.binary(max_size=40), st.sampled_from(_GATE_WORDS), st.binary(max_size=40))
def test_the_fast_secret_gate_accepts_what_the_plain_one_does(
    before: bytes, word: str, after: bytes
) -> None:
    from proctor.policy import _detectors as d

    plain, fast = re.compile(d.LOWER_GATE), re.compile(d.LOWER_GATE_FAST)
    for text in (before + word.encode() + after, before + after, before, word.encode()[:-1]):
        assert bool(plain.search(text)) == bool(fast.search(text)), text
