"""The cluster's event log on PostgreSQL: one table, one id sequence, one NOTIFY channel.

Every instance appends what the others must learn — the public events of the SSE stream
(``type``, ``data`` and ``seq``: a public row's ``seq`` *is* its SSE id on every instance,
one more than the public row before it, as API.md wants) and the state
behind them (``state``: a msgpack ``LoggedState``, applied to the other instances' read
models: a site's status, traffic counters, device availability, site changes, commands for
a site's owner and their answers). A row may carry both, or either.

Ids are handed out in commit order: an append takes a transaction-level advisory lock
before its rows draw their ids, so a transaction with a higher id always commits after every
lower one. A reader that has seen id N therefore never finds a row below N later, and
"every row after my last id" is complete (ids of a rolled-back append are gaps, never late
arrivals); ``seq`` is numbered under the same lock. Appends run with
``synchronous_commit = off``: the commit does not wait for the WAL flush (a crash of
PostgreSQL itself may lose the last few ms of log; the state tables are written by the
storage writer as before), which keeps an operator's start reaching the stream within a
millisecond or so of the actor's event.

The commit sends ``NOTIFY sitelink_events, '<high id>'``; every instance LISTENs and reads
what it has not seen (``sitelink.cluster.replication``).

Retention: rows older than ``retention_s`` go, except the last ``KEEP_ROWS`` (what an SSE
client may resume from) and each site's and device's latest state (what a starting
instance rebuilds its read model from).

Every function runs on the asyncio loop, on a connection of the main process's asyncpg pool.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from sitelink.storage.database import Database

CHANNEL = "sitelink_events"
# Any constant works; every instance of a cluster must use the same one.
APPEND_LOCK_ID = 0x5173_4C1D
KEEP_ROWS = 10_000
"""Never pruned: the newest rows, at least what an SSE client may resume from (API.md)."""

TABLE_DDL = (
    "CREATE TABLE IF NOT EXISTS sitelink_event_log ("
    "id BIGSERIAL PRIMARY KEY, "
    "at TIMESTAMPTZ NOT NULL DEFAULT now(), "
    "origin TEXT NOT NULL, "
    "site_id INTEGER NULL, "
    "type TEXT NULL, "
    "data BYTEA NULL, "
    "kind TEXT NULL, "
    "subject TEXT NULL, "
    "state BYTEA NULL, "
    "seq BIGINT NULL)"
)
# The public rows by SSE id (the next one's number, a starting instance's buffer).
SEQ_INDEX_DDL = (
    "CREATE UNIQUE INDEX IF NOT EXISTS sitelink_event_log_seq_uq "
    "ON sitelink_event_log (seq) WHERE seq IS NOT NULL"
)
# The latest state per site and subject (a starting instance's rebuild, and pruning).
LATEST_INDEX_DDL = (
    "CREATE INDEX IF NOT EXISTS sitelink_event_log_latest_ix "
    "ON sitelink_event_log (kind, site_id, subject, id)"
)
# The kinds of state rows whose latest per site and subject a starting instance applies.
LASTING_KINDS = ("site.status", "device.availability")


async def create_table(db: Database) -> None:
    """The migration step: PostgreSQL only (SQLite is one instance and keeps its own ids)."""
    if db.engine_name != "postgres":
        return
    await db.engine.run_ddl(TABLE_DDL)
    await db.engine.run_ddl(LATEST_INDEX_DDL)
    await db.engine.run_ddl(SEQ_INDEX_DDL)


class NewRow(msgspec.Struct, frozen=True, kw_only=True):
    """A row to append: public (``type``, ``data`` as JSON), state (``kind``, ``state`` as
    msgpack), or both."""

    site_id: int | None
    type: str | None = None
    data: bytes | None = None
    kind: str | None = None
    subject: str | None = None
    state: bytes | None = None


class Row(msgspec.Struct, frozen=True, kw_only=True):
    """A row of the log, as read back (``seq``: its SSE id when it is public)."""

    id: int
    seq: int | None
    origin: str
    site_id: int | None
    type: str | None
    data: bytes | None
    state: bytes | None


_COLUMNS = "id, seq, origin, site_id, type, data, state"
IDLE_IN_APPEND = "5s"  # an append takes milliseconds; its holder paused longer is cut off


def _row(record: Any) -> Row:
    return Row(id=record["id"], seq=record["seq"], origin=record["origin"],
               site_id=record["site_id"],
               type=record["type"], data=record["data"], state=record["state"])


async def append(pool: Any, origin: str,
                 rows: Sequence[NewRow]) -> list[tuple[int, int | None]]:
    """Append ``rows`` in order, in one transaction, and NOTIFY the new high id; each row's
    ``(id, seq)``, in the same order (consecutive: the advisory lock keeps other appends
    out; ``seq`` None for a row that is not public)."""
    async with pool.acquire() as connection, connection.transaction():
        # The lock serialises every instance's appends: a process paused or cut off while it
        # holds it must not stall the cluster's stream, so PostgreSQL ends such a session.
        await connection.execute(
            "SET LOCAL synchronous_commit = off; "
            f"SET LOCAL idle_in_transaction_session_timeout = '{IDLE_IN_APPEND}'")
        await connection.execute("SELECT pg_advisory_xact_lock($1)", APPEND_LOCK_ID)
        seq = int(await connection.fetchval(
            "SELECT coalesce(max(seq), 0) FROM sitelink_event_log WHERE seq IS NOT NULL"))
        seqs: list[int | None] = []
        for row in rows:
            if row.type is not None:
                seq += 1
            seqs.append(seq if row.type is not None else None)
        records = await connection.fetch(
            "INSERT INTO sitelink_event_log "
            "(origin, site_id, type, data, kind, subject, state, seq) "
            "SELECT $1, u.site_id, u.type, u.data, u.kind, u.subject, u.state, u.seq "
            "FROM unnest($2::integer[], $3::text[], $4::bytea[], $5::text[], $6::text[], "
            "$7::bytea[], $8::bigint[]) "
            "WITH ORDINALITY AS u(site_id, type, data, kind, subject, state, seq, n) "
            "ORDER BY u.n RETURNING id",
            origin, [r.site_id for r in rows], [r.type for r in rows], [r.data for r in rows],
            [r.kind for r in rows], [r.subject for r in rows], [r.state for r in rows], seqs)
        ids = sorted(int(record["id"]) for record in records)
        await connection.execute("SELECT pg_notify($1, $2)", CHANNEL, str(ids[-1]))
    return list(zip(ids, seqs, strict=True))


async def after(pool: Any, last_id: int, limit: int = 5_000) -> list[Row]:
    """Up to ``limit`` rows after ``last_id``, oldest first."""
    async with pool.acquire() as connection:
        records = await connection.fetch(
            f"SELECT {_COLUMNS} FROM sitelink_event_log WHERE id > $1 ORDER BY id LIMIT $2",
            last_id, limit)
    return [_row(r) for r in records]


async def high_ids(pool: Any) -> tuple[int, int]:
    """The highest id and the highest ``seq`` in the log (0 when there is none)."""
    async with pool.acquire() as connection:
        record = await connection.fetchrow(
            "SELECT coalesce(max(id), 0) AS id, coalesce(max(seq), 0) AS seq "
            "FROM sitelink_event_log")
    return int(record["id"]), int(record["seq"])


async def public_tail(pool: Any, up_to: int, count: int) -> list[Row]:
    """The last ``count`` public rows up to ``up_to``, oldest first (a starting instance's
    SSE buffer, so ``Last-Event-ID`` from before its start resumes)."""
    async with pool.acquire() as connection:
        records = await connection.fetch(
            f"SELECT {_COLUMNS} FROM sitelink_event_log WHERE id <= $1 AND seq IS NOT NULL "
            "ORDER BY seq DESC LIMIT $2", up_to, count)
    return [_row(r) for r in reversed(records)]


async def latest_states(pool: Any, up_to: int) -> list[Row]:
    """Each site's and device's latest lasting state up to ``up_to``, oldest first."""
    async with pool.acquire() as connection:
        records = await connection.fetch(
            f"SELECT {_COLUMNS} FROM sitelink_event_log WHERE id IN ("
            "SELECT max(id) FROM sitelink_event_log WHERE kind = ANY($1::text[]) AND id <= $2 "
            "GROUP BY kind, site_id, subject) ORDER BY id", list(LASTING_KINDS), up_to)
    return [_row(r) for r in records]


async def prune(pool: Any, retention_s: float, keep_rows: int = KEEP_ROWS) -> int:
    """Delete rows older than ``retention_s`` below the newest ``keep_rows``, except the
    latest lasting state of each site and device and the last public row; how many went."""
    async with pool.acquire() as connection:
        status = await connection.execute(
            "DELETE FROM sitelink_event_log WHERE at < now() - make_interval(secs => $1) "
            "AND id <= (SELECT coalesce(max(id), 0) FROM sitelink_event_log) - $2 "
            # the last public row stays: the next SSE id is counted from it
            "AND (seq IS NULL OR seq < (SELECT max(seq) FROM sitelink_event_log)) "
            "AND id NOT IN (SELECT max(id) FROM sitelink_event_log "
            "WHERE kind = ANY($3::text[]) GROUP BY kind, site_id, subject)",
            float(retention_s), keep_rows, list(LASTING_KINDS))
    return int(status.split()[-1])
