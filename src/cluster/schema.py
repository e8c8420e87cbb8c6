"""The cluster's two tables (migration 0008), on PostgreSQL only.

- ``site_lease``: one row per site that has ever been enabled — who runs or ran it
  (``owner``, an instance id; NULL until the first claim), the fencing ``epoch`` (raised at
  every claim) and ``expires_at`` on the database's clock (a release expires it at once).
  Deleting a site deletes its lease.
- ``cluster_instance``: one row per running instance — its heartbeat ``last_seen_at``, when
  it started, where its API listens, its workers (JSON, so any instance can answer
  ``GET /api/v1/cluster``), and a random ``incarnation`` that tells two processes using
  the same instance id apart.

SQLite is one instance (``instance_lock``): the step does nothing there.
"""

from __future__ import annotations

from sitelink.storage.database import Database

_DDL = (
    'CREATE TABLE IF NOT EXISTS "site_lease" ('
    '"site_id" INTEGER PRIMARY KEY REFERENCES "site" ("id") ON DELETE CASCADE, '
    '"owner" VARCHAR(255) NULL, '
    '"epoch" BIGINT NOT NULL DEFAULT 0, '
    '"expires_at" TIMESTAMPTZ NOT NULL DEFAULT now(), '
    '"acquired_at" TIMESTAMPTZ NULL)',
    'CREATE INDEX IF NOT EXISTS "site_lease_owner_ix" ON "site_lease" ("owner")',
    'CREATE TABLE IF NOT EXISTS "cluster_instance" ('
    '"instance_id" VARCHAR(255) PRIMARY KEY, '
    '"incarnation" VARCHAR(64) NOT NULL, '
    '"started_at" TIMESTAMPTZ NOT NULL, '
    '"last_seen_at" TIMESTAMPTZ NOT NULL, '
    '"api_address" VARCHAR(255) NOT NULL DEFAULT \'\', '
    '"workers" TEXT NOT NULL DEFAULT \'[]\')',
)


async def create_cluster_tables(db: Database) -> None:
    """Migration 0008: the lease and instance tables (idempotent; nothing on SQLite)."""
    if db.engine_name != "postgres":
        return
    for statement in _DDL:
        await db.engine.run_ddl(statement)
