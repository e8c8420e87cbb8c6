"""SQLite's recent readings: appended to a small table, moved into ``reading`` every minute.

On a grown ``reading`` table each sensor's newest ``(sensor, at)`` index entries sit on a
leaf page of their own, so every flush of a busy fleet wrote about one page per sensor it
touched, however few readings each had: most of a busy instance's CPU (bench/PROPOSALS.md).
So on SQLite:

- the storage writer appends readings to ``reading_recent``: no index but its key, and no
  foreign key, whose cascade would scan the table once per sensor deleted. Deleting a site
  or a device deletes its recent readings first (``delete_of``, one scan), and a merge
  keeps only readings of sensors that exist;
- every ``MERGE_EVERY_S`` and before pruning, ``merge`` moves them into
  ``reading`` in one transaction, ordered by ``(sensor, at)``: each sensor's index leaf is
  then written once per merge, not once per flush (``bench.reading_layout``: 0.29x of the
  rows' CPU);
- a reading keeps its id: ``reading_recent`` numbers with ``AUTOINCREMENT`` from above every
  id ``reading`` had when it was made, and the merge copies ids. So paging by ``(at, id)``
  neither repeats nor skips a reading that moves meanwhile;
- readers read both tables (``source``, ``select``). A stop or a crash leaves unmerged
  readings where they are, readable, merged by the next writer: a stop stays quick.

PostgreSQL appends to ``reading`` with COPY, as before: the other instances of a cluster
follow ``reading`` by id (``cluster.readings``), and it has no such page cost to save.
"""

from __future__ import annotations

from typing import Any

from sitelink.storage.database import Database

MERGE_EVERY_S = 60.0
"""At idle a sensor has a reading or two a minute, so merges ten seconds apart still wrote a
page per reading (bench.writer's idle fleet, pages written to the log per flush: 69 merged
every 10 s, 67 with no recent table, 55 merged every minute). A busy fleet reaches
``reading_upkeep.MERGE_READINGS`` first."""

_COLUMNS = '"id", "sensor", "at", "value"'
_BOTH = (f'(SELECT {_COLUMNS} FROM "reading" UNION ALL '
         f'SELECT {_COLUMNS} FROM "reading_recent")')


async def create_table(db: Database) -> None:
    """The migration step: ``reading_recent`` on SQLite, its ids above ``reading``'s (a
    no-op on PostgreSQL)."""
    if db.engine_name != "sqlite":
        return
    await db.engine.run_ddl(
        'CREATE TABLE IF NOT EXISTS "reading_recent" ("id" INTEGER PRIMARY KEY AUTOINCREMENT, '
        '"sensor" INTEGER NOT NULL, "at" TIMESTAMPTZ NOT NULL, '
        '"value" DOUBLE PRECISION NOT NULL)')
    await db.execute(
        "INSERT INTO sqlite_sequence (name, seq) SELECT 'reading_recent', "
        '(SELECT coalesce(max("id"), 0) FROM "reading") WHERE NOT EXISTS '
        "(SELECT 1 FROM sqlite_sequence WHERE name = 'reading_recent')")


def appended_to(db: Database) -> str:
    """The table the storage writer appends readings to."""
    return "reading_recent" if db.engine_name == "sqlite" else "reading"


def source(engine_name: str) -> str:
    """What a query on ``engine_name`` (``Database.engine_name``) reads readings from
    (``id``, ``sensor``, ``at``, ``value``): a table or a parenthesised subquery, to put
    after ``FROM``."""
    return _BOTH if engine_name == "sqlite" else '"reading"'


def select(db: Database, columns: str, where: str, args: list[Any], *, order: str,
           limit: int) -> tuple[str, list[Any]]:
    """``SELECT columns ... WHERE where ORDER BY order LIMIT limit`` over the readings, and
    its values (``where`` has ``{}`` placeholders for ``args``; ``columns`` must hold those
    ``order`` names). On SQLite each table is ordered and limited first, then the two: an
    index walk stops after ``limit`` rows, as on one table."""
    def one(table: str) -> str:
        return (f'SELECT {columns} FROM "{table}" WHERE {where} '
                f"ORDER BY {order} LIMIT {int(limit)}")

    if db.engine_name != "sqlite":
        return one("reading"), args
    return (f'SELECT * FROM ({one("reading")}) UNION ALL SELECT * FROM '
            f'({one("reading_recent")}) ORDER BY {order} LIMIT {int(limit)}', [*args, *args])


async def merge(db: Database) -> int:
    """Move every recent reading into ``reading`` (SQLite; one write transaction, ids kept;
    readings of sensors that are gone are dropped); return how many left the recent table.
    Call it where the storage writer writes, under its lock."""
    if db.engine_name != "sqlite":
        return 0
    async with db.writer_transaction():
        count = (await db.execute('SELECT count(*) AS n FROM "reading_recent"'))[0]["n"]
        if count:
            await db.execute(f'INSERT INTO "reading" ({_COLUMNS}) SELECT {_COLUMNS} '
                             'FROM "reading_recent" WHERE "sensor" IN (SELECT "id" FROM "sensor") '
                             'ORDER BY "sensor", "at"')
            await db.execute('DELETE FROM "reading_recent"')
    return int(count)


async def delete_of(db: Database, devices: str | None, *args: Any) -> None:
    """Delete the recent readings of the devices ``devices`` selects (a condition on ``d``,
    the ``device`` table, with ``{}`` placeholders for ``args``; None: every device), in
    the transaction that deletes those devices, before it does (SQLite; nothing on
    PostgreSQL, whose readings go with their sensors)."""
    if db.engine_name != "sqlite":
        return
    if devices is None:
        await db.execute('DELETE FROM "reading_recent"')
        return
    await db.execute(
        'DELETE FROM "reading_recent" WHERE "sensor" IN (SELECT s."id" FROM "sensor" s '
        f'JOIN "device" d ON d."id" = s."device" WHERE {devices})', *args)
