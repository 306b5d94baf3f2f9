"""The PostgreSQL store's connections: its URL, its pool, its schema and their migrations."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import AsyncConnection, AsyncCursor, sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool, PoolClosed, PoolTimeout

from proctor.errors import StoreError, UsageError
from proctor.store._migrations import POSTGRES_MIGRATIONS, SCHEMA_VERSION

POOL_MAX_ENV = "PROCTOR_DB_POOL_MAX"
"""Most connections one store (one process) opens; default ``DEFAULT_POOL_MAX``."""
POOL_TIMEOUT_ENV = "PROCTOR_DB_POOL_TIMEOUT"
"""Seconds a call waits for a free connection before failing; default ``DEFAULT_POOL_TIMEOUT``."""
DEFAULT_POOL_MAX = 10
DEFAULT_POOL_TIMEOUT = 30.0

VERSION_TABLE = "proctor_schema_version"
# A name of Proctor's own: a bare `schema_version` is what other tools (old Flyway) use.
_CREATE_VERSION_TABLE = f"""
    CREATE TABLE {VERSION_TABLE} (
        one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
        version INTEGER NOT NULL
    );
    INSERT INTO {VERSION_TABLE} (version) VALUES (0);
"""
# pg_advisory_xact_lock(class, key): the class keeps clear of other applications' keys.
_LOCK_CLASS = 0x50524F43  # "PROC"
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")

Connection = AsyncConnection[TupleRow]


@dataclass(frozen=True, kw_only=True)
class PostgresLocation:
    """A ``postgresql://`` URL taken apart: what libpq reads, and Proctor's own parameter."""

    conninfo: str
    """The URL without ``schema``, for libpq (it may hold a password: never print it)."""
    schema: str | None
    """The schema holding the store's tables (created if missing); ``None``: the server's
    default search path (usually ``public``)."""
    display: str
    """The URL without its password, for messages and ``proctor db status``."""
    where: str
    """``host:port/database``, for error messages."""


def parse_postgres_url(url: str) -> PostgresLocation:
    """Split off ``?schema=NAME`` and check the rest is a URL libpq accepts."""
    parts = urlsplit(url)
    schema: str | None = None
    rest: list[tuple[str, str]] = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key == "schema":
            schema = value
        else:
            rest.append((key, value))
    userinfo, _, hostinfo = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    shown = [(key, value) for key, value in parse_qsl(parts.query) if key != "password"]
    display = urlunsplit(
        parts._replace(
            netloc=f"{user}@{hostinfo}" if user else hostinfo,
            query=urlencode(shown, quote_via=quote),
        )
    )
    if schema is not None and (not _SCHEMA_NAME.fullmatch(schema) or schema.startswith("pg_")):
        raise UsageError(
            f"invalid schema {schema!r} in the store URL {display}: use lowercase letters, "
            "digits and underscores, not starting with a digit or pg_ (e.g. ?schema=proctor)"
        )
    # quote, not urlencode's default quote_plus: libpq reads `+` as itself, not a space.
    conninfo = urlunsplit(parts._replace(query=urlencode(rest, quote_via=quote)))
    try:
        params = conninfo_to_dict(conninfo)
    except psycopg.ProgrammingError as exc:
        raise UsageError(f"invalid PostgreSQL URL {display}: {_reason(exc)}") from None
    host = str(params.get("host") or "localhost")
    where = (
        f"{host}:{params.get('port') or 5432}/{params.get('dbname') or params.get('user') or ''}"
    )
    return PostgresLocation(conninfo=conninfo, schema=schema, display=display, where=where)


def _reason(exc: BaseException) -> str:
    """An error's message on one line (libpq's span several, with tabs)."""
    return " ".join(str(exc).split()) or type(exc).__name__


def _lost_connection(exc: psycopg.Error) -> bool:
    """Whether ``exc`` is about reaching the server, not about the statement."""
    # No SQLSTATE: libpq's own (refused, reset); 08: connection; 57P: shutdown, restart.
    state = exc.sqlstate
    return isinstance(exc, psycopg.OperationalError) and (
        state is None or state.startswith(("08", "57P"))
    )


def _env_number(name: str, default: float) -> float:
    text = os.environ.get(name)
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if value <= 0:
        raise UsageError(f"{name}={text!r} must be a positive number")
    return value


class PostgresConnection:
    """The pool and schema under ``PostgresStore``; its table mixins subclass it.

    Construction does no I/O (``open_store`` is synchronous): the first call opens a
    connection, migrates the schema (unless ``migrate=False``) and then the pool, which
    belongs to that call's event loop from then on.
    """

    def __init__(
        self,
        url: str,
        *,
        migrate: bool = True,
        min_size: int = 1,
        max_size: int | None = None,
        timeout: float | None = None,
    ) -> None:
        self.location = parse_postgres_url(url)
        self.url = self.location.display
        self.schema = self.location.schema
        self._migrate = migrate
        self.max_size = max_size or int(_env_number(POOL_MAX_ENV, DEFAULT_POOL_MAX))
        self.min_size = min(min_size, self.max_size)
        self._timeout = timeout or _env_number(POOL_TIMEOUT_ENV, DEFAULT_POOL_TIMEOUT)
        extra: dict[str, Any] = {}
        given = conninfo_to_dict(self.location.conninfo)
        if self.schema is not None:
            # A startup option costs no round trip; quoting is moot, the name is checked.
            options = f"{given.get('options') or ''} -c search_path={self.schema}"
            extra["options"] = options.strip()
        if "application_name" not in given:
            extra["application_name"] = "proctor"
        if "connect_timeout" not in given:
            extra["connect_timeout"] = 10  # an unreachable host fails in seconds, not minutes
        self._conninfo = make_conninfo(self.location.conninfo, **extra)
        self._pool: AsyncConnectionPool[Connection] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._opening = asyncio.Lock()
        self._closed = False

    async def open(self) -> None:
        """Connect, migrate and open the pool; later calls return at once."""
        if self._pool is not None:
            return
        async with self._opening:
            if self._pool is not None:
                return
            if self._closed:
                raise self._closed_error()
            # One plain connection first: a wrong URL or a stopped server fails at once,
            # with libpq's reason, where a pool would retry until its timeout.
            async with await self._connect() as conn:
                if self._migrate:
                    await self._upgrade(conn)
            pool: AsyncConnectionPool[Connection] = AsyncConnectionPool(
                self._conninfo,
                kwargs={"autocommit": True},
                min_size=self.min_size,
                max_size=self.max_size,
                timeout=self._timeout,
                open=False,
                name="proctor",
            )
            await pool.open()
            self._pool, self._loop = pool, asyncio.get_running_loop()

    async def close(self) -> None:
        """Close the pool; on the event loop that opened it (another would wait forever
        for the pool's tasks)."""
        self._closed = True
        async with self._opening:
            if self._pool is None:
                return
            self._check_loop()
            await self._pool.close()

    def _check_loop(self) -> None:
        # The pool's connections and tasks live on the loop that opened it.
        if asyncio.get_running_loop() is not self._loop:
            raise StoreError(
                f"the PostgreSQL store at {self.url} was opened on another event loop: "
                "use (and close) a store on one loop; open one per thread or asyncio.run"
            )

    async def _connect(self) -> Connection:
        try:
            return await AsyncConnection.connect(self._conninfo, autocommit=True)
        except psycopg.OperationalError as exc:
            raise self._unreachable(exc) from exc

    def _unreachable(self, exc: BaseException) -> StoreError:
        reason = _reason(exc)
        end = "" if reason.endswith((".", "?", "!")) else "."
        return StoreError(
            f"cannot connect to PostgreSQL at {self.location.where}: {reason}{end} "
            "Check the URL in --db/PROCTOR_DB and that the server is running"
        )

    def _closed_error(self) -> StoreError:
        return StoreError(f"the PostgreSQL store at {self.url} is closed")

    @asynccontextmanager
    async def _connection(self, area: str = "") -> AsyncIterator[Connection]:
        """A pooled connection (autocommit); psycopg's errors leave as ``StoreError``
        (``area``: the tables the failure is in, for its message)."""
        if self._closed:
            raise self._closed_error()
        await self.open()
        assert self._pool is not None
        self._check_loop()
        try:
            async with self._pool.connection() as conn:
                yield conn
        except PoolClosed as exc:
            raise self._closed_error() from exc
        except PoolTimeout as exc:
            raise StoreError(
                f"no connection to PostgreSQL at {self.location.where} within "
                f"{self._timeout:g} s: the server is unreachable or all {self.max_size} "
                f"connections are busy. Raise {POOL_MAX_ENV}, or check the server"
            ) from exc
        except psycopg.Error as exc:
            if _lost_connection(exc):
                raise self._unreachable(exc) from exc
            what = f"the {area} in the PostgreSQL store" if area else "the PostgreSQL store"
            raise StoreError(f"{what} at {self.url} failed: {_reason(exc)}") from exc

    @asynccontextmanager
    async def _pipelined(self, area: str = "") -> AsyncIterator[AsyncCursor[TupleRow]]:
        """A cursor whose statements form one transaction sent in one round trip.

        For writes: results are read only when the block ends, which is also where a
        statement's error (a constraint's included) is raised.
        """
        async with self._connection(area) as conn:
            try:
                # BEGIN and COMMIT by hand: conn.transaction() would wait for the server
                # at its start and its end.
                async with conn.pipeline(), conn.cursor() as cursor:
                    await cursor.execute("BEGIN")
                    yield cursor
                    await cursor.execute("COMMIT")
            except BaseException:
                # The pipeline skipped COMMIT after the failed statement: end the
                # transaction here rather than return a connection in the middle of one.
                # rollback(), not a ROLLBACK statement: it also forgets the statements
                # psycopg prepared (DEALLOCATE ALL), and psycopg counts a statement as
                # prepared once it sent the PREPARE, which the server skips when an
                # earlier statement of the pipeline failed (another writer extended the
                # run first); kept, the connection's next use of it would fail with
                # 'prepared statement "_pg3_N" does not exist'.
                with contextlib.suppress(psycopg.Error):
                    await conn.rollback()
                raise

    # The schema and its migrations.

    async def schema_version(self) -> int:
        """The schema version the database holds (0: none yet), without migrating it."""
        async with await self._connect() as conn:
            return await self._read_version(conn)

    async def upgrade(self) -> tuple[int, int]:
        """Apply pending migrations; returns the schema versions before and after."""
        async with await self._connect() as conn:
            return await self._upgrade(conn)

    async def _read_version(self, conn: Connection) -> int:
        found = await (await conn.execute("SELECT to_regclass(%s)", (VERSION_TABLE,))).fetchone()
        if found is None or found[0] is None:
            return 0
        row = await (await conn.execute(f"SELECT version FROM {VERSION_TABLE}")).fetchone()
        return 0 if row is None else int(row[0])

    async def _upgrade(self, conn: Connection) -> tuple[int, int]:
        # Fast path: a current schema needs neither the lock nor a transaction.
        version = await self._read_version(conn)
        self._check_not_newer(version)
        if version == SCHEMA_VERSION:
            return version, version
        try:
            async with conn.transaction():
                # Processes opening a new database at once wait here, and all but the
                # first then find the schema current.
                await conn.execute(
                    "SELECT pg_advisory_xact_lock(%s, hashtext(%s))",
                    (_LOCK_CLASS, self.schema or ""),
                )
                if self.schema is not None:
                    await self._create_schema(conn, self.schema)
                version = await self._read_version(conn)
                self._check_not_newer(version)
                if version == 0:
                    await conn.execute(_CREATE_VERSION_TABLE)
                for number in range(version, SCHEMA_VERSION):
                    await conn.execute(POSTGRES_MIGRATIONS[number])
                await conn.execute(f"UPDATE {VERSION_TABLE} SET version = %s", (SCHEMA_VERSION,))
        except psycopg.Error as exc:
            if _lost_connection(exc):
                raise self._unreachable(exc) from exc
            raise StoreError(
                f"cannot migrate the PostgreSQL store at {self.url} to schema version "
                f"{SCHEMA_VERSION}: {_reason(exc)}. The role needs CREATE on the database "
                "(or the schema); or run `proctor db upgrade` as a role that has it"
            ) from exc
        return version, SCHEMA_VERSION

    @staticmethod
    async def _create_schema(conn: Connection, schema: str) -> None:
        # Looked up first: CREATE SCHEMA IF NOT EXISTS needs CREATE on the database even
        # when the schema exists, which an application role often lacks.
        exists = await conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,))
        if await exists.fetchone() is None:
            await conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))

    def _check_not_newer(self, version: int) -> None:
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"the store at {self.url} has schema version {version}, newer than this "
                f"Proctor knows ({SCHEMA_VERSION}). Upgrade Proctor to open it."
            )
