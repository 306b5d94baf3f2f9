"""The built-in detectors: regular expressions, checksums and the gates in front of them.

Detectors come in families, each behind a cheap gate (a substring or a short regex) so
that text with nothing to find costs almost nothing:

* ``email``: gated on ``@``;
* secrets: gated on their fixed prefixes (``sk-``, ``AKIA``, ``-----BEGIN``, ...);
* numbers (``card``, ``iban``, ``ssn``, ``phone``): gated on a run of digits and
  separators (or an IBAN's country code and check digits). A regex finds candidates; the
  checksums (Luhn, mod-97) and range checks run on candidates only.

Key-like fields (``password``, ``api_key``, ``authorization``, ...) are found by name:
their string values are secrets when they look random enough.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from collections.abc import Callable

# A word character on either side means the match is part of a longer token.
_BEFORE = r"(?<![0-9A-Za-z_])"
_AFTER = r"(?![0-9A-Za-z_])"


def _starts(first: str) -> str:
    """``first`` (one character) where a value may start: not inside a word or a longer
    number, nor right after a decimal point ("00:00:00.200200 2000" is a time and a year).

    The character is matched before the lookbehinds look at the one before it, so that a
    search fails fast at every place a value cannot start.
    """
    return rf"{first}(?<![0-9A-Za-z_].)(?<![0-9][.,].)"


# E-mail: RFC 5322's atext in the local part, without the characters that more often
# delimit text than belong to an address (/ | { } `); letters of any script (RFC 6531)
# there and in the domain; a top-level domain of letters, or an IDN one (xn--p1ai). The
# local part starts where the characters it may hold start, but not at an apostrophe:
# 'ada@example.com' is quoted (o'brien@example.ie is not).
_LOCAL_FIRST = r"[\w.%+\-=!#$&*?^~]"
_LOCAL = r"[\w.%+\-'=!#$&*?^~]"
EMAIL = (
    rf"{_LOCAL_FIRST}(?<!{_LOCAL_FIRST}{_LOCAL_FIRST}){_LOCAL}*"
    r"@[\w-]+(?:\.[\w-]+)*\.[^\W\d_][\w-]*[^\W_]"
)

SECRET = "|".join(
    (
        # PEM private key blocks; an unterminated one is cut off to the end of the text.
        r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?(?:-----END[A-Z0-9 ]*PRIVATE KEY-----|\Z)",
        _BEFORE + r"sk-[A-Za-z0-9_-]{20,}",  # OpenAI (sk-, sk-proj-, ...), Anthropic (sk-ant-)
        _BEFORE + r"[sr]k_(?:live|test)_[A-Za-z0-9]{16,}",  # Stripe
        _BEFORE + r"(?:AKIA|ASIA)[0-9A-Z]{16}" + _AFTER,  # AWS access key ids
        _BEFORE + r"gh[pousr]_[A-Za-z0-9]{30,}",  # GitHub tokens
        _BEFORE + r"github_pat_[A-Za-z0-9_]{22,}",
        _BEFORE + r"xox[abprse]-[A-Za-z0-9-]{10,}",  # Slack
        _BEFORE + r"AIza[0-9A-Za-z_-]{35}",  # Google API keys
        _BEFORE + r"eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*",  # JWTs
        r"\b[Bb]earer[ \t]+[A-Za-z0-9._~+/-]{16,}=*",
    )
)
SECRET_GATE = r"-----BEGIN|sk-|k_live_|k_test_|AKIA|ASIA|gh[pousr]_|github_pat_|xox|AIza|eyJ|earer"

# What may stand between the groups of a number: spaces (no-break, thin, ideographic
# too), dashes (hyphen, en dash, minus, ...), dots and slashes, alone or spaced (" - ").
# Never a line break or a tab: numbers in the rows of a table would run together.
# Digits are ASCII ([0-9], not \d: faster, and the checksums read ASCII digits).
_SPACES = " \u00a0\u2000-\u200a\u202f\u205f\u3000"
_DASHES = "\\-\u2010-\u2015\u2212\ufe58\ufe63\uff0d"
_SPACE = f"[{_SPACES}]"
GAP = f"(?:{_SPACE}{{1,2}}|{_SPACE}?[{_DASHES}./]{_SPACE}?)"
_ONE_GAP = f"[{_SPACES}{_DASHES}.]"
"""Between the parts of a North American number: one character."""

NUMBER = {
    # 13 to 19 digits starting 2-6: unbroken, or in groups of three to six (4-4-4-4, 4-6-5,
    # 4-3-3-3, ...). Not two-digit groups, nor long ones: those are dates and other numbers
    # side by side ("2026-03-02 2026-03-31", "2963403560 1999-01-01"). The lookahead, a
    # looser form of the gaps, rejects a run of fewer than 13 digits at once.
    "card": _starts("[2-6]")
    + r"(?=(?:[^0-9A-Za-z_\n\r\t]{0,3}[0-9]){12})"
    + rf"(?:[0-9]{{12,18}}|[0-9]{{2,5}}(?:{GAP}[0-9]{{3,6}}){{2,6}})"
    + _AFTER,
    # Country code, check digits, then the account: in groups of four, or unbroken; in
    # any case (the check digits decide).
    "iban": _starts("[A-Za-z]")
    + rf"[A-Za-z][0-9]{{2}}(?:(?:{GAP}[A-Za-z0-9]{{4}})+(?:{GAP}[A-Za-z0-9]{{1,3}})?"
    + r"|[A-Za-z0-9]{11,30})"
    + _AFTER,
    "ssn": _starts(r"[0-9]") + r"[0-9]{2}-[0-9]{2}-[0-9]{4}" + _AFTER,
    "phone": "|".join(
        (
            # International: +, country code, then groups (the digit count is checked).
            r"\+(?<![0-9A-Za-z_+]\+)"
            + rf"[0-9]{{1,3}}(?:{GAP}?\([0-9]{{1,4}}\))?(?:{GAP}?[0-9]{{2,5}}){{1,7}}"
            + _AFTER,
            # North American: (415) 555-2671, 415-555-2671, 415.555.2671, 415 555 2671;
            # not when more digits follow ("272 200 2000-01-01" is an amount and a date).
            rf"(?:{_starts('[(]')}[2-9][0-9]{{2}}\){_SPACE}?|{_starts('[2-9]')}[0-9]{{2}}{_ONE_GAP})"
            + rf"[2-9][0-9]{{2}}{_ONE_GAP}[0-9]{{4}}{_AFTER}(?!{_ONE_GAP}[0-9])",
        )
    ),
}
# Every number detector needs a run of eight digits and separators or more, or (an IBAN
# with letters in its account) a country code and check digits, and eleven more after.
_GATE_SEPARATORS = "\u00a0\u2000-\u200a\u202f\u205f\u3000\u2010-\u2015\u2212\ufe58\ufe63\uff0d"
# (One branch after the first character, and eight characters at least in each: a search
# skips to the places a number may start, and gives up at once on shorter text.)
NUMBER_GATE = (
    rf"[0-9(+](?:[0-9 .()/\-{_GATE_SEPARATORS}]{{6,}}[0-9]"
    rf"|(?<=[A-Za-z]{{2}}[0-9])[0-9][A-Za-z0-9 ./\-{_GATE_SEPARATORS}]{{11}})"
)
NUMBER_GATE_BYTES = (
    rb"[0-9(+](?:[0-9 .()/\-\x80-\xff]{6,}[0-9]"
    rb"|(?<=[A-Za-z]{2}[0-9])[0-9][A-Za-z0-9 ./\-\x80-\xff]{11})"
)
"""The gate over an event's UTF-8 JSON: any non-ASCII byte may be part of a separator."""

_PASSWORD_WORDS = frozenset({"password", "passwd", "passphrase", "pwd", "pass", "pin", "secret"})
_TOKEN_WORDS = frozenset(
    {"token", "auth", "authorization", "credential", "credentials", "cookie", "bearer"}
)
_TOKEN_PAIRS = frozenset(
    {"apikey", "accesskey", "privatekey", "secretkey", "signingkey", "sessionid", "clientsecret"}
)
# Over a whole event's JSON, lower-cased: the secrets' prefixes and key-like field names.
LOWER_GATE = (
    rb"-----begin|sk-|k_live_|k_test_|akia|asia|gh[pousr]_|github_pat_|xox|aiza|eyj|earer|"
    rb"pass|pwd|pin|secret|token|auth|credential|cookie|api.?key|access.?key|private.?key|"
    rb"signing.?key|session"
)
# The same language with the alternatives grouped by their first letter: the regex engine
# tries one or two branches at each place instead of twenty-five (1.5x faster).
LOWER_GATE_FAST = (
    rb"-----begin|a(?:kia|sia|iza|uth|pi.?key|ccess.?key)|c(?:redential|ookie)|e(?:yj|arer)|"
    rb"g(?:h[pousr]_|ithub_pat_)|k_(?:live|test)_|p(?:ass|wd|in|rivate.?key)|"
    rb"s(?:k-|ecret|igning.?key|ession)|token|xox"
)
MIN_DIGITS = 8
"""Every number detector needs this many digits (an SSN 9, a card 13, ...)."""
_IBAN_TABLE = (
    "AD:24 AE:23 AL:28 AT:20 AZ:28 BA:20 BE:16 BG:22 BH:22 BI:27 BR:29 BY:28 CH:21 "
    "CR:22 CY:28 CZ:24 DE:22 DJ:27 DK:18 DO:28 EE:20 EG:29 ES:24 FI:18 FK:18 FO:18 "
    "FR:27 GB:22 GE:22 GI:23 GL:18 GR:27 GT:28 HN:28 HR:21 HU:28 IE:22 IL:23 IQ:23 "
    "IS:26 IT:27 JO:30 KW:30 KZ:20 LB:28 LC:32 LI:21 LT:20 LU:20 LV:21 LY:25 MC:27 "
    "MD:24 ME:22 MK:19 MN:20 MR:27 MT:31 MU:30 NI:28 NL:18 NO:15 OM:23 PK:24 PL:28 "
    "PS:29 PT:25 QA:29 RO:24 RS:22 RU:33 SA:24 SC:31 SD:18 SE:24 SI:19 SK:24 SM:27 "
    "SO:23 ST:25 SV:28 TL:23 TN:24 TR:26 UA:29 VA:22 VG:24 XK:20 YE:30"
)
IBAN_LENGTHS = {
    country: int(length) for country, length in re.findall(r"([A-Z]{2}):(\d\d)", _IBAN_TABLE)
}
"""IBAN length by country (SWIFT IBAN registry); other countries: 15 to 34 characters."""
_GROUP = re.compile(r"[0-9]+")
_NOT_DIGIT = re.compile(r"[^0-9]")
_ALNUM = re.compile(r"[A-Za-z0-9]")
_KEY_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")

NO_KEY, PASSWORD_KEY, TOKEN_KEY = 0, 1, 2


def key_kind(key: str) -> int:
    """Whether a field's name says it holds a password (any value) or a token (if random)."""
    words = [word.lower() for word in _KEY_WORDS.findall(key)]
    if any(word in _PASSWORD_WORDS for word in words):
        return PASSWORD_KEY
    pairs = {a + b for a, b in itertools.pairwise(words)}
    if any(word in _TOKEN_WORDS for word in words) or pairs & _TOKEN_PAIRS:
        return TOKEN_KEY
    return NO_KEY


def looks_random(value: str) -> bool:
    """At least 8 characters and 3 bits of Shannon entropy per character."""
    if len(value) < 8:
        return False
    counts = Counter(value).values()
    size = len(value)
    return -sum(n / size * math.log2(n / size) for n in counts) >= 3.0


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, char in enumerate(reversed(digits)):
        n = ord(char) - 48
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


Span = tuple[int, int] | None
"""Where, within a candidate, the valid match is; ``None`` if there is none."""


def card_span(text: str) -> Span:
    """The longest run of whole groups of ``text`` that is a card number (13-19 digits,
    starting 2-6, Luhn).

    A grouped candidate may run into numbers on either side (``ref 512 4111 1111 1111
    1111 2``), so every run of consecutive groups is tried, longest first.
    """
    whole = _NOT_DIGIT.sub("", text)
    if 13 <= len(whole) <= 19 and luhn_ok(whole):  # as almost every card is written
        return (0, len(text))
    groups = [(m.start(), m.end(), m.group()) for m in _GROUP.finditer(text)]
    best: tuple[int, int, int] | None = None
    for first in range(len(groups)):
        if groups[first][2][0] not in "23456":
            continue
        digits = ""
        for last in range(first, len(groups)):
            digits += groups[last][2]
            if len(digits) > 19:
                break
            if len(digits) >= 13 and (best is None or len(digits) > best[0]) and luhn_ok(digits):
                best = (len(digits), groups[first][0], groups[last][1])
    return None if best is None else (best[1], best[2])


def iban_ok(compact: str) -> bool:
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(char, 36)) for char in rearranged)) % 97 == 1


def iban_span(text: str) -> Span:
    """The IBAN at the start of ``text``, if there is one.

    Each country's IBANs have one length. A grouped candidate may run on into a word of
    four letters or digits after it (``BE68 5390 0754 7034 CODE``), so it is cut to the
    country's length where a group ends.
    """
    chars = [m.start() for m in _ALNUM.finditer(text)]
    compact = "".join(text[i] for i in chars).upper()
    expected = IBAN_LENGTHS.get(compact[:2], len(compact))
    grouped = len(chars) < len(text)
    if len(compact) < expected or (len(compact) > expected and not grouped):
        return None
    end = chars[expected - 1] + 1
    if end < len(text) and _ALNUM.match(text, end):
        return None  # the country's length ends inside a group: not this country's IBAN
    return (0, end) if iban_ok(compact[:expected]) else None


def ssn_span(text: str) -> Span:
    """All of ``text`` unless the number is one the SSA never issues (000, 666, 9xx ...)."""
    area, group, serial = text.split("-")
    if area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000":
        return None
    return (0, len(text))


def phone_span(text: str) -> Span:
    """All of ``text`` if an international number has 8 to 15 digits (E.164; a trunk
    prefix written ``(0)`` is not one of them)."""
    if not text.startswith("+"):
        return (0, len(text))  # the North American forms are exact
    digits = sum(char.isdigit() for char in text) - text.count("(0)")
    return (0, len(text)) if 8 <= digits <= 15 else None


CHECKS: dict[str, Callable[[str], Span]] = {
    "card": card_span,
    "iban": iban_span,
    "ssn": ssn_span,
    "phone": phone_span,
}
"""Validators of number candidates: where within the candidate the valid match is."""


def int_is_card(value: int) -> bool:
    """A JSON integer that is a card number (13-19 digits starting 2-6, Luhn)."""
    digits = str(abs(value))
    return 13 <= len(digits) <= 19 and digits[0] in "23456" and luhn_ok(digits)


def float_is_card(value: float) -> bool:
    """A JSON number written with a fraction or exponent (``4111111111111111.0``) that
    holds a card number. Beyond 2**53 a float no longer holds every digit, so the
    checksum cannot be trusted there: such a number of card length counts as one."""
    if not value.is_integer():
        return False
    whole = int(value)
    if abs(whole) >= 2**53:
        digits = str(abs(whole))
        return 13 <= len(digits) <= 19 and digits[0] in "23456"
    return int_is_card(whole)


def normalize(label: str, text: str) -> str:
    """The form a value is hashed in, so that one value written two ways correlates."""
    if label == "email":
        return text.lower()
    if label in ("card", "iban", "phone", "ssn"):
        return "".join(char for char in text if char.isalnum()).upper()
    return text
