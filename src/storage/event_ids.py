"""Event ids that stay unique across restarts: a reserved ceiling kept in storage.

A run's event ids start just above the ceiling the previous runs reserved, and a run never
numbers past its own reservation without first raising it, so no id is ever handed out
twice — not after a clean stop, not after ``kill -9`` (the reservation is written before
the ids are used, never after). Ids stay one plain increasing integer (API.md: they
increase by one per event within a run); a restart skips the rest of the previous
reservation, which costs nothing but numbers.

One row in ``sitelink_event_ids``; every function runs on the asyncio loop, in a write
transaction, so two processes starting at once get different ranges.
"""

from __future__ import annotations

from sitelink.storage.database import Database

BLOCK = 1 << 24
"""Ids reserved ahead: 16.7 M events (minutes at the heaviest reading rates), renewed when
half is used, so a slow write has millions of events of margin."""

TABLE_DDL = (
    "CREATE TABLE IF NOT EXISTS sitelink_event_ids "
    "(id INTEGER PRIMARY KEY, reserved BIGINT NOT NULL)"
)


async def create_table(db: Database) -> None:
    """The migration step (a no-op when the table exists)."""
    await db.engine.run_ddl(TABLE_DDL)


async def start_run(db: Database, block: int = BLOCK) -> tuple[int, int]:
    """``(last_id, reserved)`` for a new run: its first event is ``last_id + 1``, above
    every id any earlier run could have used; it may number up to ``reserved``."""
    async with db.transaction():
        previous = await _reserved(db)
        reserved = previous + block
        await _store(db, reserved, exists=previous > 0)
    return previous, reserved


async def extend(db: Database, last_id: int, block: int = BLOCK) -> int:
    """Raise the reservation to ``last_id + block`` (never lower it); the new ceiling."""
    async with db.transaction():
        previous = await _reserved(db)
        reserved = max(previous, last_id + block)
        await _store(db, reserved, exists=previous > 0)
    return reserved


async def _reserved(db: Database) -> int:
    rows = await db.execute("SELECT reserved FROM sitelink_event_ids WHERE id = 1")
    return int(rows[0]["reserved"]) if rows else 0


async def _store(db: Database, reserved: int, *, exists: bool) -> None:
    if exists:
        await db.execute("UPDATE sitelink_event_ids SET reserved = {} WHERE id = 1", reserved)
    else:
        await db.execute("INSERT INTO sitelink_event_ids (id, reserved) VALUES (1, {})",
                         reserved)
