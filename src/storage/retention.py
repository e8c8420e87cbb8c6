"""Pruning by age: readings past ``SITELINK_READINGS_RETENTION_DAYS``, and the history past
``SITELINK_HISTORY_RETENTION_DAYS``, so that an instance left alone for months does not keep
every reading, connection attempt and availability flap of its fleet for ever.

The history is what grows with time rather than with the fleet:

- connection events, except each site's newest one before the cut-off: the state it sets is
  where a site's uptime over the last 24 h starts from (``history.connection_stats``), so a
  site connected for months without an event keeps its ``connected``;
- availability intervals that ended before the cut-off (an open one is the device's present;
  uptime reads the last 24 h only);
- commands sent before it;
- alerts resolved before it, with their notifications and delivery attempts (cascade).

The audit trail is not pruned: who did what is kept until an operator decides otherwise.

Every table goes the same way: one statement deletes at most a chunk of rows, by id, under
the writer's lock, and says how many; the writer's upkeep (``reading_upkeep``) takes one
chunk per flush, so a long backlog lets flushes in. On SQLite, merge the recent readings
first (``recent``): only ``reading`` is pruned.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime

from sitelink.storage.database import Database

READINGS_CHUNK = 10_000
HISTORY_CHUNK = 5_000

# The rows to delete, chosen by the cut-off (each {} is the cut-off).
_READINGS = 'SELECT "id" FROM "reading" WHERE "at" < {}'
_HISTORY = {
    "connection_event": (
        'SELECT e."id" FROM "connection_event" e WHERE e."at" < {} AND EXISTS ('
        'SELECT 1 FROM "connection_event" n WHERE n."site" = e."site" AND n."at" < {} '
        'AND (n."at" > e."at" OR (n."at" = e."at" AND n."id" > e."id")))'
    ),
    "availability_interval": 'SELECT "id" FROM "availability_interval" WHERE "ended_at" < {}',
    "command": 'SELECT "id" FROM "command" WHERE "created_at" < {}',
    # resolved before the cut-off, so started before it too: that half uses alert_started_ix
    "alert": 'SELECT "id" FROM "alert" WHERE "started_at" < {} AND "resolved_at" < {}',
}


async def reading_chunks(db: Database, lock: asyncio.Lock, older_than: datetime
                         ) -> AsyncIterator[int]:
    """Delete readings taken before ``older_than``, a chunk at a time: how many each."""
    async for deleted in _chunks(db, lock, "reading", _READINGS, older_than, READINGS_CHUNK):
        yield deleted


async def history_chunks(db: Database, lock: asyncio.Lock, older_than: datetime
                         ) -> AsyncIterator[tuple[str, int]]:
    """Delete history older than ``older_than``, a chunk at a time: (table, how many) each."""
    for table, doomed in _HISTORY.items():
        async for deleted in _chunks(db, lock, table, doomed, older_than, HISTORY_CHUNK):
            yield table, deleted


async def _chunks(db: Database, lock: asyncio.Lock, table: str, doomed: str,
                  older_than: datetime, chunk: int) -> AsyncIterator[int]:
    statement = f'DELETE FROM "{table}" WHERE "id" IN ({doomed} LIMIT {{}}) RETURNING "id"'
    cutoffs = (older_than,) * doomed.count("{}")
    while True:
        async with lock:
            rows = await db.execute(statement, *cutoffs, chunk)
        if rows:
            yield len(rows)
        if len(rows) < chunk:
            return
