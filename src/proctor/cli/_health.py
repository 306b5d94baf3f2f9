"""``--health-port``: liveness and readiness of a process that serves no HTTP of its own
(``proctor worker``, ``proctor notify run``), for a container orchestrator to probe.

- ``GET /healthz``: 200 while the process's event loop turns (a task ticks every
  second); 503 once it has not for ``STUCK_S``, so a hung process gets restarted.
- ``GET /readyz``: 200 while the process's own check finds nothing wrong (a worker: it
  reached the store within a lease; the notifier: its last pass is recent); else 503
  with the reason. The reason says what, never where (no store URL).

Served by the standard library's threading HTTP server in a daemon thread: the probe is
answered even while the event loop is busy, and reads only numbers the loop writes.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from proctor.errors import UsageError

STUCK_S = 30.0
"""How long the event loop may go without a tick before ``/healthz`` says it is stuck."""
TICK_S = 1.0


class HealthServer:
    """Answers ``/healthz`` and ``/readyz`` on ``host:port`` (see the module docstring)."""

    def __init__(
        self,
        not_ready: Callable[[], str | None],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._not_ready = not_ready
        self._clock = clock
        self._ticked = clock()
        self._server: ThreadingHTTPServer | None = None

    def tick(self) -> None:
        """The event loop turned (``ticking`` calls it every second)."""
        self._ticked = self._clock()

    async def ticking(self) -> None:
        """Tick every second until cancelled: run it as a task on the process's loop."""
        while True:
            self.tick()
            await asyncio.sleep(TICK_S)

    def answer(self, path: str) -> tuple[int, dict[str, object]]:
        """The status and JSON body for a GET of ``path``."""
        if path == "/healthz":
            quiet = self._clock() - self._ticked
            if quiet > STUCK_S:
                return 503, {"status": "stuck", "reason": f"no progress for {quiet:.0f} s"}
            return 200, {"status": "ok"}
        if path == "/readyz":
            try:
                reason = self._not_ready()
            except Exception as exc:  # a check that fails is an answer, not a dead probe
                reason = f"the readiness check failed: {type(exc).__name__}"
            if reason is not None:
                return 503, {"status": "unavailable", "reason": reason}
            return 200, {"status": "ready"}
        return 404, {"error": "not found: GET /healthz or /readyz"}

    def serve(self, port: int, host: str = "127.0.0.1") -> int:
        """Serve in a daemon thread; returns the port bound (``port`` 0 picks a free one).
        Raises ``UsageError`` if the port is taken."""
        health = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, body = health.answer(self.path.split("?", 1)[0])
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                pass  # a probe every few seconds is not news

        class Server(ThreadingHTTPServer):
            address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

        try:
            server = Server((host, port), Handler)
        except OSError as exc:
            raise UsageError(
                f"--health-port {port}: cannot listen on {host}:{port} "
                f"({exc.strerror or exc}). Fix: pick a free port, or stop what holds it"
            ) from None
        server.daemon_threads = True
        self._server = server
        threading.Thread(
            target=server.serve_forever, args=(0.1,), name="proctor-health", daemon=True
        ).start()
        return int(server.server_address[1])

    def close(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
