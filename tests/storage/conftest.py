"""Storage fixtures: every storage test runs on a real SQLite file and a real PostgreSQL.

PostgreSQL is the server at ``postgresql://postgres@127.0.0.1:5432``; the suite creates a
database of its own for the session (so concurrent runs never meet) and drops every table
after each test. When the server does not answer the PostgreSQL half is skipped, unless
``CI=true``, where that is a failure.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from sitelink.settings import Settings
from sitelink.storage.database import Database, open_database
from sitelink.storage.migrations import migrate
from sitelink.storage.sites import NewSite, create_site
from sitelink.storage.tables import ALL_TABLES, AlertChannel, AlertRule, ApiToken, AuditEntry, Site
from sitelink.storage.writer import StorageWriter

PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/test"
PG_BASE = "postgresql://postgres@127.0.0.1:5432"


async def _pg_admin(statement: str) -> None:
    connection = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def pg_database_url() -> Iterator[str]:
    """A PostgreSQL database created for this test session and dropped after it."""
    name = f"sitelink_test_{uuid.uuid4().hex[:12]}"
    try:
        asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        message = f"PostgreSQL at 127.0.0.1:5432 is not available: {exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    yield f"{PG_BASE}/{name}"
    asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings for one engine; the key file (if any) goes to the test's temp dir."""
    if request.param == "sqlite":
        return Settings(database_url=f"sqlite:///{tmp_path / 'sitelink.db'}")
    url: str = request.getfixturevalue("pg_database_url")
    # PostgreSQL's data_dir is the cwd: give a key so that nothing is written there.
    return Settings(database_url=url, secret_key=f"test-secret-{tmp_path.name}")


async def _drop_all_tables(settings: Settings) -> None:
    database = await open_database(settings)
    try:
        for table in reversed(ALL_TABLES):
            await database.execute(f'DROP TABLE IF EXISTS "{table._meta.tablename}" CASCADE')
        # the cluster's tables (migration 0007, raw SQL: not piccolo tables)
        await database.execute('DROP TABLE IF EXISTS "site_lease", "cluster_instance" CASCADE')
    finally:
        await database.close()


@pytest.fixture
async def fresh_db(db_settings: Settings) -> AsyncIterator[Database]:
    """An open database without any table (not migrated)."""
    if db_settings.engine == "postgres":
        await _drop_all_tables(db_settings)
    database = await open_database(db_settings)
    yield database
    await database.close()
    if db_settings.engine == "postgres":
        await _drop_all_tables(db_settings)


@pytest.fixture
async def db(db_settings: Settings) -> AsyncIterator[Database]:
    """An open, migrated, empty database.

    On PostgreSQL the schema stays for the session (migrating again is a no-op) and the
    rows are deleted after each test: much faster than dropping or truncating tables.
    """
    database = await open_database(db_settings)
    await migrate(database)
    yield database
    if db_settings.engine == "postgres":
        if not await database.ping():  # the test closed it (restart tests)
            database = await open_database(db_settings)
        # every other row cascades from these
        for table in (Site, ApiToken, AuditEntry, AlertRule, AlertChannel):
            await database.execute(f'DELETE FROM "{table._meta.tablename}"')
    await database.close()


@pytest.fixture
async def pg(pg_database_url: str) -> AsyncIterator[Database]:
    """The session's PostgreSQL database, migrated; its sites and cluster instances are
    deleted after the test (the lease and cluster tests)."""
    db = await open_database(Settings(database_url=pg_database_url, secret_key="k" * 40))
    await migrate(db)
    yield db
    await db.execute('DELETE FROM "site"')
    await db.execute('DELETE FROM "cluster_instance"')
    await db.close()


@pytest.fixture
async def site_id(db: Database) -> int:
    """A site to write about."""
    return (await create_site(db, NewSite(name="S", code="s1", broker_host="h"))).id


@pytest.fixture
async def writer(db: Database) -> AsyncIterator[StorageWriter]:
    """A started storage writer that the test flushes by hand; closed after."""
    w = StorageWriter(db, flush_interval_s=3600, retention_days=None)
    await w.start()
    yield w
    await w.close()
