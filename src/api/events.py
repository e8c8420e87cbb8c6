"""``GET /api/v1/events``: the live event stream (Server-Sent Events).

Each stream is a bounded subscriber of the hub. It ends when the client goes away, when
the client is too slow (the hub drops it; the browser reconnects with Last-Event-ID), when
the credential that opened it stops working (logout, revocation, expiry: ``stream_access``),
or when the server shuts down (uvicorn would otherwise wait for open streams forever).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from typing import Annotated, Any

from litestar import Request, get
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.params import HeaderParameter, QueryParameter
from litestar.response import ServerSentEvent, ServerSentEventMessage

from sitelink.api.auth import presented_credential
from sitelink.api.stream_access import StreamAccess
from sitelink.errors import ValidationError
from sitelink.fanout import EventFilter, Hub, Reservation
from sitelink.runtime import Runtime

KEEPALIVE_S = 15.0
TYPES = frozenset({"site.status", "site.changed", "device.discovered", "device.online",
                   "device.offline", "sensor.reading", "command.published",
                   "alert.firing", "alert.resolved", "alert.acknowledged", "cluster.changed"})


@get("/api/v1/events", tags=["events"], media_type="text/event-stream")
async def events(
    request: Request[Any, Any, Any],
    runtime: NamedDependency[Runtime],
    site_id: Annotated[list[int] | None, QueryParameter()] = None,
    types: Annotated[str | None, QueryParameter()] = None,
    readings: Annotated[int, QueryParameter(ge=0, le=1)] = 0,
    last_event_id: Annotated[str | None, HeaderParameter(name="Last-Event-ID")] = None,
) -> ServerSentEvent:
    """Live events. Filters: ``site_id`` (repeatable), ``types`` (comma-separated);
    ``readings=1`` adds ``sensor.reading``. Resume with the ``Last-Event-ID`` header."""
    wanted = frozenset(t.strip() for t in (types or "").split(",") if t.strip())
    unknown = sorted(wanted - TYPES)
    if unknown:
        raise ValidationError("types", f"unknown event type(s): {', '.join(unknown)}")
    resume: int | None = None
    if last_event_id:
        try:
            resume = int(last_event_id)
        except ValueError:
            raise ValidationError("Last-Event-ID", "expected an integer") from None
    event_filter = EventFilter(site_ids=frozenset(site_id or ()), types=wanted,
                               readings=bool(readings) or "sensor.reading" in wanted)
    # The slot is taken now, before the answer starts: a refused client gets a 503, never
    # a 200 that is then cut off (concurrent opens all passed a mere check).
    reservation = runtime.hub.reserve()
    keepalive_s = request.app.state.get("sse_keepalive_s", KEEPALIVE_S)
    stream = _stream(runtime.hub, reservation, event_filter, resume, runtime.shutting_down,
                     keepalive_s, _Access(request, request.app.state.stream_access))
    # A client gone before the first byte never starts the generator, so its ``finally``
    # never runs: the slot then comes back when the generator is dropped.
    weakref.finalize(stream, reservation.release)
    return ServerSentEvent(stream)


class _Access:
    """Who opened the stream, to check again while it lasts (``StreamAccess.lasts``)."""

    def __init__(self, connection: ASGIConnection[Any, Any, Any, Any],
                 access: StreamAccess) -> None:
        self.connection = connection
        self.access = access
        self.credential = presented_credential(connection)

    async def lasts(self) -> None:
        if self.credential is None:  # not a route that lets anyone in: nothing to recheck
            await asyncio.Event().wait()
        else:
            await self.access.lasts(self.connection, self.credential)


async def _stream(hub: Hub, reservation: Reservation, event_filter: EventFilter,
                  resume: int | None, shutting_down: asyncio.Event, keepalive_s: float,
                  access: _Access) -> AsyncIterator[ServerSentEventMessage]:
    # Subscribed here, not in the handler: a subscription made outside the generator would
    # never be released by a client that is gone before the first byte.
    sub = hub.subscribe(event_filter, resume, reservation)
    allowed = asyncio.ensure_future(access.lasts())
    ending = asyncio.ensure_future(_first(sub.dropped, shutting_down, until=allowed))
    ending.add_done_callback(lambda _: sub.wake())
    try:
        # data=None: Litestar's default data "" would add a "data:" line, and a browser
        # would dispatch an empty "message" event for every comment.
        yield ServerSentEventMessage(comment="connected", retry=2000, data=None)
        while not ending.done():
            if not sub.pending:
                await sub.wait(keepalive_s)
                if ending.done():
                    break
                if not sub.pending:
                    yield ServerSentEventMessage(comment="keep-alive", data=None)
                    continue
            # Everything already queued goes out as one write; each event's bytes are the
            # hub's, encoded once for every stream.
            yield _Frames(b"".join([event.frame for event in sub.take()]))
            sub.sent()  # resumed: the write went out (it waits while the client reads nothing)
    finally:
        hub.unsubscribe(sub)
        ending.cancel()
        allowed.cancel()


class _Frames(ServerSentEventMessage):
    """Events already encoded as SSE messages (``PublicEvent.frame``), sent as they are."""

    def __init__(self, frames: bytes) -> None:
        super().__init__(data=None)
        self.frames = frames

    def encode(self) -> bytes:
        return self.frames


async def _first(*flags: asyncio.Event, until: asyncio.Future[None]) -> Any:
    """Returns when a flag is set or ``until`` is done (which it leaves running)."""
    waits: list[asyncio.Future[Any]] = [asyncio.ensure_future(f.wait()) for f in flags]
    try:
        await asyncio.wait([*waits, until], return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()
