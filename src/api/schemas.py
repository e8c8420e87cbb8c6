"""Request bodies: frozen msgspec structs that validate themselves.

Constraints live in the types (``Meta``), so a bad value is refused with a message that
names the field, and the OpenAPI schema shows the same limits. Unknown fields are refused
too: a typo such as ``passwrod`` must not be silently ignored.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from litestar.params import PathParameter, QueryParameter
from msgspec import UNSET, Meta, UnsetType

Code = Annotated[str, Meta(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="topic prefix")]
Name = Annotated[str, Meta(min_length=1, max_length=200)]
Host = Annotated[str, Meta(min_length=1, max_length=255, pattern=r"^[^\s/]+$")]
Port = Annotated[int, Meta(ge=1, le=65535)]
Prefix = Annotated[str, Meta(pattern=r"^[A-Za-z0-9_.-]{0,64}$")]
Keepalive = Annotated[int, Meta(ge=5, le=65535)]
OfflineAfter = Annotated[int, Meta(ge=5, le=30 * 86_400)]
Secret = Annotated[str, Meta(max_length=1024)]
Pem = Annotated[str, Meta(max_length=65_536)]
Qos = Annotated[int, Meta(ge=0, le=2)]
Protocol = Literal["3.1.1", "5"]
DeviceKind = Literal["datalogger", "gateway"]
MessageKind = Literal["heartbeat", "status"]
Pattern = Annotated[str, Meta(min_length=1, max_length=1024)]
Version = Annotated[str, Meta(pattern=r"^[A-Za-z0-9_.-]{1,32}$")]

# Row ids are ``serial`` (int4 on PostgreSQL): a number outside this range names no row,
# and would make the database driver raise (a 500) instead of finding nothing.
ID_MAX = 2**31 - 1
PathId = Annotated[int, PathParameter(ge=1, le=ID_MAX)]
QueryId = Annotated[int, QueryParameter(ge=1, le=ID_MAX)]
OptionalQueryId = Annotated[int | None, QueryParameter(ge=1, le=ID_MAX)]


def _without_secrets(struct: msgspec.Struct) -> list[tuple[str, Any]]:
    """Fields for ``repr`` and rich's pretty printer (tracebacks that show locals): a
    password is shown only as set or not."""
    return [
        (name, "***" if name == "password" and value else value)
        for name in struct.__struct_fields__
        if (value := getattr(struct, name)) is not UNSET
    ]


def _repr(struct: msgspec.Struct) -> str:
    fields = ", ".join(f"{name}={value!r}" for name, value in _without_secrets(struct))
    return f"{type(struct).__name__}({fields})"


class SiteCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Name
    code: Code
    broker_host: Host
    broker_port: Port = 1883
    username: Annotated[str, Meta(max_length=255)] = ""
    password: Secret | None = None
    client_id_prefix: Prefix = ""
    protocol: Protocol = "3.1.1"
    keepalive_s: Keepalive | None = None  # None: MQTT_KEEP_ALIVE
    tls: bool = False
    tls_ca_pem: Pem | None = None
    offline_after_s: OfflineAfter = 180
    is_enabled: bool = False

    def __repr__(self) -> str:
        return _repr(self)

    def __rich_repr__(self) -> list[tuple[str, Any]]:
        return _without_secrets(self)


class SiteUpdate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Name | UnsetType = UNSET
    code: Code | UnsetType = UNSET
    broker_host: Host | UnsetType = UNSET
    broker_port: Port | UnsetType = UNSET
    username: Annotated[str, Meta(max_length=255)] | UnsetType = UNSET
    password: Secret | UnsetType | None = UNSET
    client_id_prefix: Prefix | UnsetType = UNSET
    protocol: Protocol | UnsetType = UNSET
    keepalive_s: Keepalive | UnsetType = UNSET
    tls: bool | UnsetType = UNSET
    tls_ca_pem: Pem | UnsetType | None = UNSET
    offline_after_s: OfflineAfter | UnsetType = UNSET
    is_enabled: bool | UnsetType = UNSET

    def __repr__(self) -> str:
        return _repr(self)

    def __rich_repr__(self) -> list[tuple[str, Any]]:
        return _without_secrets(self)


class TopicCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pattern: Pattern
    device_kind: DeviceKind = "datalogger"
    message_kind: MessageKind = "heartbeat"
    payload_version: Version = "v1"
    qos: Qos = 1
    is_active: bool = True


class TopicUpdate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pattern: Pattern | UnsetType = UNSET
    device_kind: DeviceKind | UnsetType = UNSET
    message_kind: MessageKind | UnsetType = UNSET
    payload_version: Version | UnsetType = UNSET
    qos: Qos | UnsetType = UNSET
    is_active: bool | UnsetType = UNSET


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
