"""Sites and their subscriptions: CRUD, default topics, conflicts, desired state."""

from __future__ import annotations

import pytest

from sitelink.errors import Conflict, NotFound
from sitelink.storage.database import Database
from sitelink.storage.sites import (
    NewSite,
    SitePatch,
    create_site,
    delete_site,
    get_site,
    get_site_config,
    list_sites,
    load_desired_state,
    update_site,
)
from sitelink.storage.topics import (
    NewTopic,
    TopicPatch,
    create_topic,
    delete_topic,
    list_topics,
    update_topic,
)


def new_site(code: str = "site_001", **fields: object) -> NewSite:
    return NewSite(name=f"Site {code}", code=code, broker_host="mqtt.example.com", **fields)  # type: ignore[arg-type]


async def test_create_get_list_site(db: Database) -> None:
    """A created site reads back with the defaults of API.md and appears in the list."""
    site = await create_site(db, new_site())
    assert site.id > 0
    assert (site.broker_port, site.protocol, site.keepalive_s) == (1883, "3.1.1", 60)
    assert (site.offline_after_s, site.is_enabled, site.status) == (180, False, "disconnected")
    assert site.has_password is False
    assert site.created_at.tzinfo is not None
    assert await get_site(db, site.id) == site
    assert [s.code for s in await list_sites(db)] == ["site_001"]


async def test_new_site_gets_the_three_default_topics(db: Database) -> None:
    """API.md: gateway heartbeat, datalogger heartbeat and datalogger status."""
    site = await create_site(db, new_site())
    topics = await list_topics(db, site.id)
    assert [(t.pattern, t.device_kind, t.message_kind) for t in topics] == [
        ("gateway/{serial}/heartbeat", "gateway", "heartbeat"),
        ("datalogger/{model}/{serial}/heartbeat", "datalogger", "heartbeat"),
        ("datalogger/{model}/{serial}/status", "datalogger", "status"),
    ]
    assert all(t.qos == 1 and t.is_active and t.payload_version == "v1" for t in topics)


async def test_duplicate_code_is_a_conflict(db: Database) -> None:
    """Creating or renaming to a taken code raises Conflict and leaves nothing behind."""
    first = await create_site(db, new_site("a"))
    await create_site(db, new_site("b"))
    with pytest.raises(Conflict):
        await create_site(db, new_site("a"))
    with pytest.raises(Conflict):
        await update_site(db, first.id, SitePatch(code="b"))
    assert sorted(s.code for s in await list_sites(db)) == ["a", "b"]


async def test_unknown_site_is_not_found(db: Database) -> None:
    """Every lookup by an unknown id raises NotFound."""
    with pytest.raises(NotFound):
        await get_site(db, 999)
    with pytest.raises(NotFound):
        await update_site(db, 999, SitePatch(name="x"))
    with pytest.raises(NotFound):
        await delete_site(db, 999)
    with pytest.raises(NotFound):
        await get_site_config(db, 999)
    with pytest.raises(NotFound):
        await list_topics(db, 999)
    with pytest.raises(NotFound):
        await create_topic(db, 999, NewTopic(pattern="x/{serial}"))


async def test_update_changes_only_given_fields(db: Database) -> None:
    """A patch changes its fields, bumps updated_at and leaves the rest alone."""
    site = await create_site(db, new_site(password="pw"))
    updated = await update_site(db, site.id, SitePatch(broker_port=8883, tls=True, is_enabled=True))
    assert (updated.broker_port, updated.tls, updated.is_enabled) == (8883, True, True)
    assert updated.name == site.name and updated.has_password
    assert updated.updated_at >= site.updated_at
    cleared = await update_site(db, site.id, SitePatch(password=None))
    assert cleared.has_password is False


async def test_delete_site_removes_its_topics(db: Database) -> None:
    """Deleting a site cascades to its subscriptions."""
    site = await create_site(db, new_site())
    await delete_site(db, site.id)
    assert await list_sites(db) == []
    with pytest.raises(NotFound):
        await list_topics(db, site.id)


async def test_topic_crud_and_duplicate_pattern(db: Database) -> None:
    """Topics can be added, changed and removed; a pattern appears once per site."""
    site = await create_site(db, new_site())
    topic = await create_topic(db, site.id, NewTopic(pattern="custom/{serial}/hb", qos=0))
    assert (topic.site_id, topic.qos, topic.is_active) == (site.id, 0, True)
    with pytest.raises(Conflict):
        await create_topic(db, site.id, NewTopic(pattern="custom/{serial}/hb"))
    changed = await update_topic(db, site.id, topic.id, TopicPatch(payload_version="v2"))
    assert changed.payload_version == "v2" and changed.pattern == topic.pattern
    await delete_topic(db, site.id, topic.id)
    with pytest.raises(NotFound):
        await delete_topic(db, site.id, topic.id)
    with pytest.raises(NotFound):
        await update_topic(db, site.id, topic.id, TopicPatch(qos=2))
    assert len(await list_topics(db, site.id)) == 3


async def test_desired_state_has_passwords_and_active_topics(db: Database) -> None:
    """The supervisor gets every site with its plaintext password and active topics only."""
    a = await create_site(db, new_site("a", password="s3cret", is_enabled=True))
    b = await create_site(db, new_site("b"))
    topics = await list_topics(db, b.id)
    await update_topic(db, b.id, topics[0].id, TopicPatch(is_active=False))
    state = await load_desired_state(db)
    assert [(c.code, c.password, c.is_enabled) for c in state] == [
        ("a", "s3cret", True),
        ("b", None, False),
    ]
    assert len(state[0].topics) == 3 and len(state[1].topics) == 2
    assert "s3cret" not in repr(state[0])
    assert await get_site_config(db, a.id) == state[0]


async def test_a_payload_map_is_stored_changed_cleared_and_reaches_the_desired_state(
    db: Database,
) -> None:
    """A mapped topic's payload_map round-trips through storage as a map (JSON text inside),
    a patch replaces or clears it, and the site's desired state carries it."""
    site = await create_site(db, new_site())
    payload_map = {"keys": "head.fields[].name", "values": "data[-1].vals"}
    topic = await create_topic(db, site.id, NewTopic(
        pattern="csi/{serial}", payload_version="mapped", payload_map=payload_map))
    assert topic.payload_map == payload_map
    config = await get_site_config(db, site.id)
    assert next(t for t in config.topics if t.id == topic.id).payload_map == payload_map
    changed = await update_topic(db, site.id, topic.id,
                                 TopicPatch(payload_map={**payload_map, "at": "data[-1].time"}))
    assert changed.payload_map is not None and changed.payload_map["at"] == "data[-1].time"
    cleared = await update_topic(db, site.id, topic.id,
                                 TopicPatch(payload_version="v1", payload_map=None))
    assert cleared.payload_map is None and cleared.payload_version == "v1"
