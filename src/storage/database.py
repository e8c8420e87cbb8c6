"""Opening the database chosen by ``DATABASE_URL`` and binding the tables to it.

``open_database(settings)`` builds a piccolo ``SQLiteEngine`` (``sqlite:///PATH``) or a
``PostgresEngine`` with an asyncpg pool (``postgresql://...``), binds every table of
``sitelink.storage.tables`` to it (``Table._meta.db``, piccolo's own setter), and loads the
password cipher. The binding is process-wide: one open ``Database`` at a time.

Everything here runs on the asyncio event loop (DESIGN.md rule 6); nothing may be called
from actor threads.

SQLite notes: piccolo opens one connection per query (and sets ``PRAGMA foreign_keys = 1``
on each, so cascades work); WAL mode is set once and persists in the file, so readers never
wait for the writer. Write transactions start with ``BEGIN IMMEDIATE`` so that two writers
queue on the busy timeout instead of failing when a read lock cannot be upgraded. The storage
writer's transactions (``writer_transaction``) run on one connection kept open, called
directly from the loop: piccolo's connection, thread and pragma per transaction and its thread
hop per statement were most of the writer's CPU (see ``writer_transaction``).

Unique violations of both engines become ``Conflict`` in exactly one place,
``conflict_on_duplicate``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from itertools import chain
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import asyncpg  # type: ignore[import-untyped]
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine, TransactionType
from piccolo.querystring import QueryString

from sitelink.errors import Conflict, StorageError
from sitelink.settings import Settings
from sitelink.storage.secrets import PasswordCipher, load_cipher
from sitelink.storage.tables import ALL_TABLES

EngineName = Literal["sqlite", "postgres"]

SQLITE_BUSY_TIMEOUT_S = 15.0
SQLITE_MAX_PARAMS = 999  # bound parameters per statement: SQLite's lowest compiled-in limit
PING_TIMEOUT_S = 2.0
PG_POOL_MIN = 1
PG_POOL_MAX = 10

# The kept SQLite connection while a writer_transaction is open (in the task running it).
_WRITING: ContextVar[sqlite3.Connection | None] = ContextVar("sitelink_sqlite_writing",
                                                             default=None)


class Database:
    """An open database: the piccolo engine, its name and the password cipher."""

    def __init__(
        self,
        engine: SQLiteEngine | PostgresEngine,
        engine_name: EngineName,
        cipher: PasswordCipher,
    ) -> None:
        self.engine = engine
        self.engine_name: EngineName = engine_name
        self.cipher = cipher
        self._kept: sqlite3.Connection | None = None  # writer_transaction's, opened at first use
        self._checkpointer: sqlite3.Connection | None = None  # checkpoint's, on its thread

    async def ping(self) -> bool:
        """True if the database answers ``SELECT 1`` within two seconds. Never raises."""
        try:
            async with asyncio.timeout(PING_TIMEOUT_S):
                rows = await self.engine.run_querystring(QueryString("SELECT 1 AS ok"))
            return bool(rows) and rows[0]["ok"] == 1
        except Exception:
            return False

    async def close(self) -> None:
        """Close the PostgreSQL pool, or the SQLite connections of the writer."""
        self._drop_kept()
        checkpointer, self._checkpointer = self._checkpointer, None
        if checkpointer is not None:
            with contextlib.suppress(sqlite3.Error):
                checkpointer.close()
        if isinstance(self.engine, PostgresEngine) and self.engine.pool is not None:
            await self.engine.close_connection_pool()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Any]:
        """A write transaction; piccolo queries inside it run on its connection.

        Yields the piccolo transaction, whose ``connection`` is the raw aiosqlite or asyncpg
        connection (used by ``executemany`` and ``copy_records``). Nested use joins the
        outer transaction.
        """
        if isinstance(self.engine, SQLiteEngine):
            async with self.engine.transaction(
                transaction_type=TransactionType.immediate
            ) as sqlite_tx:
                yield sqlite_tx
        else:
            async with self.engine.transaction() as pg_tx:
                yield pg_tx

    @asynccontextmanager
    async def writer_transaction(self) -> AsyncIterator[None]:
        """``transaction()`` for the storage writer, whose process does nothing else.

        On SQLite, one connection is kept open (same busy timeout, foreign keys on, WAL) and
        used from the loop thread: each statement blocks the loop while it runs, which the
        writer process can afford and no other can. ``execute``, ``executemany`` and
        ``copy_records`` inside it use that connection; piccolo queries must not be used
        inside (they would not see its rows). A failed transaction closes the connection:
        the next one opens a fresh one, as piccolo would. On PostgreSQL this is
        ``transaction()``. Nested use joins the outer transaction.
        """
        if self.engine_name != "sqlite":
            async with self.transaction():
                yield
            return
        if _WRITING.get() is not None:
            yield
            return
        connection = self._kept_connection()
        connection.execute("BEGIN IMMEDIATE")
        token = _WRITING.set(connection)
        try:
            yield
            connection.execute("COMMIT")
        except BaseException:
            self._drop_kept()  # closing rolls back what is not committed
            raise
        finally:
            _WRITING.reset(token)

    def _kept_connection(self) -> sqlite3.Connection:
        if self._kept is None:
            assert isinstance(self.engine, SQLiteEngine)
            kwargs = self.engine.connection_kwargs
            # No detect_types: the writer reads back only ids and keys, and piccolo's int
            # converter run on each of them was a tenth of a flush. Values written are
            # adapted as piccolo's are (its adapters are registered on the sqlite3 module).
            connection = sqlite3.connect(kwargs["database"], timeout=kwargs["timeout"],
                                         isolation_level=None)
            connection.execute("PRAGMA foreign_keys = 1")
            # WAL without an fsync per commit (only at checkpoints): a power cut may lose the
            # last commits, never the database; the writer's own buffer of events is lost on
            # such a cut anyway. Writes cost ~8 % less CPU (bench.writer).
            connection.execute("PRAGMA synchronous = NORMAL")
            # Its commits do not copy the log into the database file: ``checkpoint`` does, on
            # a thread of its own. At commit that was a fifth of the writer's busy CPU.
            connection.execute("PRAGMA wal_autocheckpoint = 0")
            self._kept = connection
        return self._kept

    async def checkpoint(self) -> None:
        """SQLite: copy the write-ahead log into the database file (a passive checkpoint:
        it waits for nobody and nobody waits for it), on a thread and a connection of its
        own, so the writer's loop goes on meanwhile. For the storage writer, whose kept
        connection does not checkpoint at commit; one call at a time. PostgreSQL: nothing."""
        if self.engine_name == "sqlite":
            await asyncio.to_thread(self._checkpoint_now)

    def finish_checkpoint(self) -> None:
        """SQLite: checkpoint on the writer's kept connection, between its transactions: it
        copies only what was committed while ``checkpoint`` ran (which cannot finish while
        the writer commits), so the log is then whole in the database file and the writer's
        next transaction starts it again from its beginning. Without this the log would
        grow for as long as the writer is busy."""
        if self._kept is not None and _WRITING.get() is None:
            self._kept.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def _checkpoint_now(self) -> None:
        if self._checkpointer is None:
            assert isinstance(self.engine, SQLiteEngine)
            kwargs = self.engine.connection_kwargs
            self._checkpointer = sqlite3.connect(kwargs["database"], timeout=kwargs["timeout"],
                                                 isolation_level=None, check_same_thread=False)
        # Read to its end, so that the statement is done with the log.
        self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def _drop_kept(self) -> None:
        kept, self._kept = self._kept, None
        if kept is not None:
            with contextlib.suppress(sqlite3.Error):
                kept.close()

    async def execute(self, template: str, *args: Any) -> list[dict[str, Any]]:
        """Run one raw statement written with piccolo's ``{}`` placeholders."""
        writing = _WRITING.get()
        if writing is not None:
            sql, values = QueryString(template, *args).compile_string(engine_type="sqlite")
            cursor = writing.execute(sql, values)
            if cursor.description is None:
                return []
            names = [column[0] for column in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        rows: list[dict[str, Any]] = await self.engine.run_querystring(QueryString(template, *args))
        return rows

    async def executemany(self, template: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement (``{}`` placeholders) once per row, inside ``transaction()``."""
        if not rows:
            return
        sql, _ = QueryString(template, *rows[0]).compile_string(engine_type=self.engine_name)
        writing = _WRITING.get()
        if writing is not None:
            writing.executemany(sql, rows)
            return
        connection = self._transaction_connection()
        await connection.executemany(sql, [tuple(row) for row in rows])

    async def copy_records(
        self, tablename: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
    ) -> None:
        """Append rows fast, inside ``transaction()``: COPY on PostgreSQL, executemany on SQLite."""
        if not rows:
            return
        if self.engine_name == "postgres":
            connection = self._transaction_connection()
            await connection.copy_records_to_table(tablename, records=rows, columns=list(columns))
            return
        names = ", ".join(f'"{column}"' for column in columns)
        row_marks = "(" + ", ".join("?" for _ in columns) + ")"
        # Many rows per INSERT: a third less SQLite CPU than one statement run per row.
        per_statement = max(1, SQLITE_MAX_PARAMS // len(columns))
        full = len(rows) - len(rows) % per_statement
        insert = f'INSERT INTO "{tablename}" ({names}) VALUES '
        statements = []
        if full:
            statements.append((insert + ", ".join(row_marks for _ in range(per_statement)),
                               [tuple(chain.from_iterable(rows[start : start + per_statement]))
                                for start in range(0, full, per_statement)]))
        if full < len(rows):
            rest = rows[full:]
            statements.append((insert + ", ".join(row_marks for _ in rest),
                               [tuple(chain.from_iterable(rest))]))
        writing = _WRITING.get()
        for sql, parts in statements:
            if writing is not None:
                writing.executemany(sql, parts)
            else:
                await self._transaction_connection().executemany(sql, parts)

    def _transaction_connection(self) -> Any:
        transaction = self.engine.current_transaction.get()
        if transaction is None:
            raise RuntimeError("executemany and copy_records need an open db.transaction()")
        return transaction.connection


async def open_database(settings: Settings, *, query_timeout_s: float | None = None) -> Database:
    """Open the database of ``settings.database_url`` and bind every table to it.

    Raises ``StorageError`` naming host, port and reason when PostgreSQL cannot be reached
    (see ``wait_for_database`` to wait instead). ``query_timeout_s`` bounds every
    PostgreSQL statement (the API's reads: an unanswering database gives an error in that
    time instead of a request that hangs); connecting is bounded by ``db_timeout_s``. Does
    not migrate: call ``sitelink.storage.migrations.migrate`` next.
    """
    cipher = await asyncio.to_thread(load_cipher, settings)
    engine: SQLiteEngine | PostgresEngine
    if settings.engine == "postgres":
        engine = await _open_postgres(settings.database_url, settings.db_timeout_s,
                                      query_timeout_s)
        name: EngineName = "postgres"
    else:
        engine = await _open_sqlite(settings.database_url)
        name = "sqlite"
    for table in ALL_TABLES:
        table._meta.db = engine
    return Database(engine, name, cipher)


async def wait_for_database(
    settings: Settings, *, until: asyncio.Event, retry_s: float = 2.0,
    query_timeout_s: float | None = None, on_failure: Callable[[str], None] | None = None,
) -> Database | None:
    """``open_database``, tried again every ``retry_s`` until the database answers, or None
    once ``until`` is set (the instance is told to stop while it waits).

    ``on_failure`` is called with the reason (host, port and why) at the first failure and
    for each different reason after (at most ten), so a long wait is a few lines, not one
    per try.
    """
    said: set[str] = set()
    while not until.is_set():
        try:
            return await open_database(settings, query_timeout_s=query_timeout_s)
        except StorageError as exc:
            if str(exc) not in said and on_failure is not None and len(said) < 10:
                on_failure(str(exc))
            said.add(str(exc))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(until.wait(), retry_s)
    return None


async def _open_sqlite(url: str) -> SQLiteEngine:
    # Engine constructors run piccolo's run_sync(); in a worker thread it cannot block the loop.
    engine = await asyncio.to_thread(_make_sqlite_engine, url.removeprefix("sqlite:///"))
    await engine.run_ddl("PRAGMA journal_mode=WAL")
    return engine


def _make_sqlite_engine(raw_path: str) -> SQLiteEngine:
    path = Path(raw_path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    _create_private(path)
    return SQLiteEngine(path=str(path), timeout=SQLITE_BUSY_TIMEOUT_S)


def _create_private(path: Path) -> None:
    """Create the database file readable by its owner only (it holds token and session
    hashes and encrypted broker passwords), whatever the umask. SQLite gives its -wal and
    -shm files the database file's mode. An existing file keeps the mode it was given."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.close(fd)


async def _open_postgres(url: str, connect_timeout_s: float,
                         query_timeout_s: float | None) -> PostgresEngine:
    # Probe first: piccolo's constructor only warns when the server is down.
    try:
        probe = await asyncpg.connect(dsn=url, timeout=connect_timeout_s)
        await probe.close(timeout=connect_timeout_s)
    except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        parts = urlsplit(url)
        where = f"{parts.hostname or 'localhost'}:{parts.port or 5432}"
        reason = str(exc) or f"no answer within {connect_timeout_s:g} s"
        if isinstance(exc, TimeoutError):
            reason = f"no answer within {connect_timeout_s:g} s"
        raise StorageError(f"cannot reach PostgreSQL at {where}: {reason}") from None
    config: dict[str, Any] = {"dsn": url, "timeout": connect_timeout_s}
    if query_timeout_s is not None:
        config["command_timeout"] = query_timeout_s
    engine = await asyncio.to_thread(PostgresEngine, config=config)
    await engine.start_connection_pool(min_size=PG_POOL_MIN, max_size=PG_POOL_MAX)
    return engine


_REFUSED_ROW = (
    asyncpg.DataError,  # class 22: a value too long, NUL in text, out of range...
    asyncpg.IntegrityConstraintViolationError,  # class 23
    sqlite3.IntegrityError,
    sqlite3.DataError,
    ValueError,  # what a driver refuses to encode (asyncpg's client-side DataError is one)
    OverflowError,
)
_UNREACHABLE = (
    OSError,  # refused, reset, unreachable
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,  # the connection is closed, the pool is closing
    asyncpg.exceptions.OperatorInterventionError,  # shutting down, cannot connect now
    asyncpg.exceptions.InsufficientResourcesError,  # disk full, too many connections
    sqlite3.OperationalError,  # locked past the busy timeout, disk I/O error
    StorageError,
)


def refuses_row(exc: BaseException) -> bool:
    """True if the database refused what a row holds (not the database being unwell): the
    batch is worth splitting to find the row."""
    return isinstance(exc, _REFUSED_ROW) and not isinstance(exc, asyncpg.PostgresConnectionError)


def is_unreachable(exc: BaseException) -> bool:
    """True if ``exc`` says the database cannot be reached or cannot work right now (an
    outage: keep what was to be written and try again)."""
    return isinstance(exc, _UNREACHABLE) and not refuses_row(exc)


def is_unique_violation(exc: BaseException) -> bool:
    """True if ``exc`` is either engine's unique-constraint violation."""
    if isinstance(exc, asyncpg.UniqueViolationError):
        return True
    return isinstance(exc, sqlite3.IntegrityError) and "UNIQUE constraint failed" in str(exc)


@contextmanager
def conflict_on_duplicate(message: str) -> Iterator[None]:
    """Turn a unique violation raised inside the block into ``Conflict(message)``."""
    try:
        yield
    except Exception as exc:
        if is_unique_violation(exc):
            raise Conflict(message) from None
        raise
