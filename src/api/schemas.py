"""Request bodies: frozen msgspec structs that validate themselves.

Constraints live in the types (``Meta``), so a bad value is refused with a message that
names the field, and the OpenAPI schema shows the same limits. Unknown fields are refused
too: a typo such as ``passwrod`` must not be silently ignored. The site's rules live in
``sitelink.site_rules`` (shared with the CLI, import and the supervisor) and are
re-exported here.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from litestar.params import PathParameter, QueryParameter
from msgspec import UNSET, Meta, UnsetType

from sitelink.site_rules import (
    Code,
    Host,
    Keepalive,
    Labels,
    Name,
    OfflineAfter,
    Pem,
    Port,
    Prefix,
    Protocol,
    Secret,
    SiteCreate,
    SiteUpdate,
)

Qos = Annotated[int, Meta(ge=0, le=2)]
DeviceKind = Literal["datalogger", "gateway"]
MessageKind = Literal["heartbeat", "status"]
Pattern = Annotated[str, Meta(min_length=1, max_length=1024)]
Version = Annotated[str, Meta(pattern=r"^[A-Za-z0-9_.-]{1,32}$")]
# A `mapped` subscription's JMESPath expressions by name (checked when compiled).
PayloadMap = Annotated[dict[str, str], Meta(max_length=16)]

# Row ids are ``serial`` (int4 on PostgreSQL): a number outside this range names no row,
# and would make the database driver raise (a 500) instead of finding nothing.
ID_MAX = 2**31 - 1
PathId = Annotated[int, PathParameter(ge=1, le=ID_MAX)]
QueryId = Annotated[int, QueryParameter(ge=1, le=ID_MAX)]
OptionalQueryId = Annotated[int | None, QueryParameter(ge=1, le=ID_MAX)]

__all__ = [
    "ID_MAX", "Code", "DataloggerUpdate", "DiscoveryRequest", "Host", "Keepalive", "Labels",
    "Name",
    "OfflineAfter", "OptionalQueryId", "PathId", "Pem", "Port", "Prefix", "Protocol",
    "PublishCommand", "QueryId", "Secret", "SessionRequest", "SiteCreate", "SiteUpdate",
    "TopicCreate", "TopicUpdate",
]


class TopicCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pattern: Pattern
    device_kind: DeviceKind = "datalogger"
    message_kind: MessageKind = "heartbeat"
    payload_version: Version = "v1"
    qos: Qos = 1
    is_active: bool = True
    payload_map: PayloadMap | None = None


class TopicUpdate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pattern: Pattern | UnsetType = UNSET
    device_kind: DeviceKind | UnsetType = UNSET
    message_kind: MessageKind | UnsetType = UNSET
    payload_version: Version | UnsetType = UNSET
    qos: Qos | UnsetType = UNSET
    is_active: bool | UnsetType = UNSET
    payload_map: PayloadMap | UnsetType | None = UNSET


class PublishCommand(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    topic: Annotated[str, Meta(min_length=1, max_length=4096)]
    message: Annotated[str, Meta(max_length=262_144)]
    qos: Qos = 1
    retain: bool = False


class DiscoveryRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    seconds: Annotated[float, Meta(gt=0, le=3600)] = 30


class DataloggerUpdate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    label: Annotated[str, Meta(max_length=200)] | UnsetType = UNSET
    offline_after_s: OfflineAfter | UnsetType | None = UNSET  # None: the site's default


class SessionRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    token: Annotated[str, Meta(min_length=1, max_length=512)]
