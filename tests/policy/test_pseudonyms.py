"""``pseudonymize``: a redacted value with each masked value made a keyed pseudonym of
the raw value it hides."""

from __future__ import annotations

from typing import Any

import pytest

from proctor.policy import pseudonymize

KEY = b"k" * 32
OTHER_KEY = b"o" * 32


def test_each_masked_value_becomes_the_pseudonym_of_its_own_raw_value() -> None:
    projected = {"to": "[email:redacted]", "text": "ask [email:redacted] or [email:redacted]"}
    raw = {"to": "ada@example.com", "text": "ask ADA@example.com or bob@example.org"}
    out = pseudonymize(projected, raw, KEY)
    ada = out["to"]
    assert ada.startswith("[email:sha256:")
    assert len(ada) == len("[email:sha256:]") + 12
    first, second = out["text"].removeprefix("ask ").split(" or ")
    assert first == ada  # one address written two ways: one pseudonym
    assert second != ada
    assert pseudonymize(projected, raw, OTHER_KEY)["to"] != ada  # keyed


def test_ibans_with_and_without_spaces_and_cards_as_numbers_correlate() -> None:
    spaced = pseudonymize("[iban:redacted]", "DE44 5001 0517 5407 3249 31", KEY)
    assert spaced == pseudonymize("[iban:redacted]", "de44500105175407324931", KEY)
    card = pseudonymize({"n": "[card:redacted]"}, {"n": 4111111111111111}, KEY)["n"]
    assert card == pseudonymize("[card:redacted]", "4111 1111 1111 1111", KEY)


@pytest.mark.parametrize(
    ("projected", "raw"),
    [
        ("[email:redacted] wrote", "something else entirely"),  # the text around differs
        (["[email:redacted]"], ["a@b.co", "c@d.co"]),  # another shape
        ({"a": "[email:redacted]"}, {"a": "x@y.co", "b": 1}),
        ("[email:redacted]", None),
    ],
)
def test_what_does_not_line_up_keeps_its_mask(projected: Any, raw: Any) -> None:
    assert pseudonymize(projected, raw, KEY) == projected


def test_dropped_values_and_existing_pseudonyms_and_keys_are_kept_or_made_alike() -> None:
    projected = {
        "[email:redacted]": "[dropped]",
        "id": "[email:sha256:3f1c0a9be2d4]",
        "n": 3,
    }
    raw = {"ada@example.com": "sk-secret", "id": "ada@example.com", "n": 3}
    out = pseudonymize(projected, raw, KEY)
    (key, value), *rest = out.items()
    assert key.startswith("[email:sha256:")
    assert value == "[dropped]"
    assert rest == [("id", "[email:sha256:3f1c0a9be2d4]"), ("n", 3)]
