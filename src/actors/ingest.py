"""Ingest: turns one drained batch of MQTT messages into per-device batches.

Owned by a SiteActor and run on its thread. For each message: decode the topic, route it
through the site's subscriptions, decode the payload with the subscription's versioned
decoder, and file it under its device. A payload that does not decode is counted and logged
(site, topic, reason, first 200 bytes) and still counts as a sign of life; nothing here
raises for any input.

Topics of ``sparkplug_b`` subscriptions are not under the site code: they go to the site's
``EdgeNodes`` (``sparkplug_nodes``), which keeps the per-edge-node state Sparkplug needs and
may ask for a rebirth; the batch carries such requests out for the site actor to publish.
A ``mapped`` subscription decodes with its own decoder, compiled from its ``payload_map``
when the subscriptions are set.

What a device sends is made storable here (``sitelink.payloads.limits``): over-long fields
are cut or dropped, a serial that does not fit or more than ``max_sensors`` sensors reject
the message. Each such change is counted in ``Batch.reasons`` under its reason.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence

import msgspec
import structlog

from sitelink.actors.device import Heard
from sitelink.actors.mqtt_port import InboundMessage
from sitelink.actors.sparkplug_nodes import EdgeNodes
from sitelink.events import DeviceKey, DiscoveredTopic, SiteTraffic
from sitelink.payloads import (
    Decoder,
    Reading,
    Rejected,
    configured_decoder,
    decode,
    decode_status,
    guess_payload_version,
    is_configured,
)
from sitelink.payloads import preview as payload_preview
from sitelink.payloads.limits import (
    DEFAULT_MAX_SENSORS,
    FIRMWARE_MAX,
    GATEWAY_MAX,
    MODEL_MAX,
    SERIAL_MAX,
    fit,
    fit_optional,
    fit_sensors,
    fits,
)
from sitelink.payloads.registry import FITS_LIMITS
from sitelink.sparkplug_topics import NAMESPACE, parse_topic
from sitelink.topic_rules import guess_kind, topic_matches
from sitelink.topics import Subscription, TopicRouter

log = structlog.get_logger(__name__)

_LOGGED_REJECTIONS_MAX = 10_000


class Batch(msgspec.Struct, kw_only=True):
    """What one drain produced."""

    per_device: dict[DeviceKey, list[Heard]]
    received: int = 0
    rejected: int = 0
    last_message_at: float | None = None
    publish: list[tuple[str, bytes]] = msgspec.field(default_factory=list)  # rebirth requests
    sparkplug_before_birth: int = 0
    sparkplug_seq_gaps: int = 0
    sparkplug_stale_deaths: int = 0
    reasons: Counter[str] = msgspec.field(default_factory=Counter)
    """Fields cut, sensors dropped and messages rejected for a limit, by reason."""

    def traffic(self, site_id: int, rebirths: int) -> SiteTraffic:
        """The batch's counters as the site's traffic event, with the rebirth requests the
        site actually sent (it sends them only while connected)."""
        return SiteTraffic(site_id=site_id, received=self.received, rejected=self.rejected,
                           last_message_at=self.last_message_at,
                           sparkplug_before_birth=self.sparkplug_before_birth,
                           sparkplug_rebirths=rebirths,
                           sparkplug_seq_gaps=self.sparkplug_seq_gaps,
                           sparkplug_stale_deaths=self.sparkplug_stale_deaths,
                           reasons=dict(self.reasons))


class _TopicStats(msgspec.Struct, kw_only=True):
    count: int = 0
    last_payload_size: int = 0
    last_seen_at: float = 0.0
    guessed_version: str | None = None


class DiscoveryWindow:
    """Distinct topics seen under ``{code}/#`` while a discovery window is open."""

    def __init__(self, code: str, started_at: float, limit: int = 10_000) -> None:
        self.code = code
        self.started_at = started_at
        self.limit = limit
        self.topics: dict[str, _TopicStats] = {}

    def record(self, topic: str, payload: bytes, at: float) -> None:
        stats = self.topics.get(topic)
        if stats is None:
            if len(self.topics) >= self.limit:
                return
            stats = self.topics[topic] = _TopicStats()
        stats.count += 1
        stats.last_payload_size = len(payload)
        stats.last_seen_at = at
        stats.guessed_version = guess_payload_version(payload) or stats.guessed_version

    def result(self) -> tuple[DiscoveredTopic, ...]:
        found = []
        for topic, s in sorted(self.topics.items()):
            kind = guess_kind(self.code, topic)
            found.append(
                DiscoveredTopic(
                    topic=topic,
                    count=s.count,
                    last_payload_size=s.last_payload_size,
                    last_seen_at=s.last_seen_at,
                    guessed_kind="/".join(kind) if kind else "",
                    guessed_payload_version=s.guessed_version or "",
                )
            )
        return tuple(found)


class Ingest:
    def __init__(
        self, site_id: int, code: str, subscriptions: Sequence[Subscription], max_payload: int,
        max_sensors: int = DEFAULT_MAX_SENSORS,
    ) -> None:
        self.site_id = site_id
        self.code = code
        self.max_payload = max_payload
        self.max_sensors = max_sensors
        self.discovery: DiscoveryWindow | None = None
        self._logged: set[tuple[str, str]] = set()
        self.edge_nodes = EdgeNodes()
        self.set_subscriptions(subscriptions)

    def set_subscriptions(self, subscriptions: Sequence[Subscription]) -> None:
        active = [s for s in subscriptions if s.is_active]
        self.router = TopicRouter(self.code, active)
        # Keyed by identity: the router hands back these very objects.
        self._decoders: dict[int, Decoder] = {
            id(s): configured_decoder(s.payload_version, s.payload_map)
            for s in active if is_configured(s.payload_version)
        }
        self._sparkplug_filters = tuple(s.mqtt_filter(self.code) for s in active
                                        if s.is_sparkplug)
        self._sparkplug_topics: dict[str, bool] = {}  # topic -> matches a filter (bounded)

    def process(self, messages: Sequence[InboundMessage]) -> Batch:
        batch = Batch(per_device=defaultdict(list))
        for message in messages:
            batch.received += 1
            try:
                topic = message.topic.decode()
            except UnicodeDecodeError:
                self._reject(batch, repr(message.topic), "invalid UTF-8 topic", message.payload)
                continue
            if self.discovery is not None:
                self.discovery.record(topic, message.payload, message.at)
            route = self.router.route(topic)
            if route is None:
                if self._sparkplug_filters and topic.startswith(NAMESPACE):
                    self._sparkplug(batch, topic, message)
                continue
            sub = route.subscription
            model, gateway = route.model or "", route.gateway
            # A topic no longer than a column, without NUL, cannot hold a part that does not
            # fit: one test per message on the hot path.
            if len(topic) > SERIAL_MAX or "\x00" in topic:
                if not fits(route.serial, SERIAL_MAX):
                    batch.reasons["serial_too_long"] += 1
                    self._reject(batch, topic, "serial too long or not text", message.payload)
                    continue
                model = fit(model, MODEL_MAX, "model", batch.reasons)
                if gateway is not None:
                    gateway = fit(gateway, GATEWAY_MAX, "gateway", batch.reasons)
            key = DeviceKey(self.site_id, sub.device_kind, route.serial)
            heard = self._decode(batch, topic, sub, message, model, gateway)
            batch.per_device[key].append(heard)
            if not message.retain:
                batch.last_message_at = message.at
        return batch

    def _decode(
        self,
        batch: Batch,
        topic: str,
        sub: Subscription,
        message: InboundMessage,
        model: str,
        gateway: str | None,
    ) -> Heard:
        at, retained, payload = message.at, message.retain, message.payload
        if len(payload) > self.max_payload:
            reason = f"payload too large ({len(payload)} > {self.max_payload} bytes)"
            self._reject(batch, topic, reason, payload)
            return Heard(at, retained, model, gateway or "")
        if sub.message_kind == "status":
            status = decode_status(payload)
            if isinstance(status, Rejected):
                self._reject(batch, topic, status.reason, payload)
                return Heard(at, retained, model, gateway or "")
            return Heard(at, retained, model, gateway or "", status=status)
        decoder = self._decoders.get(id(sub))
        reading: Reading | Rejected = (
            decode(sub.payload_version, payload, self.max_payload) if decoder is None
            else decoder(payload)
        )
        if isinstance(reading, Rejected):
            self._reject(batch, topic, reading.reason, payload)
            return Heard(at, retained, model, gateway or "")
        reasons = batch.reasons
        if reading.skipped_sensors:
            if reading.non_finite:
                reasons["non_finite_value"] += reading.non_finite
            if reading.skipped_sensors > reading.non_finite:
                reasons["invalid_sensor"] += reading.skipped_sensors - reading.non_finite
        if reading.limited:
            reasons.update(reading.limited)
        if len(reading.sensors) > self.max_sensors:
            reasons["too_many_sensors"] += 1
            self._reject(batch, topic, f"more than {self.max_sensors} sensors", payload)
            return Heard(at, retained, model, gateway or "")
        sensors, firmware, sent_gateway = reading.sensors, reading.firmware, reading.gateway
        # v1 and v2 fit the limits as they decode; JSON can carry NUL only as \u0000.
        if sub.payload_version not in FITS_LIMITS or b"\\u0000" in payload:
            sensors = fit_sensors(sensors, reasons)
            firmware = fit_optional(firmware, FIRMWARE_MAX, "firmware", reasons)
            sent_gateway = fit_optional(sent_gateway, GATEWAY_MAX, "gateway", reasons)
        return Heard(
            at,
            retained,
            model,
            gateway or sent_gateway or "",
            firmware=firmware,
            uptime_s=reading.uptime_s,
            sensors=sensors,
            measured_at=reading.at,
        )

    def _sparkplug(self, batch: Batch, topic: str, message: InboundMessage) -> None:
        matches = self._sparkplug_topics.get(topic)
        if matches is None:
            if len(self._sparkplug_topics) >= _LOGGED_REJECTIONS_MAX:
                self._sparkplug_topics.clear()
            matches = self._sparkplug_topics[topic] = any(
                topic_matches(f, topic) for f in self._sparkplug_filters)
        parsed = parse_topic(topic) if matches else None
        if parsed is None:
            return
        if len(message.payload) > self.max_payload:
            reason = f"payload too large ({len(message.payload)} > {self.max_payload} bytes)"
            self._reject(batch, topic, reason, message.payload)
            return
        outcome = self.edge_nodes.receive(parsed, message.payload, message.at, message.retain)
        if outcome.rejected is not None:
            self._reject(batch, topic, outcome.rejected, message.payload)
        for item in outcome.heard:
            heard = self._fit_sparkplug(batch, topic, item.serial, item.heard, message.payload)
            if heard is not None:
                batch.per_device[DeviceKey(self.site_id, item.kind, item.serial)].append(heard)
        if outcome.rebirth is not None:
            batch.publish.append(outcome.rebirth)
        batch.sparkplug_before_birth += outcome.before_birth
        batch.sparkplug_seq_gaps += outcome.seq_gap
        batch.sparkplug_stale_deaths += outcome.stale_death
        if not message.retain:
            batch.last_message_at = message.at

    def _fit_sparkplug(
        self, batch: Batch, topic: str, serial: str, heard: Heard, payload: bytes
    ) -> Heard | None:
        """A Sparkplug device's ``heard`` held to the limits a decoded message is held to:
        None (the message rejected) when its serial does not fit, no sensors when it has more
        than ``max_sensors``, its other strings cut to fit."""
        reasons = batch.reasons
        model, gateway, sensors = heard.model, heard.gateway, heard.sensors
        # Serial, model (group) and gateway (edge node) are parts of the topic: as in
        # process, a topic no longer than a column, without NUL, has none that does not fit.
        if len(topic) > SERIAL_MAX or "\x00" in topic:
            if not fits(serial, SERIAL_MAX):
                reasons["serial_too_long"] += 1
                self._reject(batch, topic, "serial too long or not text", payload)
                return None
            model = fit(model, MODEL_MAX, "model", reasons)
            gateway = fit(gateway, GATEWAY_MAX, "gateway", reasons)
        if len(sensors) > self.max_sensors:
            reasons["too_many_sensors"] += 1
            self._reject(batch, topic, f"more than {self.max_sensors} sensors", payload)
            sensors = ()
        sensors = fit_sensors(sensors, reasons)
        # fit and fit_sensors hand back the very object when it already fits.
        if model is heard.model and gateway is heard.gateway and sensors is heard.sensors:
            return heard
        return msgspec.structs.replace(heard, model=model, gateway=gateway, sensors=sensors)

    def _reject(self, batch: Batch, topic: str, reason: str, payload: bytes) -> None:
        batch.rejected += 1
        marker = (topic, reason)
        if marker in self._logged:
            return
        if len(self._logged) >= _LOGGED_REJECTIONS_MAX:
            self._logged.clear()
        self._logged.add(marker)
        log.warning(
            "payload rejected",
            site=self.code,
            topic=topic,
            reason=reason,
            payload=payload_preview(payload),
        )
