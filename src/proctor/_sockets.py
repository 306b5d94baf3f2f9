"""The one way Proctor's servers bind their port (``proctor serve``, ``proctor gateway
serve``): before they print a URL or a key, with a one-line error naming the fix.

Beside the layers like ``proctor.errors``: the server and the endpoint share it, and
neither may import the other.
"""

from __future__ import annotations

import socket

from proctor.errors import ProctorError


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` (port 0: a free one), or ``ProctorError`` naming the
    fix (another ``--port``, or a ``--host`` of this machine)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        reason = exc.strerror or str(exc)
        raise ProctorError(
            f"cannot listen on {host}:{port}: {reason}. Fix: choose another --port, or a "
            "--host address of this machine (127.0.0.1 by default)"
        ) from None
    return sock
