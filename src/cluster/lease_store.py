"""The SQL of the cluster (PostgreSQL): instance rows, and claiming, renewing and releasing
site leases. Every time is the database's ``now()``; no clock of this host is written.

Runs on the event loop (the main process's database pool). Each function is one statement
or a few, each its own transaction: a claim locks only the rows it takes (``FOR UPDATE
SKIP LOCKED``), so instances claiming at once take different sites and never wait for each
other.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

import msgspec

from sitelink.storage.database import Database

_TTL = "make_interval(secs => {})"


class Claimed(msgspec.Struct, frozen=True):
    site_id: int
    epoch: int
    previous: str | None  # the owner before (None: never owned)


class Snapshot(msgspec.Struct, frozen=True, kw_only=True):
    """The cluster as the database saw it in one read."""

    instances: tuple[str, ...]  # live (heartbeat within the TTL)
    owners: dict[int, str]  # enabled site -> owner of its valid lease
    enabled: frozenset[int]
    workers: dict[str, int] = {}  # live instance -> its site workers, as its row last said


class InstanceRow(msgspec.Struct, frozen=True, kw_only=True):
    instance_id: str
    started_at: datetime
    last_seen_at: datetime
    api_address: str
    workers: list[dict[str, Any]]


async def register(db: Database, *, me: str, incarnation: str, api_address: str,
                   ttl_s: float) -> bool:
    """Write this instance's row; False when a live process (heartbeat within the TTL)
    already holds the same instance id."""
    rows = await db.execute(
        'INSERT INTO "cluster_instance" ("instance_id", "incarnation", "started_at", '
        '"last_seen_at", "api_address", "workers") VALUES ({}, {}, now(), now(), {}, \'[]\') '
        'ON CONFLICT ("instance_id") DO UPDATE SET "incarnation" = EXCLUDED."incarnation", '
        '"started_at" = now(), "last_seen_at" = now(), "api_address" = EXCLUDED."api_address", '
        '"workers" = \'[]\' WHERE "cluster_instance"."incarnation" = EXCLUDED."incarnation" '
        f'OR "cluster_instance"."last_seen_at" < now() - {_TTL} RETURNING "instance_id"',
        me, incarnation, api_address, float(ttl_s))
    return bool(rows)


async def register_first_free(db: Database, *, wanted: str, incarnation: str,
                              api_address: str, ttl_s: float) -> str:
    """Register under ``wanted`` unless a live process holds it, else under the first free
    ``{wanted}-2``, ``-3``, … (a row whose heartbeat is older than the TTL is free); the
    name got. Each try is one atomic statement, so instances starting at the same moment
    get different names."""
    name, suffix = wanted, 1
    while not await register(db, me=name, incarnation=incarnation, api_address=api_address,
                             ttl_s=ttl_s):
        suffix += 1
        name = f"{wanted}-{suffix}"
    return name


async def heartbeat(db: Database, *, me: str, incarnation: str,
                    workers: Sequence[dict[str, Any]]) -> bool:
    """Refresh this instance's row; False when another process took the instance id over."""
    rows = await db.execute(
        'UPDATE "cluster_instance" SET "last_seen_at" = now(), "workers" = {} '
        'WHERE "instance_id" = {} AND "incarnation" = {} RETURNING 1',
        json.dumps(list(workers)), me, incarnation)
    return bool(rows)


async def deregister(db: Database, *, me: str, incarnation: str) -> None:
    await db.execute('DELETE FROM "cluster_instance" WHERE "instance_id" = {} '
                     'AND "incarnation" = {}', me, incarnation)


async def ensure_leases(db: Database) -> None:
    """A lease row (owned by nobody) for every enabled site that has none yet."""
    await db.execute(
        'INSERT INTO "site_lease" ("site_id") SELECT "id" FROM "site" WHERE "is_enabled" '
        'ON CONFLICT DO NOTHING')


async def renew(db: Database, *, me: str, held: dict[int, int],
                ttl_s: float) -> dict[int, int]:
    """Extend the leases this instance holds (site -> epoch) that are still its own under
    the same epoch — nobody has claimed them since, even if they expired meanwhile (a
    database outage); site -> epoch of those renewed (one missing is no longer held)."""
    if not held:
        return {}
    sites = sorted(held)
    rows = await db.execute(
        f'UPDATE "site_lease" SET "expires_at" = now() + {_TTL} '
        'FROM unnest({}::int[], {}::bigint[]) AS "h" ("site_id", "epoch") '
        'WHERE "site_lease"."site_id" = "h"."site_id" AND "site_lease"."epoch" = "h"."epoch" '
        'AND "site_lease"."owner" = {} RETURNING "site_lease"."site_id", "site_lease"."epoch"',
        float(ttl_s), sites, [held[s] for s in sites], me)
    return {row["site_id"]: row["epoch"] for row in rows}


async def release(db: Database, *, me: str, site_ids: Collection[int] | None) -> None:
    """Give up leases (None: every lease this instance holds): expired now, so free for a
    claim at once. The owner stays written: the next claim learns where the site was."""
    if site_ids is None:
        await db.execute('UPDATE "site_lease" SET "expires_at" = now() '
                         'WHERE "owner" = {} AND "expires_at" > now()', me)
    elif site_ids:
        await db.execute('UPDATE "site_lease" SET "expires_at" = now() WHERE "owner" = {} '
                         'AND "site_id" = ANY({}) AND "expires_at" > now()', me,
                         sorted(site_ids))


async def release_strays(db: Database, *, me: str, held: Collection[int]) -> None:
    """Leases in this instance's name that it does not run (from before a lapse, or a
    previous process under the same id): released, so a claim raises their epoch."""
    await db.execute('UPDATE "site_lease" SET "expires_at" = now() WHERE "owner" = {} '
                     'AND "expires_at" > now() AND NOT ("site_id" = ANY({}))', me, sorted(held))


async def claim(db: Database, *, me: str, count: int, ttl_s: float,
                exclude: Collection[int]) -> list[Claimed]:
    """Take up to ``count`` enabled sites whose lease is free or expired (not those in
    ``exclude``), raising each one's epoch. Rows another claim holds are skipped."""
    if count <= 0:
        return []
    rows = await db.execute(
        'WITH "free" AS (SELECT "l"."site_id", "l"."owner" AS "previous" FROM "site_lease" "l" '
        'JOIN "site" "s" ON "s"."id" = "l"."site_id" WHERE "s"."is_enabled" '
        'AND ("l"."owner" IS NULL OR "l"."expires_at" <= now()) '
        'AND NOT ("l"."site_id" = ANY({})) ORDER BY "l"."site_id" LIMIT {} '
        'FOR UPDATE OF "l" SKIP LOCKED) '
        'UPDATE "site_lease" SET "owner" = {}, "epoch" = "site_lease"."epoch" + 1, '
        f'"expires_at" = now() + {_TTL}, "acquired_at" = now() FROM "free" '
        'WHERE "site_lease"."site_id" = "free"."site_id" '
        'RETURNING "site_lease"."site_id", "site_lease"."epoch", "free"."previous"',
        sorted(exclude), count, me, float(ttl_s))
    return [Claimed(row["site_id"], row["epoch"], row["previous"]) for row in rows]


async def snapshot(db: Database, *, ttl_s: float) -> Snapshot:
    instances = await db.execute(
        f'SELECT "instance_id", "workers" FROM "cluster_instance" WHERE "last_seen_at" > now() '
        f'- {_TTL} ORDER BY "instance_id"', float(ttl_s))
    enabled = await db.execute('SELECT "id" FROM "site" WHERE "is_enabled"')
    owners = await db.execute(
        'SELECT "l"."site_id", "l"."owner" FROM "site_lease" "l" JOIN "site" "s" '
        'ON "s"."id" = "l"."site_id" WHERE "s"."is_enabled" AND "l"."owner" IS NOT NULL '
        'AND "l"."expires_at" > now()')
    return Snapshot(instances=tuple(row["instance_id"] for row in instances),
                    owners={row["site_id"]: row["owner"] for row in owners},
                    enabled=frozenset(row["id"] for row in enabled),
                    workers={row["instance_id"]: len(json.loads(row["workers"] or "[]"))
                             for row in instances})


async def instances(db: Database, *, ttl_s: float) -> list[InstanceRow]:
    """The live instances' rows, by id."""
    rows = await db.execute(
        'SELECT "instance_id", "started_at", "last_seen_at", "api_address", "workers" '
        f'FROM "cluster_instance" WHERE "last_seen_at" > now() - {_TTL} '
        'ORDER BY "instance_id"', float(ttl_s))
    return [InstanceRow(instance_id=row["instance_id"], started_at=row["started_at"],
                        last_seen_at=row["last_seen_at"], api_address=row["api_address"],
                        workers=json.loads(row["workers"] or "[]")) for row in rows]


async def leased_sites(db: Database) -> list[int]:
    """Sites whose valid lease any instance holds (PostgreSQL; at start-up, before this
    instance registered: a lease under its own MQTT_INSTANCE_ID may be another live
    process's, and one its dead predecessor held is marked unknown when claimed again)."""
    rows = await db.execute('SELECT "site_id" FROM "site_lease" WHERE "owner" IS NOT NULL '
                            'AND "expires_at" > now()')
    return [row["site_id"] for row in rows]


async def codes_by_owner(db: Database) -> dict[str, list[str]]:
    """The codes of the enabled sites each instance holds a valid lease of."""
    rows = await db.execute(
        'SELECT "l"."owner", "s"."code" FROM "site_lease" "l" JOIN "site" "s" '
        'ON "s"."id" = "l"."site_id" WHERE "s"."is_enabled" AND "l"."owner" IS NOT NULL '
        'AND "l"."expires_at" > now() ORDER BY "s"."code"')
    owned: dict[str, list[str]] = {}
    for row in rows:
        owned.setdefault(row["owner"], []).append(row["code"])
    return owned
