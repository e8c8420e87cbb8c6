"""The JSON answers of the site, subscription, discovery, command, token and system endpoints.

Frozen msgspec structs: Litestar describes each in ``/schema/openapi.json`` field by field
(tests/api/test_openapi_types.py checks that every 2xx JSON answer is typed), and the
dashboard's types are generated from that document (``web/src/api/schema.d.ts``). Times are
ISO 8601 UTC with ``Z`` (``times.iso``/``iso_time``), null when absent — the JSON API.md shows.
Device answers are in ``api.device_answers``; the status object in ``sitelink.status_object``.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from msgspec import UNSET, UnsetType

from sitelink.events import CommandOutcomeKind, ConnectionEventKind
from sitelink.site_rules import Protocol, Transport
from sitelink.status_object import SeenTopic, StatusObject

Qos = Literal[0, 1, 2]
Role = Literal["admin", "viewer"]


class Done(msgspec.Struct, frozen=True, kw_only=True):
    """What a control action (start, stop, reconnect, logout) did, in words."""

    success: bool
    message: str


class LoggedOut(msgspec.Struct, frozen=True, kw_only=True):
    success: bool


class SiteList(msgspec.Struct, frozen=True, kw_only=True):
    sites: list[StatusObject]


class Site(msgspec.Struct, frozen=True, kw_only=True):
    """A site's configuration: never the password nor the client key, ``has_*`` instead."""

    id: int
    name: str
    code: str
    broker_host: str
    broker_port: int
    username: str
    has_password: bool
    client_id_prefix: str
    protocol: Protocol
    keepalive_s: int
    tls: bool
    tls_ca_pem: str | None
    tls_client_cert_pem: str | None
    has_client_key: bool
    tls_verify_hostname: bool
    transport: Transport
    ws_path: str
    offline_after_s: int
    labels: dict[str, str]
    is_enabled: bool
    created_at: str
    updated_at: str


class ConnectionEventItem(msgspec.Struct, frozen=True, kw_only=True):
    kind: ConnectionEventKind
    reason: str
    at: str


class Last24h(msgspec.Struct, frozen=True, kw_only=True):
    connects: int
    drops: int
    failures: int
    uptime_percentage: float
    window_start: str
    window_end: str


class SiteHistory(msgspec.Struct, frozen=True, kw_only=True):
    site_id: int
    events: list[ConnectionEventItem]
    last_24h: Last24h


class Topic(msgspec.Struct, frozen=True, kw_only=True):
    """One subscription of a site (a row of the ``topic`` table) and its full MQTT filter."""

    id: int
    site_id: int
    pattern: str
    device_kind: Literal["datalogger", "gateway"]
    message_kind: Literal["heartbeat", "status"]
    payload_version: str
    qos: Qos
    is_active: bool
    payload_map: dict[str, str] | None
    mqtt_filter: str


class TopicList(msgspec.Struct, frozen=True, kw_only=True):
    topics: list[Topic]


class DiscoveryStarted(msgspec.Struct, frozen=True, kw_only=True):
    success: bool
    message: str
    state: Literal["running", "finished"]
    started_at: str
    ends_at: str


class Discovery(msgspec.Struct, frozen=True, kw_only=True):
    """The current or last discovery window of a site; ``idle`` when there was none."""

    site_id: int
    state: Literal["idle", "running", "finished"]
    started_at: str | None
    ends_at: str | None
    topics: list[SeenTopic]


class PublishResult(msgspec.Struct, frozen=True, kw_only=True):
    """``outcome`` is there when the broker took the command (API.md "Publish")."""

    success: bool
    message: str
    command_id: str
    outcome: CommandOutcomeKind | UnsetType = UNSET


class Command(msgspec.Struct, frozen=True, kw_only=True):
    """A published command (its payload is not kept, only its size)."""

    command_id: str
    site_id: int
    topic: str
    qos: Qos
    retain: bool
    payload_size: int
    sender: str
    outcome: CommandOutcomeKind
    error: str
    created_at: str
    completed_at: str | None


class CommandList(msgspec.Struct, frozen=True, kw_only=True):
    commands: list[Command]


class TokenInfo(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    role: Role
    created_at: str
    last_used_at: str | None


class NewToken(TokenInfo, frozen=True, kw_only=True):
    """The secret is in this answer and nowhere else."""

    token: str


class TokenList(msgspec.Struct, frozen=True, kw_only=True):
    tokens: list[TokenInfo]


class Me(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    role: Role


class AuditEntry(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    at: str
    actor: str
    action: str
    target: str
    detail: dict[str, Any]
    """Ids and names of what changed, free-form by action; never a secret or a payload."""
    result: str


class AuditPage(msgspec.Struct, frozen=True, kw_only=True):
    entries: list[AuditEntry]
