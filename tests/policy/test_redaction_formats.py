"""The detectors against generated formats: every way a card number, an IBAN, an e-mail
address or a phone number may be written, wherever it sits in a value, is replaced; and
the ordinary values of a run (counts, amounts, dates, ids) are left exactly as they are.

Each property builds the value and the text around it separately, so it can say exactly
what the redacted output must be: the context unchanged, one placeholder where the value
was, and none of the value's characters anywhere in the canonical JSON.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import string
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proctor.contracts import Redaction
from proctor.policy import Redactor
from proctor.policy._detectors import IBAN_LENGTHS, luhn_ok
from proctor.store import canonical_json

DEFAULT = Redactor(Redaction(presidio="off"))
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- ways of writing a number ---------------------------------------------------------------

SPACES = [" ", "  ", "\u00a0", "\u202f", "\u2009", "\u2007", "\u3000"]
"""Space, two spaces, no-break, narrow no-break, thin, figure and ideographic spaces."""
DASHES = ["-", "\u2010", "\u2011", "\u2012", "\u2013", "\u2014", "\u2212", "\uff0d"]
"""Hyphen-minus, hyphen, non-breaking hyphen, figure/en/em dash, minus, fullwidth hyphen."""
SEPARATORS = st.sampled_from([*SPACES, *DASHES, ".", "/", " - ", " / ", "\u00a0-\u00a0"])


def gaps(count: int, *, none: bool = True) -> st.SearchStrategy[list[str]]:
    """``count`` separators: all one, each its own (mixed), or none at all."""
    same = SEPARATORS.map(lambda sep: [sep] * count)
    mixed = st.lists(SEPARATORS, min_size=count, max_size=count)
    return (same | mixed | st.just([""] * count)) if none else (same | mixed)


@st.composite
def grouped(draw: st.DrawFn, digits: str, *, smallest: int = 3, largest: int = 6) -> str:
    """``digits`` in groups of ``smallest`` to ``largest``, joined by generated separators."""
    sizes: list[int] = []
    left = len(digits)
    while left:
        size = draw(st.integers(smallest, min(largest, left))) if left >= smallest else left
        if 0 < left - size < smallest:  # the rest would be too short a group
            size = left if left <= largest else size - (smallest - (left - size))
        sizes.append(size)
        left -= size
    starts = [sum(sizes[:i]) for i in range(len(sizes))]
    parts = [digits[s : s + n] for s, n in zip(starts, sizes, strict=True)]
    seps = draw(gaps(len(parts) - 1))
    return parts[0] + "".join(sep + part for sep, part in zip(seps, parts[1:], strict=True))


# --- the values -----------------------------------------------------------------------------


def luhn_complete(body: str) -> str:
    return next(body + d for d in "0123456789" if luhn_ok(body + d))


@st.composite
def card_numbers(draw: st.DrawFn) -> str:
    """A Luhn-valid number of 13 to 19 digits with an issuer's first digit (2 to 6)."""
    length = draw(st.integers(13, 19))
    body = draw(st.text("0123456789", min_size=length - 2, max_size=length - 2))
    return luhn_complete(draw(st.sampled_from("23456")) + body)


STANDARD_LAYOUTS = [(4, 4, 4, 4), (4, 6, 5), (4, 6, 4), (4, 3, 3, 3), (4, 4, 4, 4, 3)]


@st.composite
def written_cards(draw: st.DrawFn) -> tuple[str, str]:
    """A card number, and how it is written: a standard layout or any groups of three to
    six digits, with any gaps, or unbroken."""
    digits = draw(card_numbers())
    layouts = [layout for layout in STANDARD_LAYOUTS if sum(layout) == len(digits)]
    standard: bool = draw(st.booleans())
    if layouts and standard:
        layout = draw(st.sampled_from(layouts))
        parts = [digits[sum(layout[:i]) : sum(layout[: i + 1])] for i in range(len(layout))]
        seps = draw(gaps(len(parts) - 1))
        return digits, parts[0] + "".join(s + p for s, p in zip(seps, parts[1:], strict=True))
    return digits, draw(grouped(digits))


def iban_of(country: str, bban: str) -> str:
    """``country`` and ``bban`` with their mod-97 check digits (ISO 13616)."""
    number = int("".join(str(int(char, 36)) for char in bban + country + "00"))
    return f"{country}{98 - number % 97:02d}{bban}"


@st.composite
def ibans(draw: st.DrawFn) -> str:
    """A valid IBAN of a registry country: a bank code of letters or digits, then digits
    with a few letters among them (as French, Maltese or Mauritian accounts have), and at
    least eight digits in all (every national format has numeric bank or account parts)."""
    country = draw(st.sampled_from(sorted(IBAN_LENGTHS)))
    size = IBAN_LENGTHS[country] - 4
    bank = draw(st.text(string.ascii_uppercase, min_size=4, max_size=4) | st.just(""))
    account = list(draw(st.text("0123456789", min_size=size - len(bank), max_size=size)))
    account = account[: size - len(bank)]
    for at in draw(st.lists(st.integers(0, len(account) - 1), max_size=2)):
        if sum(char.isdigit() for char in account) > 6:  # with the check digits, 8
            account[at] = draw(st.sampled_from(string.ascii_uppercase))
    return iban_of(country, bank + "".join(account))


@st.composite
def written_ibans(draw: st.DrawFn) -> tuple[str, str]:
    """An IBAN, and how it is written: in groups of four or unbroken, in any case."""
    iban = draw(ibans())
    case = draw(st.sampled_from(["upper", "lower", "mixed"]))
    if case == "lower":
        shown = iban.lower()
    elif case == "mixed":
        flips = draw(st.lists(st.booleans(), min_size=len(iban), max_size=len(iban)))
        shown = "".join(c.lower() if f else c for c, f in zip(iban, flips, strict=True))
    else:
        shown = iban
    parts = [shown[i : i + 4] for i in range(0, len(shown), 4)]
    seps = draw(gaps(len(parts) - 1) | st.sampled_from(SPACES).map(lambda s: [s] * 99))
    return iban, parts[0] + "".join(s + p for s, p in zip(seps, parts[1:], strict=False))


LOCAL_CHARS = string.ascii_letters + string.digits + "_%+-'=!#$&*?^~" + "éüßøçñ" + "δж"
"""What a local part may hold: RFC 5322's atext without the characters that more often
delimit text than belong to an address (``/``, ``|``, braces, backquote), and letters of
other scripts (RFC 6531). It does not start with an apostrophe, which would be a quote."""
LABEL = st.text(string.ascii_lowercase + string.digits + "äöüдж", min_size=1, max_size=10)


@st.composite
def emails(draw: st.DrawFn) -> str:
    atom = st.text(LOCAL_CHARS, min_size=1, max_size=8)
    atoms = draw(st.lists(atom, min_size=1, max_size=3).filter(lambda a: a[0][0] != "'"))
    labels = draw(st.lists(LABEL, min_size=1, max_size=3))
    hyphenated = [
        f"{a}-{b}" if draw(st.booleans()) else a for a, b in zip(labels, labels[::-1], strict=True)
    ]
    tld = draw(
        st.text(string.ascii_lowercase, min_size=2, max_size=6)
        | st.sampled_from(["xn--p1ai", "xn--80asehdb", "рф", "中国", "museum"])
    )
    address = ".".join(atoms) + "@" + ".".join([*hyphenated, tld])
    return address.upper() if draw(st.booleans()) and address.isascii() else address


@st.composite
def phones(draw: st.DrawFn) -> str:
    """An international number (``+``, country code, 8 to 15 digits in all) in groups of
    two to four, or a North American one, with generated separators."""
    if draw(st.booleans()):
        area, exchange = draw(st.integers(200, 999)), draw(st.integers(200, 999))
        line = f"{draw(st.integers(0, 9999)):04d}"
        single = st.sampled_from([*SPACES[:1], *SPACES[2:], *DASHES, "."])
        if draw(st.booleans()):
            opening = f"({area})" + draw(st.sampled_from(["", " ", "\u00a0"]))
        else:
            opening = f"{area}" + draw(single)  # 415555-2671 is no one's way of writing it
        return f"{opening}{exchange}{draw(single)}{line}"
    cc = str(draw(st.integers(1, 999)))
    national = draw(st.text("0123456789", min_size=max(7, 8 - len(cc)), max_size=15 - len(cc)))
    body = draw(grouped(national, smallest=2, largest=15))
    opening = draw(st.sampled_from(["", " ", "\u00a0", "-", " (0)", " (0) "]))
    return f"+{cc}{opening}{body}"


# --- where a value sits ---------------------------------------------------------------------

_WORD_CHARS = string.ascii_letters + "éüßЖж"
_QUIET = st.text(_WORD_CHARS + " ,;:()<>\"'!?", max_size=10)
"""Text around a value: no digits (a digit left in the output is the value's), and too
short for a secret's prefix and body."""


@st.composite
def around(draw: st.DrawFn, value: str) -> tuple[str, str]:
    """Text before and after ``value`` (or none), separated from it by a character that
    cannot continue it: a space, a bracket, a quote, punctuation."""
    before = after = ""
    if draw(st.booleans()):
        before = draw(_QUIET) + draw(st.sampled_from([" ", "(", "<", ": ", "\n", '"']))
    if draw(st.booleans()):
        end = draw(st.sampled_from([" ", ")", ">", ", ", ". ", ";", "\n", '"']))
        after = end + draw(_QUIET)
    elif draw(st.booleans()):
        after = draw(st.sampled_from([".", "!", "?", ")."]))  # the end of a sentence
    return before, after


FILLERS: st.SearchStrategy[Any] = st.sampled_from(
    ["Acme Supplies GmbH", "ok", True, None, 42, 24500, 4180.0, "2026-03-02", "PO-4711", []]
)
NAMES = st.sampled_from(["vendor", "note", "result", "items", "status"])


@st.composite
def placed(draw: st.DrawFn, value: Any, expected: Any) -> tuple[dict[str, Any], Any]:
    """``value`` somewhere in an event's content (in a list, a dict, as a key), and the
    content with ``expected`` in its place."""
    if isinstance(value, str) and draw(st.booleans()):
        # Not a string: context around a key may spell a key-like name ("secret"), whose
        # string value is a secret by design.
        filler: Any = draw(st.sampled_from([True, None, 42, 4180.0, []]))
        value, expected = {value: filler}, {expected: filler}
    for _ in range(draw(st.integers(0, 3))):
        if draw(st.booleans()):
            items = draw(st.lists(FILLERS, max_size=3))
            at = draw(st.integers(0, len(items)))
            value = [*items[:at], value, *items[at:]]
            expected = [*items[:at], expected, *items[at:]]
        else:
            siblings = draw(st.dictionaries(NAMES, FILLERS, max_size=3))
            name = draw(st.sampled_from(["data", "customer", "payment", "details"]))
            value, expected = {**siblings, name: value}, {**siblings, name: expected}
    if not isinstance(value, dict):
        value, expected = {"result": value}, {"result": expected}
    return value, expected


# --- properties: every format is found ----------------------------------------------------


@FAST
@given(st.data())
def test_a_card_number_in_text_is_replaced_whatever_its_separators(data: st.DataObject) -> None:
    _, written = data.draw(written_cards())
    before, after = data.draw(around(written))

    out = DEFAULT.text(before + written + after)

    assert out == f"{before}[card:redacted]{after}"


@FAST
@given(st.data())
def test_a_card_number_in_any_json_type_anywhere_is_replaced(data: st.DataObject) -> None:
    digits, written = data.draw(written_cards())
    number = int(digits)
    forms: list[Any] = [written, number, -number, digits]
    if float(number) == number:  # exactly representable: a float the way a client sends it
        forms.append(float(number))
    content, expected = data.draw(placed(data.draw(st.sampled_from(forms)), "[card:redacted]"))

    out = DEFAULT(content)

    assert out == expected
    blob = canonical_json(out)
    assert digits.encode() not in blob
    assert written.encode() not in blob


@FAST
@given(st.data())
def test_an_iban_is_replaced_in_any_case_and_grouping(data: st.DataObject) -> None:
    iban, written = data.draw(written_ibans())
    before, after = data.draw(around(written))
    content, expected = data.draw(
        placed(before + written + after, f"{before}[iban:redacted]{after}")
    )

    out = DEFAULT(content)

    assert out == expected
    assert iban.encode() not in canonical_json(out).upper()


@FAST
@given(st.data())
def test_an_email_address_is_replaced_wherever_it_is(data: st.DataObject) -> None:
    address = data.draw(emails())
    before, after = data.draw(around(address))
    content, expected = data.draw(
        placed(before + address + after, f"{before}[email:redacted]{after}")
    )

    out = DEFAULT(content)

    assert out == expected
    assert address.encode() not in canonical_json(out)


@FAST
@given(st.data())
def test_a_phone_number_is_replaced_whatever_its_separators(data: st.DataObject) -> None:
    number = data.draw(phones())
    before, after = data.draw(around(number))
    content, expected = data.draw(
        placed(before + number + after, f"{before}[phone:redacted]{after}")
    )

    assert DEFAULT(content) == expected


@FAST
@given(card_numbers(), st.sampled_from(["unbroken", "4-4-4-4", "int", "float"]), SEPARATORS)
def test_a_number_that_fails_the_luhn_check_is_not_a_card(digits: str, form: str, sep: str) -> None:
    wrong = digits[:-1] + str((int(digits[-1]) + 1) % 10)
    value: Any = wrong
    if form == "4-4-4-4" and len(wrong) == 16:  # then no shorter run of groups is long enough
        value = sep.join(wrong[i : i + 4] for i in range(0, len(wrong), 4))
    elif form == "int":
        value = int(wrong)
    elif form == "float":
        value = float(int(wrong)) if int(wrong) < 2**53 else int(wrong)

    assert DEFAULT({"v": value}) == {"v": value}


@FAST
@given(st.data())
def test_a_wrong_check_digit_is_not_an_iban(data: st.DataObject) -> None:
    _, written = data.draw(written_ibans())
    # One more is never equal modulo 97 (99 is not 98 + 97).
    wrong = f"{written[:2]}{(int(written[2:4]) + 1) % 100:02d}{written[4:]}"

    assert "[iban:" not in DEFAULT.text(f"IBAN {wrong}")


FOUND = [
    ("card", "4111\u00a01111\u00a01111\u00a01111"),  # no-break spaces
    ("card", "4111\u20131111\u20131111\u20131111"),  # en dashes
    ("card", "4111 - 1111 - 1111 - 1111"),
    ("card", "4111/1111/1111/1111"),
    ("card", "2000  000  000  008"),  # two spaces, groups of three
    ("iban", "AD57  AAAA  0000  0000  0000  0000"),
    ("iban", "De89\u00a03704\u00a00044\u00a00532\u00a00130\u00a000"),
    ("email", "o'brien@example.ie"),
    ("email", "jörg.müller@bücher.de"),
    ("email", "user@example.xn--p1ai"),
    ("email", "BILLING=ACME@EXAMPLE.COM"),
    ("email", "+tag@example.com"),
    ("phone", "+49\u00a0151\u00a01234\u00a05678"),
    ("phone", "+100  00  000"),
    ("phone", "415\u2013555\u20132671"),
]
"""Forms the generators found that the detectors missed (before this file)."""
LEFT = [
    "00:00:00.200200 2000-01-01",  # a time's fraction and a year are no phone number
    "272200 2000-01-01",  # an amount and a date
    "2963403560 1999-01-01",  # a number and a date: 14 digits that pass the Luhn check
    "2026-03-02 2026-03-31",
]
"""Ordinary values the generators found taken for personal data (while the detectors were
widened, or before)."""


@pytest.mark.parametrize(("label", "value"), FOUND)
def test_forms_once_missed_are_found(label: str, value: str) -> None:
    assert DEFAULT.text(f"see {value}, thanks") == f"see [{label}:redacted], thanks"


def test_the_quotes_around_an_address_are_not_part_of_it() -> None:
    text = "does not contain 'ada@example.com' nor \"o'brien@example.ie\""

    assert DEFAULT.text(text) == "does not contain '[email:redacted]' nor \"[email:redacted]\""


@pytest.mark.parametrize("text", LEFT)
def test_values_once_taken_are_left(text: str) -> None:
    assert DEFAULT.text(text) == text


# --- properties: ordinary values are left alone -------------------------------------------


def _amounts(value: int) -> list[str]:
    return [str(value), f"{value:,}", f"{value:,.2f}", f"EUR {value / 100:,.2f}", f"{value}.50"]


ORDINARY_BESIDE = st.one_of(
    st.dates().map(dt.date.isoformat),
    st.datetimes().map(dt.datetime.isoformat),
    st.datetimes(timezones=st.just(dt.UTC)).map(lambda t: t.isoformat(sep=" ")),
    st.tuples(st.dates(), st.dates()).map(lambda ds: f"{ds[0]} {ds[1]}"),
    st.tuples(st.dates(), st.dates()).map(lambda ds: f"{ds[0]:%d/%m/%Y} - {ds[1]:%d/%m/%Y}"),
    st.uuids().map(str),
    st.binary(max_size=8).map(lambda b: hashlib.sha256(b).hexdigest()),
    st.integers(0, 10**9).flatmap(lambda n: st.sampled_from(_amounts(n))),
    st.tuples(st.integers(0, 99), st.integers(0, 99), st.integers(0, 999)).map(
        lambda v: "v{}.{}.{}".format(*v)
    ),
    st.integers(1, 99999).map(lambda n: f"PO-{n}"),
    # Epoch seconds and milliseconds (until 2033, and 2001 to 2033).
    st.integers(1_000_000_000, 1_999_999_999).map(str),
    st.integers(1_000_000_000_000, 1_999_999_999_999).map(str),
)
"""Ordinary text that stays ordinary beside more of its kind."""
ORDINARY_TEXT = ORDINARY_BESIDE | st.ip_addresses(v=4).map(str)
"""An IPv4 address is left alone, but not beside a number: "2000 255.255.255.255" is 16
digits in groups of three and four, like a card number, and one in ten passes the check."""
ORDINARY_NUMBERS = st.one_of(
    st.integers(-(10**12) + 1, 10**12 - 1),
    st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: abs(f) < 1e12),
    st.floats(1e12, 1e19).filter(lambda f: not f.is_integer()),
    st.integers(10**12, 10**19).filter(lambda n: not luhn_ok(str(n))),
)


@FAST
@given(st.data())
def test_ordinary_values_are_left_exactly_as_they_are(data: st.DataObject) -> None:
    value = data.draw(ORDINARY_TEXT | ORDINARY_NUMBERS)
    content, _ = data.draw(placed(value, value))

    assert DEFAULT(content) == content


@FAST
@given(st.lists(ORDINARY_BESIDE, min_size=1, max_size=4), st.sampled_from([" ", ", ", "; "]))
def test_ordinary_values_side_by_side_in_text_are_left_alone(values: list[str], sep: str) -> None:
    text = "Invoice " + sep.join(values) + " checked"

    assert DEFAULT.text(text) == text
