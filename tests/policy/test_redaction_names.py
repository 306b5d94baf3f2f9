"""Name fields (who started a run, who decided) are recorded as keyed pseudonyms when a
detector finds personal data in them: one identity, one pseudonym; two people, two."""

from __future__ import annotations

from proctor.contracts import Redaction
from proctor.policy import Redactor

KEY = b"k" * 32


def test_a_plain_name_is_kept_and_an_address_becomes_a_pseudonym() -> None:
    names = Redactor(names_key=KEY)

    assert names.name("alice") == "alice"
    assert names.name("") == ""
    shown = names.name("jane.doe@example.com")
    assert shown.startswith("[email:sha256:")
    assert "jane" not in shown


def test_spellings_of_one_identity_share_a_pseudonym_and_people_differ() -> None:
    names = Redactor(names_key=KEY)

    same = {
        names.name(spelling)
        for spelling in (
            "jane.doe@example.com",
            "Jane.Doe@Example.com",
            " cli:jane.doe@example.com",
        )
    }
    assert len(same) == 1
    assert names.name("john.roe@example.com") not in same
    # Under another store's key the pseudonym differs: it cannot be looked up elsewhere.
    assert Redactor(names_key=b"o" * 32).name("jane.doe@example.com") not in same


def test_keep_records_names_as_given_and_no_key_masks() -> None:
    kept = Redactor(Redaction(names="keep"), names_key=KEY)
    unkeyed = Redactor()

    assert kept.name("jane.doe@example.com") == "jane.doe@example.com"
    assert unkeyed.name("jane.doe@example.com") == "[email:redacted]"
    assert Redactor(Redaction(enabled=False), names_key=KEY).name("a@b.example") == "a@b.example"
