"""The host names the server answers to: requests naming another ``Host`` are refused.

A browser sends the name it reached the server by as ``Host`` and, for a form, its page's
``Origin``. Trusting whatever ``Host`` says would let a DNS-rebinding page (a name of the
attacker's that resolves to 127.0.0.1) pass the same-origin check, so the server answers
only the names it was told: the address it binds and the loopback names by default, and
each ``proctor serve --allowed-host NAME``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from proctor.errors import UsageError

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")

# A Host header is a name or IPv4 address, or a bracketed IPv6 address, and a port.
_HOST = re.compile(r"(?P<name>[A-Za-z0-9._-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?")


def host_name(value: str) -> str:
    """The name part of a Host header or ``--allowed-host`` value, lower case, without a
    port or the brackets of an IPv6 address (``[::1]:8700`` -> ``::1``)."""
    text = value.strip().lower()
    found = _HOST.fullmatch(text)
    if found is None:
        return text.strip("[]")  # an IPv6 address given bare, or not a name at all
    return found["name"].strip("[]").rstrip(".")


def check_host_name(value: str) -> str:
    """``value`` if it is a host name or address (``--allowed-host``), else a usage error."""
    bare_ipv6 = ":" in value and _HOST.fullmatch(f"[{value.strip()}]") is not None
    if _HOST.fullmatch(value.strip()) is None and not bare_ipv6:
        raise UsageError(
            f"--allowed-host {value!r} is not a host name: give the name alone, as clients "
            "type it after http(s)://, e.g. --allowed-host proctor.example.com"
        )
    return value


class AllowedHosts:
    """The names a request's ``Host`` header may give (any port)."""

    def __init__(self, names: Iterable[str]) -> None:
        self.names = frozenset(host_name(name) for name in names if name.strip())

    @classmethod
    def default(cls, bound: str = "127.0.0.1") -> AllowedHosts:
        """The address the server binds, and the loopback names."""
        return cls((bound, *LOOPBACK_NAMES))

    def allows(self, header: str | None) -> bool:
        if not header or _HOST.fullmatch(header.strip()) is None:
            return False
        return host_name(header) in self.names

    def __repr__(self) -> str:
        return f"AllowedHosts({sorted(self.names)!r})"
