"""Fencing: the storage writer refuses what a site's former owner says after it lost the site.

In a cluster every site has a lease with an epoch, raised at every claim (``sitelink.cluster``).
The lease keeper puts a ``LeaseFence`` event into the stream of events it hands the writer
whenever the sites it holds change (and at every renewal): the sites it runs and their epochs.
Each event after it is tagged, by its position in the stream, with that fence. When a batch is
written:

1. ``sort_out`` (pure) drops the events of sites the fence in force did not hold, and of a
   site whose epoch changed within the batch, the ones of the older epoch;
2. ``held_sites``, in the batch's transaction, reads the lease rows of the sites left and
   keeps those still owned by this instance under the same epoch; the others are dropped
   from the batch (``Batch.drop_sites``).

So no row about a site is written by an instance whose lease was taken before its batch
began, even if it was paused between producing the events and writing them. The rows are
read, not locked: a claim committed in the milliseconds between the check and the batch's
commit is not seen. A lock (``FOR SHARE``) would close that window but a writer whose
connection went silent mid-transaction would hold it until PostgreSQL drops the session,
and every other instance's claim (``SKIP LOCKED``) would pass the site by: no failover.

Until the first fence (on SQLite, on PostgreSQL before the keeper's first claim, and for a
writer process that has just been started again, until the next renewal re-sends it)
nothing is fenced. Every dropped event is counted under ``lease_fenced``.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from sitelink.events import Event, LeaseFence
from sitelink.storage.database import Database


class Sorted(msgspec.Struct, frozen=True, kw_only=True):
    fence: LeaseFence | None  # the fence in force after these events
    kept: list[Event]
    checks: dict[int, int]  # site -> epoch the kept events of the site were produced under
    refused: int


def site_of(event: Event) -> int | None:
    site_id = getattr(event, "site_id", None)
    if site_id is not None:
        return int(site_id)
    device = getattr(event, "device", None)
    return None if device is None else int(device.site_id)


def sort_out(fence: LeaseFence | None, events: Sequence[Event]) -> Sorted:
    """The events a holder of their leases may write, starting under ``fence``."""
    if fence is None and not any(isinstance(event, LeaseFence) for event in events):
        # Never fenced (SQLite, or before the first claim): every event is kept as it is.
        return Sorted(fence=None, kept=list(events), checks={}, refused=0)
    tagged: list[tuple[Event, int | None, int | None]] = []  # event, site, epoch
    latest: dict[int, int] = {}
    refused = 0
    for event in events:
        if isinstance(event, LeaseFence):
            fence = event
            continue
        site_id = site_of(event)
        if fence is None or site_id is None:
            tagged.append((event, site_id, None))
            continue
        epoch = fence.epochs.get(site_id)
        if epoch is None:
            refused += 1
            continue
        tagged.append((event, site_id, epoch))
        latest[site_id] = epoch
    kept: list[Event] = []
    for event, site_id, epoch in tagged:
        if epoch is not None and site_id is not None and latest[site_id] != epoch:
            refused += 1
            continue
        kept.append(event)
    return Sorted(fence=fence, kept=kept, checks=latest, refused=refused)


async def held_sites(db: Database, owner: str, checks: dict[int, int]) -> set[int]:
    """Of ``checks`` (site -> epoch), the sites whose lease ``owner`` still holds under that
    epoch. Call inside the batch's transaction."""
    if not checks:
        return set()
    rows = await db.execute(
        'SELECT "site_id", "epoch" FROM "site_lease" WHERE "owner" = {} '
        'AND "site_id" = ANY({})', owner, sorted(checks))
    return {row["site_id"] for row in rows if checks.get(row["site_id"]) == row["epoch"]}
