"""Personal data and secrets planted in runs, and the byte strings that must never be stored.

All of them are well-known test values (documentation examples, test card numbers).
"""

from __future__ import annotations

PEM_BODY = "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun"
PLANTED = {
    "email": "jane.doe@example.com",
    "phone": "+1 415-555-2671",
    "card": "4111 1111 1111 1111",
    "iban": "DE89 3704 0044 0532 0130 00",
    "ssn": "123-45-6789",
    "openai": "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z",
    "aws": "AKIAIOSFODNN7EXAMPLE",
    "pem": f"-----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}\n-----END RSA PRIVATE KEY-----",
}
"""One value per detector, as a person (or a tool) would write it."""

NEEDLES: dict[str, tuple[bytes, ...]] = {
    "email": (b"jane.doe@example.com", b"jane.doe"),
    "phone": (b"415-555-2671", b"4155552671"),
    "card": (b"4111 1111 1111 1111", b"4111111111111111"),
    "iban": (b"DE89 3704 0044 0532 0130 00", b"DE89370400440532013000", b"0532 0130"),
    "ssn": (b"123-45-6789",),
    "openai": (b"Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z",),
    "aws": (b"AKIAIOSFODNN7EXAMPLE",),
    "pem": (PEM_BODY.encode(), PEM_BODY[:24].encode()),
}
"""What would give a planted value away in stored bytes, in every form it could take."""


def planted_text() -> str:
    """Every planted value in one piece of prose."""
    return (
        f"Reach {PLANTED['email']} or {PLANTED['phone']}; card {PLANTED['card']}, "
        f"IBAN {PLANTED['iban']}, SSN {PLANTED['ssn']}. Keys: {PLANTED['openai']} "
        f"{PLANTED['aws']}\n{PLANTED['pem']}"
    )


def leaks(data: bytes) -> list[str]:
    """Which planted values appear in ``data``, in any of their forms."""
    return [
        f"{name}: {needle!r}"
        for name, needles in NEEDLES.items()
        for needle in needles
        if needle in data
    ]
