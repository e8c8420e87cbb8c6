"""A site's subscriptions, its topic-discovery window, and commands published to it.

Handlers run on the event loop. Subscription changes are written to storage and then
handed to the site's actor, which subscribes/unsubscribes on the live connection without
reconnecting. A publish waits for the broker's acknowledgement on the loop (a callback
from the actor settles a future), so a slow broker never blocks other requests.
"""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, Parameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_202_ACCEPTED, HTTP_204_NO_CONTENT

from sitelink.api.audit import record
from sitelink.api.auth import ADMIN
from sitelink.api.limits import PUBLISH_BODY
from sitelink.api.schemas import (
    DiscoveryRequest,
    PathId,
    PublishCommand,
    TopicCreate,
    TopicUpdate,
)
from sitelink.errors import NotConnected, ValidationError
from sitelink.runtime import Runtime
from sitelink.storage import commands as command_store
from sitelink.storage import sites as site_store
from sitelink.storage import subscriptions as topic_store
from sitelink.storage.sites import SiteRecord
from sitelink.storage.subscriptions import NewTopic, TopicPatch, TopicRecord
from sitelink.times import iso, iso_time
from sitelink.topic_rules import validate_publish_topic
from sitelink.topics import Subscription

ACK_TIMEOUT_S = 5.0
MAX_MESSAGE_BYTES = 262_144


def topic_json(code: str, t: TopicRecord) -> dict[str, Any]:
    return {"id": t.id, "site_id": t.site_id, "pattern": t.pattern,
            "device_kind": t.device_kind, "message_kind": t.message_kind,
            "payload_version": t.payload_version, "qos": t.qos, "is_active": t.is_active,
            "payload_map": t.payload_map, "mqtt_filter": _subscription(t).mqtt_filter(code)}


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
    ) -> dict[str, Any]:
        site = await site_store.get_site(runtime.db, site_id)
        topics = await topic_store.list_topics(runtime.db, site_id)
        return {"topics": [topic_json(site.code, t) for t in topics]}

    @post("/topics/", opt=ADMIN, status_code=HTTP_201_CREATED)
    async def add_topic(
        self, request: Request[Any, Any, Any], runtime: NamedDependency[Runtime],
        site_id: PathId, data: JSONBody[TopicCreate],
    ) -> dict[str, Any]:
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
    ) -> dict[str, Any]:
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

    @post("/discovery/", opt=ADMIN, status_code=HTTP_202_ACCEPTED)
    async def start_discovery(
        self, request: Request[Any, Any, Any], runtime: NamedDependency[Runtime],
        site_id: PathId, data: JSONBody[DiscoveryRequest | None] = None,
    ) -> dict[str, Any]:
        """Listen on ``{code}/#`` for ``seconds`` and collect the distinct topics seen."""
        seconds = (data or DiscoveryRequest()).seconds
        site = await site_store.get_site(runtime.db, site_id)
        if not site.is_enabled:
            raise NotConnected(f"site {site.code} is not enabled: start it first")
        runtime.discover(site_id, seconds)
        await record(request, "site.discovery", target=site.code,
                     detail={"site_id": site_id, "seconds": seconds})
        view = runtime.read_model.discoveries[site_id]
        return {"success": True, "message": f"Listening on {site.code}/# for {seconds:g} s",
                "state": view.state, "started_at": iso(view.started_at),
                "ends_at": iso(view.ends_at)}

    @get("/discovery/")
    async def discovery(
        self, runtime: NamedDependency[Runtime], site_id: PathId,
    ) -> dict[str, Any]:
        """The topics seen in the last window, with counts and last payload size."""
        await site_store.get_site(runtime.db, site_id)
        view = runtime.read_model.discoveries.get(site_id)
        if view is None:
            return {"site_id": site_id, "state": "idle", "started_at": None, "ends_at": None,
                    "topics": []}
        return {"site_id": site_id, "state": view.state, "started_at": iso(view.started_at),
                "ends_at": iso(view.ends_at), "topics": list(view.topics)}

    @post("/publish/", opt=ADMIN, status_code=200, request_max_body_size=PUBLISH_BODY)
    async def publish(
        self, request: Request[Any, Any, Any], runtime: NamedDependency[Runtime],
        site_id: PathId, data: JSONBody[PublishCommand],
    ) -> Response[dict[str, Any]]:
        """Publish a command. 409 if the site is not connected; for qos 1 and 2 the answer
        waits for the broker's acknowledgement, 504 if none comes within 5 s."""
        site = await site_store.get_site(runtime.db, site_id)
        validate_publish_topic(site.code, data.topic)
        payload = data.message.encode()
        if len(payload) > MAX_MESSAGE_BYTES:
            raise ValidationError("message", f"at most {MAX_MESSAGE_BYTES} bytes")
        status = runtime.read_model.status_object(site_id)
        if status is None or status["status"] != "connected":
            await _audit_publish(request, site, data, len(payload), "", "refused: not connected")
            raise NotConnected(f"site {site.code} is not connected")
        command_id = uuid.uuid4().hex
        sender = getattr(request.scope.get("user"), "name", "anonymous")
        await command_store.insert_command(
            runtime.db, command_id=command_id, site_id=site_id, topic=data.topic, qos=data.qos,
            retain=data.retain, payload_size=len(payload), sender=sender)
        result = await runtime.publish(site_id, command_id, data.topic, payload, data.qos,
                                       data.retain, ACK_TIMEOUT_S)
        if result is None:
            error = f"no acknowledgement from the broker within {ACK_TIMEOUT_S:g} s"
            await command_store.set_outcome(runtime.db, command_id, "failed", error=error)
            await _audit_publish(request, site, data, len(payload), command_id, "timeout")
            return Response({"success": False, "message": error, "command_id": command_id},
                            status_code=504)
        await _audit_publish(request, site, data, len(payload), command_id, result.outcome)
        if not result.connected:
            raise NotConnected(f"site {site.code} is not connected")
        if result.outcome == "failed":
            return Response({"success": False, "message": f"Publish failed: {result.error}",
                             "command_id": command_id}, status_code=502)
        return Response({"success": True, "message": "Message published successfully",
                         "command_id": command_id, "outcome": result.outcome})

    @get("/commands/")
    async def commands(self, runtime: NamedDependency[Runtime], site_id: PathId,
                       limit: int = Parameter(default=100, ge=1, le=1000)) -> dict[str, Any]:
        """Published commands, newest first, with their outcome."""
        await site_store.get_site(runtime.db, site_id)
        rows = await command_store.list_commands(runtime.db, site_id, limit=limit)
        return {"commands": [
            {"command_id": c.command_id, "site_id": c.site_id, "topic": c.topic, "qos": c.qos,
             "retain": c.retain, "payload_size": c.payload_size, "sender": c.sender,
             "outcome": c.outcome, "error": c.error, "created_at": iso_time(c.created_at),
             "completed_at": iso_time(c.completed_at)}
            for c in rows]}


async def _audit_publish(request: Request[Any, Any, Any], site: SiteRecord, data: PublishCommand,
                         size: int, command_id: str, result: str) -> None:
    await record(request, "publish", target=site.code, result=result,
                 detail={"site_id": site.id, "topic": data.topic, "qos": data.qos,
                         "retain": data.retain, "payload_size": size, "command_id": command_id})

