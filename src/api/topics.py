"""A site's topics — the topic templates it subscribes to (``storage.topics``, the ``topic``
table): list, add, change, delete.

Handlers run on the event loop. Topic changes are written to storage and then
handed to the site's actor, which subscribes/unsubscribes on the live connection without
reconnecting. Discovery is in ``api.discovery``, commands in ``api.publish``.
"""

from __future__ import annotations

from typing import Any, cast

import msgspec
from litestar import Controller, Request, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import JSONBody
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from sitelink.api import answers as answer
from sitelink.api.audit import record
from sitelink.api.auth import ADMIN
from sitelink.api.schemas import PathId, TopicCreate, TopicUpdate
from sitelink.runtime import Runtime
from sitelink.storage import sites as site_store
from sitelink.storage import topics as topic_store
from sitelink.storage.topics import NewTopic, TopicPatch, TopicRecord
from sitelink.topics import Subscription


def topic_json(code: str, t: TopicRecord) -> answer.Topic:
    sub = _subscription(t)
    return answer.Topic(id=t.id, site_id=t.site_id, pattern=t.pattern,
                        device_kind=sub.device_kind, message_kind=sub.message_kind,
                        payload_version=t.payload_version, qos=cast(answer.Qos, t.qos),
                        is_active=t.is_active, payload_map=t.payload_map,
                        mqtt_filter=sub.mqtt_filter(code))


def _subscription(t: TopicRecord | NewTopic) -> Subscription:
    """The subscription these fields make; raises ``ValidationError`` naming the field (a
    pattern that breaks the rules of its version, a payload_map that does not compile)."""
    return Subscription(id=0, pattern=t.pattern, device_kind=t.device_kind,  # type: ignore[arg-type]
                        message_kind=t.message_kind,  # type: ignore[arg-type]
                        payload_version=t.payload_version, qos=t.qos, is_active=t.is_active,
                        payload_map=t.payload_map)


class TopicController(Controller):
    path = "/api/v1/mqtt/sites/{site_id:int}"
    tags = ["topics", "commands"]

    @get("/topics/")
    async def list_topics(
        self, runtime: NamedDependency[Runtime], site_id: PathId,
    ) -> answer.TopicList:
        site = await site_store.get_site(runtime.db, site_id)
        topics = await topic_store.list_topics(runtime.db, site_id)
        return answer.TopicList(topics=[topic_json(site.code, t) for t in topics])

    @post("/topics/", opt=ADMIN, status_code=HTTP_201_CREATED)
    async def add_topic(
        self, request: Request[Any, Any, Any], runtime: NamedDependency[Runtime],
        site_id: PathId, data: JSONBody[TopicCreate],
    ) -> answer.Topic:
        """Add a subscription; the live connection subscribes at once."""
        new = NewTopic(**msgspec.structs.asdict(data))
        _subscription(new)
        site = await site_store.get_site(runtime.db, site_id)
        topic = await topic_store.create_topic(runtime.db, site_id, new)
        await runtime.site_changed(site_id, "updated")
        await record(request, "topic.create", target=site.code,
                     detail={"site_id": site_id, "topic_id": topic.id, "pattern": topic.pattern})
        return topic_json(site.code, topic)

    @patch("/topics/{topic_id:int}/", opt=ADMIN)
    async def update_topic(
        self, request: Request[Any, Any, Any], runtime: NamedDependency[Runtime],
        site_id: PathId, topic_id: PathId, data: JSONBody[TopicUpdate],
    ) -> answer.Topic:
        site = await site_store.get_site(runtime.db, site_id)
        changes = {k: v for k, v in msgspec.structs.asdict(data).items()
                   if v is not msgspec.UNSET}
        # The fields are checked together: a sparkplug_b pattern is valid only with that
        # version, a payload_map only with mapped.
        current = await topic_store.get_topic(runtime.db, site_id, topic_id)
        _subscription(msgspec.structs.replace(current, **changes))
        topic = await topic_store.update_topic(runtime.db, site_id, topic_id,
                                               TopicPatch(**changes))
        await runtime.site_changed(site_id, "updated")
        await record(request, "topic.update", target=site.code,
                     detail={"site_id": site_id, "topic_id": topic_id, "fields": sorted(changes)})
        return topic_json(site.code, topic)

    @delete("/topics/{topic_id:int}/", opt=ADMIN, status_code=HTTP_204_NO_CONTENT)
    async def delete_topic(self, request: Request[Any, Any, Any], runtime: NamedDependency[Runtime],
                           site_id: PathId, topic_id: PathId) -> None:
        site = await site_store.get_site(runtime.db, site_id)
        await topic_store.delete_topic(runtime.db, site_id, topic_id)
        await runtime.site_changed(site_id, "updated")
        await record(request, "topic.delete", target=site.code,
                     detail={"site_id": site_id, "topic_id": topic_id})
