"""The meaningful pieces of text: e-mail addresses, URLs, domains, IBANs, numbers, ids.

Conditions call these (``emails(s)``, ``urls(s)``, ...), and provenance traces a value
by them: the normalised pieces of a proposed argument are looked up among the pieces of
everything the run has read. Normalising (case, separators, trailing dots) makes
``Bob@Example.COM`` and ``bob@example.com``, or ``DE89 3704 0044`` and ``de8937040044``,
the same piece.
"""

from __future__ import annotations

import decimal
import functools
import re
from collections.abc import Iterator

_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
_URL = re.compile(r"\b(?:https?|ftp)://[^\s<>\"'`)\]}]+", re.IGNORECASE)
_DOMAIN = re.compile(
    r"(?<![@\w.\-])(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+"
    r"(?:com|org|net|io|co|dev|app|ai|biz|info|me|xyz|site|online|link|shop|eu|uk|de|fr|"
    r"nl|es|it|ch|at|be|se|no|dk|fi|pl|us|ca|au|ru|cn|jp|in|br|ly|to|gg|cc|tv|gov|edu)"
    r"(?![\w\-])",
    re.IGNORECASE,
)
# Two letters, two check digits, then groups of four letters and digits (spaces or dashes
# between groups allowed), the last group shorter.
_IBAN = re.compile(r"\b[A-Za-z]{2}\d{2}(?:[ \-]?[A-Za-z0-9]{4}){2,7}(?:[ \-]?[A-Za-z0-9]{1,3})?\b")
_NUMBER = re.compile(r"(?<![\w.])\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?")
# Order numbers, ticket ids, account numbers: a token holding a digit, four or more long.
_IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-./#]{2,}[A-Za-z0-9]")
_SEPARATORS = re.compile(r"[\s\-.]")
_TRAILING = ".,;:!?'\""


def emails(text: str) -> list[str]:
    """The e-mail addresses in ``text``, lower-cased, in order, without repeats."""
    return _unique(match.lower() for match in _EMAIL.findall(text))


def urls(text: str) -> list[str]:
    """The URLs in ``text`` (trailing punctuation dropped), in order, without repeats."""
    return _unique(normal_url(match) for match in _URL.findall(text))


def domains(text: str) -> list[str]:
    """The domain names in ``text``: of its URLs and e-mail addresses, and bare ones."""
    found: list[str] = [url_domain(url) for url in urls(text)]
    found += [address.rsplit("@", 1)[1] for address in emails(text)]
    found += [match.lower() for match in _DOMAIN.findall(_EMAIL.sub(" ", _URL.sub(" ", text)))]
    return _unique(_bare_domain(domain) for domain in found if domain)


def ibans(text: str) -> list[str]:
    """The IBANs (and IBAN-shaped account numbers) in ``text``, upper-case, no spaces."""
    found = (_SEPARATORS.sub("", match).upper() for match in _IBAN.findall(text))
    return _unique(iban for iban in found if 15 <= len(iban) <= 34)


def numbers(text: str) -> list[float]:
    """The numbers in ``text``: ``24,500.00`` and ``24500`` are both 24500."""
    found: list[float] = []
    for match in _NUMBER.findall(text):
        try:
            found.append(float(match.replace(",", "")))
        except ValueError:
            continue
    return found


def find_all(text: str, pattern: str) -> list[str]:
    """Every match of the regular expression ``pattern`` in ``text`` (its first group, if
    it has groups)."""
    try:
        compiled = _regex(pattern)
    except re.error as exc:  # a condition's mistake: it cannot be evaluated (fails closed)
        raise ValueError(f"find_all: {pattern!r} is not a regular expression: {exc}") from exc
    if compiled.groups:
        return [m.group(1) or "" for m in compiled.finditer(text)]
    return [m.group(0) for m in compiled.finditer(text)]


def normal_url(url: str) -> str:
    """A URL as compared: trailing punctuation and slash dropped, scheme and host lower."""
    url = url.rstrip(_TRAILING).rstrip("/")
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    host, slash, path = rest.partition("/")
    return f"{scheme.lower()}://{host.lower()}{slash}{path}"


def url_domain(url: str) -> str:
    rest = url.partition("://")[2]
    host = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    return _bare_domain(host.rsplit("@", 1)[-1].split(":", 1)[0].lower())


def normal_text(text: str) -> str:
    """Text as compared: case-folded, runs of white space as one space, trimmed."""
    return " ".join(text.casefold().split())


def normal_number(value: float) -> str:
    """A number as compared: ``24500``, ``24500.0`` and ``24500.00`` are ``24500``."""
    if isinstance(value, int):
        return str(value)
    return _number_text(repr(value)) if value == value and abs(value) != float("inf") else ""


@functools.lru_cache(maxsize=8192)
def pieces(text: str) -> frozenset[str]:
    """The meaningful pieces of ``text``, each tagged by kind so that kinds never collide.

    A piece inside a larger one is not a piece of its own: the groups of a spaced IBAN,
    or the digits of a URL, would otherwise be found only where the IBAN or URL was
    written that way. Cached: the values a run proposes are mostly ones it has read,
    whose pieces were extracted when they were indexed."""
    found: set[str] = set()
    for address in emails(text):
        found.add("email:" + address)
    for url in urls(text):
        found.add("url:" + url.casefold())
    for domain in domains(text):
        found.add("domain:" + domain)
    for iban in ibans(text):
        found.add("iban:" + iban)
    rest = _IBAN.sub(" ", _EMAIL.sub(" ", _URL.sub(" ", text)))
    for match in _NUMBER.findall(rest):
        found.add("number:" + _number_text(match))
    for token in _IDENTIFIER.findall(rest):
        # Letters and digits: an order number, a ticket id (digits alone are numbers).
        if any(c.isdigit() for c in token) and any(c.isalpha() for c in token):
            found.add("id:" + token.casefold())
            found.add("id:" + _SEPARATORS.sub("", token).casefold())
    return frozenset(found)


def _number_text(written: str) -> str:
    """A number as written (``24,500.00``), as compared (``24500``), exactly: long account
    numbers must not be rounded through a float."""
    value = decimal.Decimal(written.replace(",", ""))
    return format(value.normalize(), "f") if value != value.to_integral() else str(int(value))


def _bare_domain(domain: str) -> str:
    domain = domain.rstrip(".")
    return domain[4:] if domain.startswith("www.") else domain


def _unique(values: Iterator[str]) -> list[str]:
    return list(dict.fromkeys(values))


# A condition's patterns are few and repeat on every decision: compile each once.
_regex = functools.lru_cache(maxsize=256)(re.compile)
