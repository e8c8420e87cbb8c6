"""Pruning the history tables by age, so that an instance left alone for months does not
keep every connection attempt and every availability flap of its fleet for ever.

Readings have their own retention (``reading_upkeep``). This is the rest of what grows with
time, pruned older than ``SITELINK_HISTORY_RETENTION_DAYS``:

- connection events, except each site's newest one before the cut-off: the state it sets is
  where a site's uptime over the last 24 h starts from (``history.connection_stats``), so a
  site connected for months without an event keeps its ``connected``;
- availability intervals that ended before the cut-off (an open one is the device's present;
  uptime reads the last 24 h only);
- commands sent before it;
- alerts resolved before it, with their notifications and delivery attempts (cascade).

The audit trail is not pruned: who did what is kept until an operator decides otherwise.

Each statement deletes at most ``chunk`` rows and runs under the writer's lock; the writer's
upkeep (``reading_upkeep``) takes one chunk per flush, so a long backlog lets flushes in.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime

from sitelink.storage.database import Database

CHUNK = 5_000

# One statement per table: the ids of up to {chunk} rows to delete, chosen by the cut-off.
_DOOMED = {
    "connection_event": (
        'SELECT e."id" FROM "connection_event" e WHERE e."at" < {cutoff} AND EXISTS ('
        'SELECT 1 FROM "connection_event" n WHERE n."site" = e."site" AND n."at" < {cutoff} '
        'AND (n."at" > e."at" OR (n."at" = e."at" AND n."id" > e."id")))'
    ),
    "availability_interval": (
        'SELECT "id" FROM "availability_interval" WHERE "ended_at" < {cutoff}'
    ),
    "command": 'SELECT "id" FROM "command" WHERE "created_at" < {cutoff}',
    # resolved before the cut-off, so started before it too: that half uses alert_started_ix
    "alert": (
        'SELECT "id" FROM "alert" WHERE "started_at" < {cutoff} AND "resolved_at" < {cutoff}'
    ),
}


async def history_chunks(db: Database, lock: asyncio.Lock, older_than: datetime, *,
                         chunk: int = CHUNK) -> AsyncIterator[tuple[str, int]]:
    """Delete history older than ``older_than``, a chunk at a time: (table, how many) each."""
    for table, doomed in _DOOMED.items():
        select = doomed.replace("{cutoff}", "{}")
        cutoffs = (older_than,) * doomed.count("{cutoff}")
        statement = (f'DELETE FROM "{table}" WHERE "id" IN ({select} LIMIT {{}}) '
                     'RETURNING "id"')
        while True:
            async with lock:
                rows = await db.execute(statement, *cutoffs, chunk)
            if rows:
                yield table, len(rows)
            if len(rows) < chunk:
                break
