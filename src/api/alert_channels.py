"""Alert channels: ``GET/POST /api/v1/alerts/channels``, ``PATCH/DELETE .../{id}``,
``POST .../{id}/test``. Admin only: a channel's URL is where alerts leave the building.

Handlers run on the event loop (Apprise's URL check and its sending run in worker
threads). URLs and secrets are never shown back: ``url`` without credentials (webhook) or
only its scheme (Apprise), and ``has_secret``.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from litestar import Controller, Request, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import JSONBody
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from sitelink.alerts.delivery import apprise_understands
from sitelink.alerts.model import Channel, ChannelKind
from sitelink.api.alert_rules import service
from sitelink.api.alert_schemas import (
    ChannelCreate,
    ChannelList,
    ChannelTestResult,
    ChannelUpdate,
    given,
)
from sitelink.api.audit import record
from sitelink.api.auth import ADMIN
from sitelink.api.schemas import PathId
from sitelink.errors import ValidationError
from sitelink.runtime import Runtime
from sitelink.storage import alert_config
from sitelink.storage.outbox import Delivery


async def check_url(kind: ChannelKind, url: str) -> None:
    if kind is ChannelKind.WEBHOOK:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValidationError("url", "a webhook URL must be http:// or https:// with a host")
        return
    if not await asyncio.to_thread(apprise_understands, url):
        raise ValidationError("url", "Apprise does not understand this URL")


def _sample(runtime: Runtime) -> Delivery:
    now = datetime.now(UTC)
    return Delivery(id=0, alert_id=0, transition="firing", group_key="", attempts=0,
                    created_at=now, rule_name="test", kind="test", state="firing",
                    message="sitelink test notification: this channel works",
                    site_id=None, site_code="", site_name="", device_id=None, device_serial="",
                    started_at=now, resolved_at=None)


class AlertChannelController(Controller):
    path = "/api/v1/alerts/channels"
    tags = ["alerts"]
    opt = ADMIN

    @get("/")
    async def list_channels(self, runtime: NamedDependency[Runtime]) -> ChannelList:
        return ChannelList(channels=await alert_config.list_channels(runtime.db))

    @post("/", status_code=HTTP_201_CREATED)
    async def create_channel(self, request: Request[Any, Any, Any],
                             runtime: NamedDependency[Runtime],
                             data: JSONBody[ChannelCreate]) -> Channel:
        """Create a channel; 400 naming ``url`` when it is not one this kind can use."""
        await check_url(data.kind, data.url)
        channel = await alert_config.create_channel(runtime.db, given(data))
        service(runtime).channel_saved(channel.id)
        await record(request, "alert.channel.create", target=channel.name,
                     detail={"channel_id": channel.id, "kind": channel.kind.value})
        return channel

    @patch("/{channel_id:int}")
    async def update_channel(self, request: Request[Any, Any, Any],
                             runtime: NamedDependency[Runtime], channel_id: PathId,
                             data: JSONBody[ChannelUpdate]) -> Channel:
        changes = given(data)
        current = await alert_config.get_target(runtime.db, channel_id)
        kind = changes.get("kind", current.kind)
        if "url" in changes or "kind" in changes:
            await check_url(kind, changes.get("url", current.url))
        channel = await alert_config.update_channel(runtime.db, channel_id, changes)
        service(runtime).channel_saved(channel_id)
        await record(request, "alert.channel.update", target=channel.name,
                     detail={"channel_id": channel_id, "fields": sorted(changes)})
        return channel

    @delete("/{channel_id:int}", status_code=HTTP_204_NO_CONTENT)
    async def delete_channel(self, request: Request[Any, Any, Any],
                             runtime: NamedDependency[Runtime], channel_id: PathId) -> None:
        channel = await alert_config.get_channel(runtime.db, channel_id)
        service(runtime).channel_deleted(channel_id)
        await alert_config.delete_channel(runtime.db, channel_id)
        await record(request, "alert.channel.delete", target=channel.name,
                     detail={"channel_id": channel_id})

    @post("/{channel_id:int}/test", status_code=200)
    async def test_channel(self, request: Request[Any, Any, Any],
                           runtime: NamedDependency[Runtime],
                           channel_id: PathId) -> ChannelTestResult:
        """Send a test notification now and answer how it went (not stored, not retried)."""
        target = await alert_config.get_target(runtime.db, channel_id)
        ok, error, ms = await service(runtime).sender.test(target, _sample(runtime))
        outcome = "sent" if ok else "failed"
        await record(request, "alert.channel.test", target=target.name,
                     detail={"channel_id": channel_id}, result=outcome)
        return ChannelTestResult(success=ok, outcome=outcome, error=error, duration_ms=ms)
