"""Builders for alert tests: rules, sites in a real read model, and the events actors send."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from manual_scheduler import ManualScheduler
from sitelink.alerts.evaluator import Evaluator, Transition
from sitelink.alerts.model import Rule, RuleKind
from sitelink.events import (
    DeviceAvailabilityChanged,
    DeviceHeartbeat,
    DeviceKey,
    Event,
    SensorValue,
    SiteStatusChanged,
    SiteTraffic,
)
from sitelink.readmodel import ReadModel
from sitelink.storage.sites import SiteRecord

EPOCH = datetime(2027, 1, 1, tzinfo=UTC)


def rule(rule_id: int, kind: RuleKind, **fields: Any) -> Rule:
    values: dict[str, Any] = dict(
        id=rule_id, name=f"rule {rule_id}", kind=kind, site_id=None, labels={}, for_s=60,
        repeat_s=0, notify_resolved=True, channel_ids=[1], is_enabled=True,
        created_at=EPOCH, updated_at=EPOCH)
    values.update(fields)
    return Rule(**values)


def site_record(site_id: int, *, labels: dict[str, str] | None = None,
                enabled: bool = True) -> SiteRecord:
    return SiteRecord(
        id=site_id, name=f"Site {site_id:03d}", code=f"site_{site_id:03d}", broker_host="h",
        broker_port=1883, username="", client_id_prefix="", protocol="3.1.1", keepalive_s=60,
        tls=False, tls_ca_pem=None, tls_client_cert_pem=None, tls_verify_hostname=True,
        transport="tcp", ws_path="/mqtt", offline_after_s=180, is_enabled=enabled,
        has_password=False, has_client_key=False, labels=labels or {}, created_at=EPOCH,
        updated_at=EPOCH,
        status="disconnected", error_message="", last_connected_at=None,
        last_heartbeat_at=None, connection_errors=0, messages_received=0)


class Rig:
    """A real read model and an evaluator on a fake clock; ``seen`` holds the transitions."""

    def __init__(self, *sites: SiteRecord) -> None:
        self.clock = ManualScheduler()
        self.read_model = ReadModel("test", lambda key: None)
        self.read_model.load(list(sites))
        self.seen: list[Transition] = []
        self.evaluator = Evaluator(self.read_model, self.clock, self.seen.append)

    def send(self, event: Event) -> None:
        self.read_model.apply(event)
        self.evaluator.observe(event)

    def status(self, site_id: int, status: str, error: str = "") -> None:
        view = self.read_model.sites[site_id]
        self.send(SiteStatusChanged(
            site_id=site_id, code=view.record.code, status=status,  # type: ignore[arg-type]
            is_enabled=view.record.is_enabled, error_message=error, retry_count=0,
            next_retry_at=None, client_id="c", last_connected_at=None, topics=(),
            handler_running=True, at=self.clock.now()))

    def availability(self, device: DeviceKey, availability: str) -> None:
        self.send(DeviceAvailabilityChanged(
            device=device, availability=availability, previous="online",  # type: ignore[arg-type]
            reason="test", at=self.clock.now()))

    def reading(self, device: DeviceKey, key: str, value: float, model: str = "m") -> None:
        self.send(DeviceHeartbeat(device=device, model=model, gateway="", firmware=None,
                                  uptime_s=None, sensors=(SensorValue(key=key, value=value),),
                                  at=self.clock.now()))

    def traffic(self, site_id: int) -> None:
        self.send(SiteTraffic(site_id=site_id, received=1, rejected=0,
                              last_message_at=self.clock.now()))

    def effects(self) -> list[tuple[str, str]]:
        return [(type(t.effect).__name__, t.subject.key) for t in self.seen]
