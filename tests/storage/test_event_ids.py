"""Event id reservations: each run starts above every id an earlier run could have used."""

from __future__ import annotations

from sitelink.storage import event_ids
from sitelink.storage.database import Database


async def test_each_run_starts_above_the_last_reservation(db: Database) -> None:
    """A run may number up to its reservation; the next run (after a stop or a kill -9)
    starts above it; extending never lowers the ceiling."""
    first_last, first_reserved = await event_ids.start_run(db, block=1000)
    assert first_reserved == first_last + 1000
    raised = await event_ids.extend(db, first_last + 700, block=1000)
    assert raised == first_last + 1700
    assert await event_ids.extend(db, first_last + 10, block=1000) == raised  # never lower
    second_last, second_reserved = await event_ids.start_run(db, block=1000)
    assert second_last == raised and second_reserved == raised + 1000
