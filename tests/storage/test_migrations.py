"""Migrations: one history on both engines, safe to run at every start."""

from __future__ import annotations

import asyncio

from sitelink.settings import Settings
from sitelink.storage.database import Database, open_database
from sitelink.storage.migrations import MIGRATIONS, migrate
from sitelink.storage.tables import ALL_TABLES, MigrationRecord


async def test_migrate_twice_is_a_no_op(db: Database) -> None:
    """The fixture migrated once; a second run applies nothing and records nothing new."""
    assert await migrate(db) == []
    rows = await MigrationRecord.select(MigrationRecord.name)
    assert [row["name"] for row in rows] == [m.name for m in MIGRATIONS]


async def test_every_table_exists_after_migrate(db: Database) -> None:
    """Each table of the schema answers a count after migration."""
    for table in ALL_TABLES:
        assert await table.count() >= 0


async def test_migrate_on_a_fresh_database_applies_everything(fresh_db: Database) -> None:
    """A new database gets every migration, in order; the next run applies nothing."""
    assert await migrate(fresh_db) == [m.name for m in MIGRATIONS]
    assert await migrate(fresh_db) == []


async def test_migrations_survive_a_reopen(db: Database, db_settings: Settings) -> None:
    """After closing and opening again, the history is there and nothing reapplies."""
    await db.close()
    reopened = await open_database(db_settings)
    try:
        assert await migrate(reopened) == []
    finally:
        await reopened.close()


async def test_ping_and_engine_name(db: Database, db_settings: Settings) -> None:
    """Health: ping answers True on an open database; the engine is named."""
    assert await db.ping() is True
    assert db.engine_name == db_settings.engine


async def test_concurrent_migrations_wait_for_each_other(fresh_db: Database) -> None:
    """Two starts migrating at once: one applies, the other finds nothing to do."""
    results = await asyncio.gather(migrate(fresh_db), migrate(fresh_db))
    assert sorted(results) == [[], [m.name for m in MIGRATIONS]]
