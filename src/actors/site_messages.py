"""What a SiteActor is told, and what it answers: one closed set of messages.

Commands are imperative (``Configure``, ``Publish``); replies end in ``Result`` or ``Info``.
The lifecycle commands ``Start``, ``Stop`` and ``Reconnect`` come from ``lifecycle``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from sitelink.actors.device import DeviceInfo
from sitelink.actors.mqtt_port import BrokerConfig
from sitelink.events import CommandOutcomeKind, DeviceKey
from sitelink.topics import Subscription


class SiteSpec(msgspec.Struct, frozen=True, kw_only=True):
    """The desired state of one site, as storage and the API say it should be."""

    site_id: int
    code: str
    name: str
    broker: BrokerConfig
    subscriptions: tuple[Subscription, ...]
    is_enabled: bool
    offline_after_s: float = 180.0

    @property
    def manager_topic(self) -> str | None:
        """Our availability topic ("online"/"offline", retained): the will's topic, so the
        two can never differ; None when the will is off."""
        return self.broker.will_topic


class Configure(msgspec.Struct, frozen=True, kw_only=True):
    spec: SiteSpec


class PublishResult(msgspec.Struct, frozen=True, kw_only=True):
    command_id: str
    outcome: CommandOutcomeKind
    error: str = ""
    connected: bool = True


class Publish(msgspec.Struct, frozen=True, kw_only=True):
    """Publish a command. ``reply`` is called once, on the actor's thread, with the outcome:
    at once for a refusal, on the broker's acknowledgement otherwise."""

    command_id: str
    topic: str
    payload: bytes
    qos: int
    retain: bool
    reply: Callable[[PublishResult], None] | None = None


class Discover(msgspec.Struct, frozen=True, kw_only=True):
    seconds: float


class SetDeviceOfflineAfter(msgspec.Struct, frozen=True, kw_only=True):
    device: DeviceKey
    seconds: float | None  # None: back to the site's default


class ForgetDevice(msgspec.Struct, frozen=True, kw_only=True):
    device: DeviceKey


class Inspect(msgspec.Struct, frozen=True, kw_only=True):
    pass


class Shutdown(msgspec.Struct, frozen=True, kw_only=True):
    """Say goodbye to the broker and stop the devices (asked, during shutdown)."""


class ToDevice(msgspec.Struct, frozen=True, kw_only=True):
    """A message for one of the site's device actors (they share the site's mailbox)."""

    device: DeviceKey
    message: Any


class SiteInfo(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    state: str
    processed: int
    started_at: float
    devices: tuple[DeviceInfo, ...]
