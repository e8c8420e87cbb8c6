"""Connection history of a site: the events, and connects, drops and uptime over 24 h.

Every function runs on the asyncio event loop. Rows are written by ``StorageWriter`` from
``ConnectionEventOccurred`` events.

Uptime: the site counts as up from a ``connected`` event until the next ``lost``,
``failed`` or ``stopped``. The window is the last 24 h, or starts at the first event ever
recorded if that is later (a new site is not 0 % for the day before it existed). If the
process died while connected there is no closing event: the time until the next event
(or now) counts as up, which is the best the history can say.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from sitelink.errors import NotFound
from sitelink.events import ConnectionEventKind
from sitelink.storage.database import Database
from sitelink.storage.tables import ConnectionEvent, Site

STATS_WINDOW = timedelta(hours=24)


class ConnectionEventRecord(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    site_id: int
    kind: ConnectionEventKind
    reason: str
    at: datetime


class ConnectionStats(msgspec.Struct, frozen=True, kw_only=True):
    """Counts over [window_start, window_end] and the share of it spent connected."""

    connects: int
    drops: int
    failures: int
    uptime_percentage: float
    window_start: datetime
    window_end: datetime


def _record(row: dict[str, Any]) -> ConnectionEventRecord:
    return ConnectionEventRecord(
        id=row["id"], site_id=row["site"], kind=row["kind"], reason=row["reason"], at=row["at"]
    )


async def _require_site(site_id: int) -> None:
    if not await Site.exists().where(Site.id == site_id):
        raise NotFound(f"site {site_id} does not exist")


async def list_connection_events(
    db: Database, site_id: int, *, limit: int = 100
) -> list[ConnectionEventRecord]:
    """The site's connection events, newest first; ``NotFound`` for an unknown site."""
    await _require_site(site_id)
    rows = (
        await ConnectionEvent.select()
        .where(ConnectionEvent.site == site_id)
        .order_by(ConnectionEvent.at, ascending=False)
        .order_by(ConnectionEvent.id, ascending=False)
        .limit(max(1, limit))
    )
    return [_record(row) for row in rows]


async def connection_stats(
    db: Database, site_id: int, *, now: datetime | None = None
) -> ConnectionStats:
    """Connects, drops (``lost``), failed attempts and uptime % over the last 24 h."""
    await _require_site(site_id)
    end = now or datetime.now(UTC)
    start = end - STATS_WINDOW
    before = (
        await ConnectionEvent.select(ConnectionEvent.kind, ConnectionEvent.at)
        .where((ConnectionEvent.site == site_id) & (ConnectionEvent.at < start))
        .order_by(ConnectionEvent.at, ascending=False)
        .order_by(ConnectionEvent.id, ascending=False)
        .first()
    )
    rows = (
        await ConnectionEvent.select(ConnectionEvent.kind, ConnectionEvent.at)
        .where(
            (ConnectionEvent.site == site_id)
            & (ConnectionEvent.at >= start)
            & (ConnectionEvent.at <= end)
        )
        .order_by(ConnectionEvent.at)
        .order_by(ConnectionEvent.id)
    )
    kinds = [row["kind"] for row in rows]
    return ConnectionStats(
        connects=kinds.count("connected"),
        drops=kinds.count("lost"),
        failures=kinds.count("failed"),
        uptime_percentage=_uptime(before, rows, start, end),
        window_start=start,
        window_end=end,
    )


def _uptime(
    before: dict[str, Any] | None, rows: list[dict[str, Any]], start: datetime, end: datetime
) -> float:
    if before is None:
        if not rows:
            return 0.0
        start = rows[0]["at"]  # the history begins inside the window
    up_since: datetime | None = start if before and before["kind"] == "connected" else None
    up_s = 0.0
    for row in rows:
        if row["kind"] == "connected":
            up_since = up_since or row["at"]
        elif up_since is not None:
            up_s += (row["at"] - up_since).total_seconds()
            up_since = None
    if up_since is not None:
        up_s += (end - up_since).total_seconds()
    span = (end - start).total_seconds()
    if span <= 0:
        return 100.0 if up_since is not None else 0.0
    return round(min(100.0, 100.0 * up_s / span), 2)
