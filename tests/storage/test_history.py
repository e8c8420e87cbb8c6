"""Connection history: newest first, and 24 h connects, drops and uptime from events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sitelink.errors import NotFound
from sitelink.storage.database import Database
from sitelink.storage.history import connection_stats, list_connection_events
from sitelink.storage.tables import ConnectionEvent

NOW = datetime(2025, 11, 11, 12, 0, tzinfo=UTC)


async def add(site_id: int, kind: str, hours_ago: float, reason: str = "") -> None:
    at = NOW - timedelta(hours=hours_ago)
    await ConnectionEvent.insert(ConnectionEvent(site=site_id, kind=kind, reason=reason, at=at))


async def test_uptime_from_events_across_the_window(db: Database, site_id: int) -> None:
    """Connected before the window counts from its start; drops and failures end up-time."""
    await add(site_id, "connected", 30)  # up when the window opens (24 h ago)
    await add(site_id, "lost", 12, "Connection lost")  # 12 h up
    await add(site_id, "failed", 11, "Connection refused")
    await add(site_id, "connected", 6)  # up again for the last 6 h
    stats = await connection_stats(db, site_id, now=NOW)
    assert (stats.connects, stats.drops, stats.failures) == (1, 1, 1)
    assert stats.uptime_percentage == 75.0  # 18 of 24 h
    assert stats.window_end - stats.window_start == timedelta(hours=24)


async def test_history_younger_than_a_day(db: Database, site_id: int) -> None:
    """A site whose history starts inside the window is measured from its first event."""
    await add(site_id, "failed", 4)
    await add(site_id, "connected", 3)
    await add(site_id, "stopped", 1)
    stats = await connection_stats(db, site_id, now=NOW)
    assert (stats.connects, stats.drops) == (1, 0)
    assert stats.uptime_percentage == 50.0  # 2 of 4 h


async def test_no_history_is_zero(db: Database, site_id: int) -> None:
    """Without any event nothing is known: 0 %, no connects."""
    stats = await connection_stats(db, site_id, now=NOW)
    assert (stats.connects, stats.drops, stats.uptime_percentage) == (0, 0, 0.0)


async def test_events_newest_first_with_limit(db: Database, site_id: int) -> None:
    """The list is newest first and bounded; unknown sites are NotFound."""
    for hours in (5, 4, 3, 2, 1):
        await add(site_id, "connected" if hours % 2 else "lost", hours, f"h{hours}")
    events = await list_connection_events(db, site_id, limit=3)
    assert [e.reason for e in events] == ["h1", "h2", "h3"]
    assert events[0].at == NOW - timedelta(hours=1)
    with pytest.raises(NotFound):
        await list_connection_events(db, 999)
    with pytest.raises(NotFound):
        await connection_stats(db, 999)
