"""The values of alerting, as storage returns them and the API answers them.

Times are aware UTC datetimes (msgspec writes them as ISO 8601 with ``Z``). Secrets never
appear here: a channel says ``has_secret`` and shows its URL without credentials.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import msgspec


class RuleKind(StrEnum):
    SITE_DOWN = "site_down"
    DEVICE_OFFLINE = "device_offline"
    SENSOR_THRESHOLD = "sensor_threshold"
    NO_DATA = "no_data"


class ChannelKind(StrEnum):
    WEBHOOK = "webhook"
    APPRISE = "apprise"


class AlertStateName(StrEnum):
    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"


class Rule(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    name: str
    kind: RuleKind
    site_id: int | None
    labels: dict[str, str]
    for_s: int
    repeat_s: int
    notify_resolved: bool
    channel_ids: list[int]
    is_enabled: bool
    sensor_key: str = ""
    model: str = ""
    min: float | None = None
    max: float | None = None
    created_at: datetime
    updated_at: datetime

    def covers(self, site_id: int, site_labels: dict[str, str]) -> bool:
        """True when a site is in this rule's scope: its id (or any site) and every label."""
        if self.site_id is not None and self.site_id != site_id:
            return False
        return all(site_labels.get(k) == v for k, v in self.labels.items())

    def outside(self, value: float) -> bool:
        """A threshold rule's condition: the value below ``min`` or above ``max``."""
        return (self.min is not None and value < self.min) or (
            self.max is not None and value > self.max)


class Channel(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    name: str
    kind: ChannelKind
    url: str  # without credentials (webhook) or only its scheme (apprise)
    has_secret: bool
    is_enabled: bool
    created_at: datetime
    updated_at: datetime


class ChannelTarget(msgspec.Struct, frozen=True, kw_only=True):
    """A channel with its plaintext URL and secret, for the sender only; ``repr`` hides them."""

    id: int
    name: str
    kind: ChannelKind
    url: str
    secret: str | None
    is_enabled: bool

    def __repr__(self) -> str:
        return f"ChannelTarget(id={self.id}, name={self.name!r}, kind={self.kind.value})"


class Silence(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    site_id: int | None
    rule_id: int | None
    until: datetime
    reason: str
    created_by: str
    created_at: datetime

    def mutes(self, rule_id: int | None, site_id: int | None, now: datetime) -> bool:
        if now >= self.until:
            return False
        if self.site_id is not None and self.site_id != site_id:
            return False
        return self.rule_id is None or self.rule_id == rule_id


class NotificationInfo(msgspec.Struct, frozen=True, kw_only=True):
    """One notification of an alert to one channel: its latest outcome and attempts."""

    id: int
    channel_id: int
    transition: str
    at: datetime
    outcome: str  # queued, sending, sent, failed
    attempts: int
    error: str
    history: list[AttemptInfo]


class AttemptInfo(msgspec.Struct, frozen=True, kw_only=True):
    at: datetime
    outcome: str
    error: str
    duration_ms: int


class AlertInfo(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    rule_id: int | None
    kind: RuleKind
    state: AlertStateName
    site_id: int | None
    device_id: int | None
    sensor_id: int | None
    message: str
    started_at: datetime
    fired_at: datetime | None
    resolved_at: datetime | None
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    silenced: bool
    notifications: list[NotificationInfo]
