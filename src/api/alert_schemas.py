"""Request bodies and answers of the alerting API (frozen msgspec structs, in OpenAPI).

Constraints that one field can carry live in its type; rules that tie fields together
(a threshold rule needs ``sensor_key`` and ``min`` and/or ``max``) are checked in
``sitelink.api.alert_rules`` and raise ``ValidationError`` naming the field.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from msgspec import UNSET, Meta, UnsetType

from sitelink.alerts.model import AlertInfo, Channel, ChannelKind, Rule, RuleKind, Silence
from sitelink.api.schemas import ID_MAX, Labels, Name

Id = Annotated[int, Meta(ge=1, le=ID_MAX)]
Seconds = Annotated[int, Meta(ge=0, le=30 * 86_400)]
ChannelIds = Annotated[list[Id], Meta(max_length=20)]
SensorKey = Annotated[str, Meta(max_length=255)]
Url = Annotated[str, Meta(min_length=1, max_length=2048)]
Secret = Annotated[str, Meta(max_length=1024)]


class RuleCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Name
    kind: RuleKind
    site_id: Id | None = None
    labels: Labels = {}
    for_s: Seconds = 60
    repeat_s: Seconds = 0
    notify_resolved: bool = True
    channel_ids: ChannelIds = []
    is_enabled: bool = True
    sensor_key: SensorKey = ""
    model: SensorKey = ""
    min: float | None = None
    max: float | None = None


class RuleUpdate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Name | UnsetType = UNSET
    kind: RuleKind | UnsetType = UNSET
    site_id: Id | UnsetType | None = UNSET
    labels: Labels | UnsetType = UNSET
    for_s: Seconds | UnsetType = UNSET
    repeat_s: Seconds | UnsetType = UNSET
    notify_resolved: bool | UnsetType = UNSET
    channel_ids: ChannelIds | UnsetType = UNSET
    is_enabled: bool | UnsetType = UNSET
    sensor_key: SensorKey | UnsetType = UNSET
    model: SensorKey | UnsetType = UNSET
    min: float | UnsetType | None = UNSET
    max: float | UnsetType | None = UNSET


def _hide_secret(struct: msgspec.Struct) -> str:
    shown = {name: ("***" if name in ("url", "secret") and value else value)
             for name in struct.__struct_fields__
             if (value := getattr(struct, name)) is not UNSET}
    return f"{type(struct).__name__}({shown!r})"


class ChannelCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Name
    kind: ChannelKind
    url: Url
    secret: Secret | None = None
    is_enabled: bool = True

    def __repr__(self) -> str:
        return _hide_secret(self)


class ChannelUpdate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Name | UnsetType = UNSET
    kind: ChannelKind | UnsetType = UNSET
    url: Url | UnsetType = UNSET
    secret: Secret | UnsetType | None = UNSET
    is_enabled: bool | UnsetType = UNSET

    def __repr__(self) -> str:
        return _hide_secret(self)


class SilenceCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    site_id: Id | None = None
    rule_id: Id | None = None
    until: datetime
    reason: Annotated[str, Meta(max_length=1000)] = ""


class RuleList(msgspec.Struct, frozen=True, kw_only=True):
    rules: list[Rule]


class ChannelList(msgspec.Struct, frozen=True, kw_only=True):
    channels: list[Channel]


class SilenceList(msgspec.Struct, frozen=True, kw_only=True):
    silences: list[Silence]


class AlertList(msgspec.Struct, frozen=True, kw_only=True):
    alerts: list[AlertInfo]


class ChannelTestResult(msgspec.Struct, frozen=True, kw_only=True):
    success: bool
    outcome: str  # "sent" or "failed"
    error: str
    duration_ms: int


def given(struct: msgspec.Struct) -> dict[str, Any]:
    """The fields a request set (``UNSET`` left out)."""
    return {k: v for k, v in msgspec.structs.asdict(struct).items() if v is not UNSET}
