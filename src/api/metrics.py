"""``GET /metrics``: Prometheus text, read from live state at scrape time.

Nothing is counted twice: a collector reads the read model, the hub, the writer and the
actor registry when Prometheus asks, so actors never touch a metrics library.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pykka
from litestar import Response, get
from litestar.di import NamedDependency
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from sitelink.alerts.model import RuleKind
from sitelink.api.auth import PUBLIC
from sitelink.cluster import view as cluster_view
from sitelink.events import ConnectionStatus
from sitelink.payloads.limits import REASONS
from sitelink.runtime import Runtime

AVAILABILITIES = ("online", "offline", "unreachable", "unknown")


class RuntimeCollector(Collector):
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def collect(self) -> Iterator[Metric]:
        rt = self.runtime
        views = list(rt.read_model.sites.values())
        by_status = Counter(v.status for v in views)
        g = GaugeMetricFamily("sitelink_connections", "Site connections by status",
                              labels=["status"])
        for status in ConnectionStatus:
            g.add_metric([status.value], by_status.get(status, 0))
        yield g
        attempts = CounterMetricFamily("sitelink_connect_attempts", "Connect attempts",
                                       labels=["site"])
        failures = CounterMetricFamily("sitelink_connect_failures",
                                       "Failed or lost connections", labels=["site"])
        received = CounterMetricFamily("sitelink_messages_received", "MQTT messages received",
                                       labels=["site"])
        rejected = CounterMetricFamily("sitelink_messages_rejected",
                                       "Payloads that did not decode or were too large",
                                       labels=["site"])
        for v in views:
            code = v.record.code
            attempts.add_metric([code], v.connect_attempts)
            failures.add_metric([code], v.connection_errors)
            received.add_metric([code], v.messages_received)
            rejected.add_metric([code], v.messages_rejected)
        yield from (attempts, failures, received, rejected)
        sparkplug = CounterMetricFamily(
            "sitelink_sparkplug_events",
            "Sparkplug B: DATA before its BIRTH (before_birth), rebirth requests sent, "
            "seq jumps (seq_gaps), NDEATHs of an older session (stale_deaths)",
            labels=["site", "event"])
        for v in views:
            for name, count in sorted(v.sparkplug.items()):
                sparkplug.add_metric([v.record.code, name], count)
        yield sparkplug
        devices = GaugeMetricFamily("sitelink_devices", "Devices by availability",
                                    labels=["availability"])
        counts = Counter(rt.read_model.device_availability.values())
        for availability in AVAILABILITIES:
            devices.add_metric([availability], counts.get(availability, 0))
        yield devices
        mailboxes = [ref.actor_inbox.qsize() for ref in pykka.ActorRegistry.get_all()]  # type: ignore[attr-defined]
        yield GaugeMetricFamily("sitelink_actors", "Live actors", value=len(mailboxes))
        yield GaugeMetricFamily("sitelink_actor_mailbox_max", "Deepest actor mailbox",
                                value=max(mailboxes, default=0))
        yield GaugeMetricFamily("sitelink_actor_mailbox_total", "Messages waiting in mailboxes",
                                value=sum(mailboxes))
        yield GaugeMetricFamily("sitelink_sse_clients", "Open event streams",
                                value=len(rt.hub.subscribers))
        yield CounterMetricFamily("sitelink_sse_dropped_clients",
                                  "Event streams dropped for being too slow",
                                  value=rt.hub.dropped_clients)
        yield CounterMetricFamily("sitelink_events_published", "Public events published",
                                  value=rt.hub.published)
        rejects = Counter(rt.read_model.rejects)
        if rt.writer is not None:
            rejects.update(rt.writer.rejects)
        by_reason = CounterMetricFamily(
            "sitelink_rejects", "Fields cut, sensors dropped, messages and rows refused for a "
            "limit or set aside by the database, by reason", labels=["reason"])
        for reason in sorted(set(REASONS) | set(rejects)):
            by_reason.add_metric([reason], rejects.get(reason, 0))
        yield by_reason
        if rt.writer is not None:
            yield GaugeMetricFamily("sitelink_storage_up",
                                    "1 while the storage writer's last write succeeded",
                                    value=int(rt.writer.storage_ok))
            yield GaugeMetricFamily("sitelink_storage_buffer_bytes",
                                    "Bytes of events waiting to be written",
                                    value=rt.writer.buffered_bytes)
            yield GaugeMetricFamily("sitelink_storage_flush_seconds",
                                    "Duration of the last storage flush",
                                    value=rt.writer.last_flush_s)
            yield GaugeMetricFamily("sitelink_storage_lag_events",
                                    "Events waiting to be written", value=rt.writer.lag)
            yield CounterMetricFamily("sitelink_storage_dropped_events",
                                      "Events dropped by the storage writer",
                                      value=rt.writer.dropped)
        if rt.alerts is not None:
            firing = GaugeMetricFamily("sitelink_alerts_firing", "Alerts firing now, by kind",
                                       labels=["kind"])
            by_kind = rt.alerts.firing_by_kind()
            for kind in RuleKind:
                firing.add_metric([kind.value], by_kind.get(kind.value, 0))
            yield firing
            sent = CounterMetricFamily("sitelink_notifications",
                                       "Notification attempts by channel and outcome",
                                       labels=["channel", "outcome"])
            for (channel, outcome), count in sorted(rt.alerts.sender.outcomes.items()):
                sent.add_metric([channel, outcome], count)
            yield sent
        if rt.replication is not None:
            yield GaugeMetricFamily("sitelink_event_log_last_id",
                                    "The last event log row delivered here",
                                    value=rt.replication.last_id)
            yield CounterMetricFamily("sitelink_event_log_listens",
                                      "LISTEN connections made to the event log (1 + reconnects)",
                                      value=rt.replication.listens)
            yield CounterMetricFamily("sitelink_event_log_dropped",
                                      "Event log rows dropped while the database was down",
                                      value=rt.replication.dropped)
        if rt.bridge is not None:
            yield CounterMetricFamily("sitelink_bridge_crossings",
                                      "Thread-to-loop hand-offs (each carries a batch)",
                                      value=rt.bridge.crossings)
            yield CounterMetricFamily("sitelink_bridge_events", "Events carried by the bridge",
                                      value=rt.bridge.events)
        yield GaugeMetricFamily("sitelink_cluster_instances", "Live instances of the cluster",
                                value=cluster_view.summary(rt).instances)
        yield CounterMetricFamily("sitelink_site_moves",
                                  "Sites this instance took over from another instance",
                                  value=rt.cluster.moves if rt.cluster is not None else 0)


_registries: dict[int, CollectorRegistry] = {}


def _registry(runtime: Runtime) -> CollectorRegistry:
    registry = _registries.get(id(runtime))
    if registry is None:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(RuntimeCollector(runtime))
        _registries[id(runtime)] = registry
    return registry


# Litestar adds "; charset=utf-8" to text types itself; declared on the route too, so that
# the published schema says what is sent.
PROMETHEUS_TEXT = "text/plain; version=0.0.4"


@get("/metrics", tags=["system"], opt=PUBLIC, media_type=PROMETHEUS_TEXT)
async def metrics(runtime: NamedDependency[Runtime]) -> Response[Any]:
    body = generate_latest(_registry(runtime))
    return Response(body, media_type=PROMETHEUS_TEXT)
