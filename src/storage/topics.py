"""Topics (the ``topic`` table, ``/api/v1/mqtt/sites/{id}/topics/``): the topic templates
each site subscribes to. One name for the stored row, its module and its API; the MQTT
subscription a row makes at run time is ``sitelink.topics.Subscription``.

Every function runs on the asyncio event loop. Patterns are validated by the API (see
``sitelink.topics.Subscription``); storage guarantees ``NotFound`` for an unknown site or
topic and ``Conflict`` for a pattern the site already has.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import msgspec

from sitelink.errors import NotFound
from sitelink.storage.database import Database, conflict_on_duplicate
from sitelink.storage.tables import Site, Topic

UNSET = msgspec.UNSET
UnsetType = msgspec.UnsetType
IN_CHUNK = 500  # ids per IN (...) list: well under both engines' parameter limits


class TopicRecord(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    site_id: int
    pattern: str
    device_kind: str
    message_kind: str
    payload_version: str
    qos: int
    is_active: bool
    payload_map: dict[str, str] | None = None


class NewTopic(msgspec.Struct, frozen=True, kw_only=True):
    pattern: str
    device_kind: str = "datalogger"
    message_kind: str = "heartbeat"
    payload_version: str = "v1"
    qos: int = 1
    is_active: bool = True
    payload_map: dict[str, str] | None = None


class TopicPatch(msgspec.Struct, frozen=True, kw_only=True):
    """Fields to change; ``UNSET`` leaves one as it is."""

    pattern: str | UnsetType = UNSET
    device_kind: str | UnsetType = UNSET
    message_kind: str | UnsetType = UNSET
    payload_version: str | UnsetType = UNSET
    qos: int | UnsetType = UNSET
    is_active: bool | UnsetType = UNSET
    payload_map: dict[str, str] | UnsetType | None = UNSET


class TopicTemplateLike(Protocol):
    """Anything with a subscription's fields (``sitelink.topics.Subscription``)."""

    @property
    def pattern(self) -> str: ...
    @property
    def device_kind(self) -> str: ...
    @property
    def message_kind(self) -> str: ...
    @property
    def payload_version(self) -> str: ...
    @property
    def qos(self) -> int: ...
    @property
    def is_active(self) -> bool: ...


def _record(row: dict[str, Any]) -> TopicRecord:
    return TopicRecord(
        id=row["id"],
        site_id=row["site"],
        pattern=row["pattern"],
        device_kind=row["device_kind"],
        message_kind=row["message_kind"],
        payload_version=row["payload_version"],
        qos=row["qos"],
        is_active=bool(row["is_active"]),
        payload_map=_map_from_text(row.get("payload_map")),
    )


def _map_from_text(text: str | None) -> dict[str, str] | None:
    return None if text is None else msgspec.json.decode(text, type=dict[str, str])


def _map_to_text(payload_map: dict[str, str] | None) -> str | None:
    return None if payload_map is None else msgspec.json.encode(payload_map).decode()


def _pattern_taken(site_id: int, pattern: str) -> str:
    return f"site {site_id} already subscribes to {pattern!r}"


async def insert_default_topics(site_id: int, templates: Iterable[TopicTemplateLike]) -> None:
    """Add the given subscriptions to a new site (inside the caller's transaction)."""
    rows = [
        Topic(
            site=site_id,
            pattern=t.pattern,
            device_kind=t.device_kind,
            message_kind=t.message_kind,
            payload_version=t.payload_version,
            qos=t.qos,
            is_active=t.is_active,
            payload_map=_map_to_text(getattr(t, "payload_map", None)),
        )
        for t in templates
    ]
    if rows:
        await Topic.insert(*rows)


async def replace_topics(site_id: int, topics: Iterable[NewTopic]) -> None:
    """The site's subscriptions become exactly ``topics`` (inside the caller's transaction)."""
    await Topic.delete().where(Topic.site == site_id)
    await insert_default_topics(site_id, topics)


async def _require_site(site_id: int) -> None:
    if not await Site.exists().where(Site.id == site_id):
        raise NotFound(f"site {site_id} does not exist")


async def list_topics(db: Database, site_id: int) -> list[TopicRecord]:
    """Every subscription of a site, active or not, by id; ``NotFound`` for an unknown site."""
    await _require_site(site_id)
    rows = await Topic.select().where(Topic.site == site_id).order_by(Topic.id)
    return [_record(row) for row in rows]


async def get_topic(db: Database, site_id: int, topic_id: int) -> TopicRecord:
    row = await Topic.select().where((Topic.id == topic_id) & (Topic.site == site_id)).first()
    if row is None:
        raise NotFound(f"topic {topic_id} of site {site_id} does not exist")
    return _record(row)


async def create_topic(db: Database, site_id: int, new: NewTopic) -> TopicRecord:
    """Add a subscription; ``NotFound`` for an unknown site, ``Conflict`` for a known pattern."""
    await _require_site(site_id)
    with conflict_on_duplicate(_pattern_taken(site_id, new.pattern)):
        fields = msgspec.structs.asdict(new)
        fields["payload_map"] = _map_to_text(new.payload_map)
        rows = await Topic.insert(Topic(site=site_id, **fields)).returning(Topic.id)
    return await get_topic(db, site_id, rows[0]["id"])


async def update_topic(db: Database, site_id: int, topic_id: int, patch: TopicPatch) -> TopicRecord:
    values: dict[Any, Any] = {
        Topic._meta.get_column_by_name(name): getattr(patch, name)
        for name in patch.__struct_fields__
        if getattr(patch, name) is not UNSET
    }
    if not isinstance(patch.payload_map, UnsetType):
        values[Topic.payload_map] = _map_to_text(patch.payload_map)
    if values:
        pattern = patch.pattern if isinstance(patch.pattern, str) else ""
        with conflict_on_duplicate(_pattern_taken(site_id, pattern)):
            await Topic.update(values).where((Topic.id == topic_id) & (Topic.site == site_id))
    return await get_topic(db, site_id, topic_id)


async def delete_topic(db: Database, site_id: int, topic_id: int) -> None:
    rows = (
        await Topic.delete()
        .where((Topic.id == topic_id) & (Topic.site == site_id))
        .returning(Topic.id)
    )
    if not rows:
        raise NotFound(f"topic {topic_id} of site {site_id} does not exist")


async def topics_of_sites(
    site_ids: Sequence[int], *, active_only: bool
) -> dict[int, list[TopicRecord]]:
    """Subscriptions of many sites at once, by site id, each list by topic id."""
    found: dict[int, list[TopicRecord]] = {}
    for start in range(0, len(site_ids), IN_CHUNK):
        query = Topic.select().where(Topic.site.is_in(list(site_ids[start : start + IN_CHUNK])))
        if active_only:
            query = query.where(Topic.is_active == True)  # noqa: E712 (piccolo expression)
        for row in await query.order_by(Topic.id):
            found.setdefault(row["site"], []).append(_record(row))
    return found
