"""Writes an import plan (``sitelink.sites_bulk``): every site created or updated, and its
topics replaced where the file gives them, in one transaction — all or nothing.

Runs on the asyncio event loop. The plan was checked by the site rules before it gets here;
storage keeps its own guarantees (``Conflict`` for a code taken meanwhile rolls it all back).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from sitelink.sites_bulk import Planned
from sitelink.storage.database import Database
from sitelink.storage.sites import (
    NewSite,
    SitePatch,
    SiteRecord,
    create_site,
    list_sites,
    update_site,
)
from sitelink.storage.topics import TopicRecord, replace_topics, topics_of_sites


async def current(db: Database) -> tuple[list[SiteRecord], dict[int, list[TopicRecord]]]:
    """Every site and all its topics (active or not): what a plan is made against."""
    sites = await list_sites(db)
    topics = await topics_of_sites([s.id for s in sites], active_only=False)
    return sites, topics


async def apply(db: Database, planned: Sequence[Planned],
                keep_alive_s: int) -> list[tuple[int, Literal["created", "updated"]]]:
    """Write the plan; the sites created or changed, each with which (for the supervisor and
    the ``site.changed`` events)."""
    changed: list[tuple[int, Literal["created", "updated"]]] = []
    async with db.transaction():
        for item in planned:
            if item.action == "unchanged":
                continue
            if item.action == "create":
                fields = dict(item.fields)
                if fields.get("keepalive_s") is None:
                    fields["keepalive_s"] = keep_alive_s
                site_id = (await create_site(db, NewSite(**fields))).id
            else:
                assert item.site_id is not None
                site_id = item.site_id
                if item.fields:
                    await update_site(db, site_id, SitePatch(**item.fields))
            if item.topics is not None:
                await replace_topics(site_id, item.topics)
            changed.append((site_id, "created" if item.action == "create" else "updated"))
    return changed
