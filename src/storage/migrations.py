"""One ordered migration history, the same on SQLite and PostgreSQL.

Approach: ``MIGRATIONS`` is an append-only list of named async steps. ``migrate(db)`` runs
the missing ones in order and records each in the ``sitelink_migrations`` table, all in
one transaction, so a failed step leaves nothing half done. It is idempotent and cheap
when nothing is pending, so the server runs it at every start; on PostgreSQL an advisory
lock (on SQLite the ``BEGIN IMMEDIATE`` write lock) makes concurrent starts wait for each
other instead of racing.

Steps use piccolo's DDL generation where piccolo can express the change for both engines
(``create_table(if_not_exists=True)``, single-column indexes, ``add_column``). Raw SQL is
used only for what piccolo cannot express portably: multi-column unique constraints
(piccolo adds them with ``ALTER TABLE ... ADD CONSTRAINT``, which SQLite lacks), created as
``CREATE [UNIQUE] INDEX IF NOT EXISTS`` which both engines accept.

The first step builds the tables from the current classes in ``tables.py``. So a later
step that changes a table must be written to be a no-op on a database that the first step
created from the already-changed class (for example: add a column only if it is missing).
SQLite cannot change a column's type; such a change needs a copy-table step.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import NamedTuple

from sitelink.cluster import eventlog
from sitelink.cluster.schema import create_cluster_tables
from sitelink.storage import event_ids, recent
from sitelink.storage.database import Database
from sitelink.storage.tables import (
    ALERT_TABLES,
    ALL_TABLES,
    COMPOSITE_INDEXES,
    MigrationRecord,
    WebSession,
)

# Any constant works; both instances of sitelink must use the same one.
PG_MIGRATION_LOCK_ID = 0x5173_4C1C


class Migration(NamedTuple):
    name: str
    apply: Callable[[Database], Awaitable[None]]


async def _initial_schema(db: Database) -> None:
    for table in ALL_TABLES:
        await table.create_table(if_not_exists=True)
    for index in COMPOSITE_INDEXES:
        columns = ", ".join(
            f'"{index.table._meta.get_column_by_name(name)._meta.db_column_name}"'
            for name in index.columns
        )
        unique = "UNIQUE " if index.unique else ""
        tablename = index.table._meta.tablename
        await db.engine.run_ddl(
            f'CREATE {unique}INDEX IF NOT EXISTS "{index.name}" ON "{tablename}" ({columns})'
        )


# Indexes of the alert tables: one open alert per rule and subject (partial, so resolved
# ones pile up as history), the outbox's due scan, and alert lists newest first.
ALERT_INDEXES = (
    'CREATE UNIQUE INDEX IF NOT EXISTS "alert_open_rule_subject_uq" ON "alert" '
    "(\"rule\", \"subject\") WHERE \"state\" <> 'resolved'",
    'CREATE INDEX IF NOT EXISTS "alert_started_ix" ON "alert" ("started_at")',
    'CREATE INDEX IF NOT EXISTS "alert_notification_due_ix" ON "alert_notification" '
    '("channel", "state", "next_attempt_at")',
    'CREATE INDEX IF NOT EXISTS "alert_notification_alert_ix" ON "alert_notification" ("alert")',
    'CREATE INDEX IF NOT EXISTS "alert_notification_attempt_ix" '
    'ON "alert_notification_attempt" ("notification")',
)


async def has_column(db: Database, table: str, column: str) -> bool:
    """True when ``table`` already has ``column`` (on either engine)."""
    if db.engine_name == "postgres":
        rows = await db.execute(
            "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND table_name = {} AND column_name = {}", table, column)
        return bool(rows)
    rows = await db.execute(f'PRAGMA table_info("{table}")')
    return any(row["name"] == column for row in rows)


async def add_missing_columns(db: Database, table: str, columns: dict[str, str]) -> None:
    """``ALTER TABLE ... ADD COLUMN`` for each of ``columns`` (name -> SQL type and default)
    that ``table`` lacks: a no-op on a database whose first step already built them."""
    for name, definition in columns.items():
        if not await has_column(db, table, name):
            await db.engine.run_ddl(f'ALTER TABLE "{table}" ADD COLUMN "{name}" {definition}')


async def _connectivity(db: Database) -> None:
    # Issue 16: the payload_map of `mapped` subscriptions; client certificates, WebSockets
    # and labels of sites (labels may come from another branch first: then it is kept).
    await add_missing_columns(db, "topic", {"payload_map": "TEXT NULL"})
    await add_missing_columns(db, "site", {
        "tls_client_cert_pem": "TEXT NULL",
        "tls_client_key_encrypted": "TEXT NULL",
        "tls_verify_hostname": "BOOLEAN NOT NULL DEFAULT TRUE",
        "transport": "VARCHAR(16) NOT NULL DEFAULT 'tcp'",
        "ws_path": "VARCHAR(255) NOT NULL DEFAULT '/mqtt'",
        "labels": "TEXT NOT NULL DEFAULT '{}'",
    })


async def _web_sessions(db: Database) -> None:
    """Server-side dashboard sessions (a no-op where the first step already made the table)."""
    await WebSession.create_table(if_not_exists=True)


async def _alerts(db: Database) -> None:
    """Issue 13: alert rules, channels, alerts, the notification outbox with its attempts,
    silences; and ``site.labels``, which rules match on (kept if another step added it)."""
    await add_missing_columns(db, "site", {"labels": "TEXT NOT NULL DEFAULT '{}'"})
    for table in ALERT_TABLES:
        await table.create_table(if_not_exists=True)
    for statement in ALERT_INDEXES:
        await db.engine.run_ddl(statement)


MIGRATIONS: tuple[Migration, ...] = (
    Migration("0001_initial_schema", _initial_schema),
    Migration("0003_connectivity", _connectivity),
    Migration("0004_event_id_reservation", event_ids.create_table),
    Migration("0005_web_sessions", _web_sessions),
    Migration("0006_alerts", _alerts),
    Migration("0007_event_log", eventlog.create_table),
    Migration("0008_cluster_leases", create_cluster_tables),
    Migration("0009_recent_readings", recent.create_table),
)


async def migrate(db: Database) -> list[str]:
    """Apply every pending migration in order; return the names applied (empty if none).

    Runs on the event loop. Safe to call at every start and from several processes.
    """
    applied_now: list[str] = []
    async with db.transaction():
        if db.engine_name == "postgres":
            await db.execute("SELECT pg_advisory_xact_lock({})", PG_MIGRATION_LOCK_ID)
        await MigrationRecord.create_table(if_not_exists=True)
        rows = await MigrationRecord.select(MigrationRecord.name)
        done = {row["name"] for row in rows}
        for migration in MIGRATIONS:
            if migration.name in done:
                continue
            await migration.apply(db)
            await MigrationRecord.insert(
                MigrationRecord(name=migration.name, applied_at=datetime.now(UTC))
            )
            applied_now.append(migration.name)
    return applied_now
