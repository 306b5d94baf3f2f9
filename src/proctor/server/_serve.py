"""What ``proctor serve`` does, in reusable pieces: the session secret, the first admin
key, building the app, and serving it with uvicorn (blocking, or in a thread for tests).
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from proctor._sockets import listen
from proctor.runtime import WorkflowCatalog
from proctor.server._app import create_server
from proctor.server._guard import DEFAULT_MAX_BODY_BYTES
from proctor.server._hosts import LOOPBACK_NAMES
from proctor.server._keys import create_api_key
from proctor.store import Store, default_home, open_store, private_dirs

SECRET_FILE = "server-secret"
DEFAULT_PORT = 8700


def session_secret(home: Path) -> str:
    """The key that signs UI sessions: ``<home>/server-secret``, created (mode 0600) on
    first use, so sessions survive a restart and no other user can read it."""
    path = home / SECRET_FILE
    secret = _read_secret(path)
    if secret:
        return secret
    private_dirs(home)
    fresh = secrets.token_urlsafe(32)
    draft = home / f".{SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(fresh + "\n")
    try:
        # A hard link appears whole and never replaces a secret another server just made.
        os.link(draft, path)
    except FileExistsError:
        secret = _read_secret(path)
        if secret:
            return secret  # two servers started at once: the first one's secret holds
        os.replace(draft, path)  # an empty file signs nothing: replace it
    finally:
        draft.unlink(missing_ok=True)
    return fresh


def _read_secret(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None


async def ensure_admin_key(store: Store) -> str | None:
    """Create the first admin key (tenant ``default``, name ``admin``) when the store has
    no admin key that works; returns it (to show once), or ``None`` if one exists."""
    for key in await store.api_keys():
        if key.role == "admin" and key.revoked_at is None:
            return None
    _, token = await create_api_key(
        store, role="admin", tenant="default", name="admin", created_by="proctor serve"
    )
    return token


def build_app(
    store: Store,
    *,
    home: Path | None = None,
    config: str | None = None,
    secure_cookies: bool = True,
    workflows: WorkflowCatalog | None = None,
    allowed_hosts: Iterable[str] | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    enqueue: bool = False,
) -> FastAPI:
    """The API and web UI over ``store``, signing sessions with ``home``'s secret
    (default: the Proctor home), running the ``workflows`` of the catalog (default: the
    registered and configured ones), or queueing their runs for workers (``enqueue``).
    The store stays the caller's to close."""
    secret = session_secret(default_home() if home is None else home)
    return create_server(
        store,
        session_secret=secret,
        config=config,
        secure_cookies=secure_cookies,
        workflows=workflows if workflows is not None else WorkflowCatalog.for_project((), config),
        allowed_hosts=allowed_hosts,
        max_body_bytes=max_body_bytes,
        enqueue=enqueue,
    )


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable only from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a hostname: it may resolve to any interface


def url_of(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def _server(app: FastAPI, config: uvicorn.Config) -> uvicorn.Server:
    server = uvicorn.Server(config)
    # Open event streams end when the server stops, instead of holding its graceful
    # shutdown for its whole timeout (a browser keeps a run page's stream open).
    app.state.stopping = lambda: server.should_exit
    return server


def _config(
    app: FastAPI,
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    log_level: str = "info",
    access_log: bool = False,
) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="on",  # the lifespan's end waits for the runs it is driving
        ws="none",
        loop="auto",  # uvloop and httptools when installed (they are dependencies)
        log_level=log_level,
        access_log=access_log,
        timeout_graceful_shutdown=10,
    )


@dataclass(frozen=True)
class Started:
    """What ``serve`` tells before it blocks: where to go, and a new admin key, once."""

    url: str
    admin_key: str | None
    exposed: bool
    """Bound to an address other machines reach: keys travel in clear without TLS."""
    sso: str | None = None
    """The identity provider people sign in with (its issuer), if ``sso:`` configures one."""


def serve(
    *,
    db: str | None = None,
    config: str | None = None,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    home: Path | None = None,
    announce: Callable[[Started], None] = lambda started: None,
    access_log: bool = False,
    workflows: Sequence[str] = (),
    allowed_hosts: Iterable[str] = (),
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    enqueue: bool = False,
) -> None:
    """Bind, open the store, make sure an admin key exists, serve until Ctrl-C (blocking),
    and close the store. ``announce`` is told the URL and a new admin key before serving.

    ``workflows`` are refs requests may name besides the registered and configured ones:
    each is imported before the server binds, so a wrong one fails at start. Requests must
    name ``host``, a loopback name, or one of ``allowed_hosts`` as their ``Host``; API
    request bodies stop at ``max_body_bytes``. With ``enqueue``, API runs go to the run
    queue for ``proctor worker`` processes.
    """
    app_home = default_home() if home is None else home
    catalog = WorkflowCatalog.for_project(workflows, config)
    catalog.preload()
    sock = listen(host, port)

    async def main() -> None:
        store = open_store(db)
        try:
            admin_key = await ensure_admin_key(store)
            app = build_app(
                store,
                home=app_home,
                config=config,
                workflows=catalog,
                allowed_hosts=(host, *LOOPBACK_NAMES, *allowed_hosts),
                max_body_bytes=max_body_bytes,
                enqueue=enqueue,
            )
            bound = sock.getsockname()[1]
            exposed = not is_loopback(host)
            sso = app.state.proctor.sso
            issuer = None if sso is None else sso.config.issuer
            url = url_of(host, bound)
            announce(Started(url=url, admin_key=admin_key, exposed=exposed, sso=issuer))
            config_ = _config(app, host=host, port=bound, access_log=access_log)
            await _server(app, config_).serve(sockets=[sock])
        finally:
            await store.close()

    try:
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            runner.run(main())
    except KeyboardInterrupt:
        pass  # Ctrl-C is how a server is stopped; uvicorn has shut down gracefully by now
    finally:
        sock.close()


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency, except on Windows
        return None
    return uvloop.new_event_loop


@contextmanager
def server_thread(app: FastAPI, *, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a thread (``port`` 0: a free one); yields its base URL
    (``http://127.0.0.1:PORT``) once it accepts connections, and stops it on exit."""
    sock = listen(host, port)
    try:
        server = _server(app, _config(app, log_level="warning", access_log=False))
        failed: list[BaseException] = []

        def run() -> None:
            try:
                server.run(sockets=[sock])
            except BaseException as exc:  # shown to the caller, not lost in the thread
                failed.append(exc)

        thread = threading.Thread(target=run, name="proctor-server", daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if failed or not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                thread.join(timeout=10)
                raise RuntimeError(
                    f"the server did not start: {failed[0] if failed else 'timeout'}"
                )
            time.sleep(0.005)
        try:
            yield url_of(host, sock.getsockname()[1]).rstrip("/")
        finally:
            server.should_exit = True
            thread.join(timeout=15)
    finally:
        sock.close()
