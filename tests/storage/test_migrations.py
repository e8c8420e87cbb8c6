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


async def test_connectivity_adds_payload_map_to_a_database_without_it(fresh_db: Database) -> None:
    """0003_connectivity on a database made before it (the column dropped after the first
    step): the column is added; on one whose first step already had it, it is a no-op."""
    from sitelink.storage.migrations import has_column

    await MIGRATIONS[0].apply(fresh_db)
    assert await has_column(fresh_db, "topic", "payload_map")
    await fresh_db.engine.run_ddl('ALTER TABLE "topic" DROP COLUMN "payload_map"')
    assert not await has_column(fresh_db, "topic", "payload_map")
    connectivity = next(m for m in MIGRATIONS if m.name == "0003_connectivity")
    await connectivity.apply(fresh_db)
    assert await has_column(fresh_db, "topic", "payload_map")
    await connectivity.apply(fresh_db)  # and again: nothing to do, nothing raised
