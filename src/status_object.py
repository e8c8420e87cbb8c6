"""The answers the read model gives: a site's status object and a discovery window's topics.

msgspec structs, so that the OpenAPI document describes them field by field and the
dashboard's types are generated from it. Times are ISO 8601 UTC with ``Z`` (``times.iso``),
absent ones are null: the JSON is the one API.md shows.
"""

from __future__ import annotations

import msgspec

from sitelink.events import ConnectionStatus
from sitelink.site_rules import Protocol


class Owner(msgspec.Struct, frozen=True, kw_only=True):
    """Which instance (and which of its worker processes) runs a site's connection."""

    instance_id: str
    worker: int | None


class StatusObject(msgspec.Struct, frozen=True, kw_only=True):
    """A site's live status (API.md "Status object")."""

    connection_id: int
    site_id: int
    site_name: str
    code: str
    is_enabled: bool
    status: ConnectionStatus
    broker_host: str
    broker_port: int
    protocol: Protocol
    client_id: str
    last_connected_at: str | None
    last_heartbeat_at: str | None
    connection_errors: int
    error_message: str
    handler_running: bool
    handler_connected: bool
    retry_count: int
    next_retry_at: str | None
    messages_received: int
    messages_rejected: int
    subscribed_topics: int
    topics_list: list[str]
    owner: Owner | None
    """Null while no instance holds the site."""


class SeenTopic(msgspec.Struct, frozen=True, kw_only=True):
    """One distinct topic a discovery window saw."""

    topic: str
    count: int
    last_payload_size: int
    last_seen_at: str
    guessed_kind: str
    guessed_payload_version: str
