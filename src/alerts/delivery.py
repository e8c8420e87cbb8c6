"""Delivering notifications: webhooks in Alertmanager's shape, and anything Apprise speaks.

Runs on the event loop; Apprise's ``notify`` blocks on the network, so it runs in a worker
thread. Every failure comes out as ``DeliveryFailed`` with the reason in words (never the
URL, which may hold a token).

Webhook body (Prometheus Alertmanager's webhook, version 4)::

    {"version": "4", "status": "firing"|"resolved", "receiver": <channel name>,
     "groupKey": ..., "truncatedAlerts": 0, "groupLabels": {...}, "commonLabels": {...},
     "commonAnnotations": {...}, "externalURL": <SITELINK_PUBLIC_URL>,
     "alerts": [{"status", "labels": {"alertname", "rule", "kind", "site_code",
                 "site_name", "device_serial"?, "alert_id"},
                 "annotations": {"summary", "description", "link"},
                 "startsAt", "endsAt", "generatorURL", "fingerprint"}]}

``X-Sitelink-Signature: sha256=<hex HMAC-SHA256 of the body with the channel's secret>``
when the channel has a secret.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import warnings
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import httpx
import msgspec

from sitelink.alerts.model import ChannelKind, ChannelTarget
from sitelink.errors import SitelinkError
from sitelink.storage.outbox import Delivery

SIGNATURE_HEADER = "X-Sitelink-Signature"
ZERO_TIME = "0001-01-01T00:00:00Z"  # Alertmanager's "not ended"
DEVICE_KINDS = ("device_offline", "sensor_threshold")


class DeliveryFailed(SitelinkError):
    """A notification did not reach its channel; the message says why, without the URL."""


def _iso(value: datetime | None) -> str:
    if value is None:
        return ZERO_TIME
    return value.isoformat(timespec="seconds").replace("+00:00", "Z")


def link(public_url: str, d: Delivery) -> str:
    """The dashboard page of what the alert is about."""
    base = public_url.rstrip("/")
    if d.kind in DEVICE_KINDS and d.device_id is not None:
        return f"{base}/dataloggers/{d.device_id}"
    return f"{base}/sites/{d.site_id}" if d.site_id is not None else f"{base}/"


def status_of(d: Delivery) -> str:
    return "resolved" if d.transition == "resolved" else "firing"


def _labels(d: Delivery) -> dict[str, str]:
    labels = {"alertname": d.rule_name or d.kind, "rule": d.rule_name, "kind": d.kind,
              "site_code": d.site_code, "site_name": d.site_name, "alert_id": str(d.alert_id)}
    if d.device_serial:
        labels["device_serial"] = d.device_serial
    return labels


def alertmanager_body(deliveries: Sequence[Delivery], *, receiver: str, public_url: str) -> bytes:
    alerts = []
    for d in deliveries:
        status = status_of(d)
        url = link(public_url, d)
        alerts.append({
            "status": status, "labels": _labels(d),
            "annotations": {"summary": d.message, "description": d.message, "link": url},
            "startsAt": _iso(d.started_at),
            "endsAt": _iso(d.resolved_at) if status == "resolved" else ZERO_TIME,
            "generatorURL": url, "fingerprint": f"{d.alert_id:016x}",
        })
    statuses = {a["status"] for a in alerts}
    label_sets = [_labels(d) for d in deliveries]
    common = {k: v for k, v in label_sets[0].items()
              if all(ls.get(k) == v for ls in label_sets)} if label_sets else {}
    group_labels = {k: common[k] for k in ("alertname", "kind") if k in common}
    body: dict[str, Any] = {
        "version": "4", "status": "firing" if "firing" in statuses else "resolved",
        "receiver": receiver,
        "groupKey": (deliveries[0].group_key or f"alert:{deliveries[0].alert_id}")
        if deliveries else "",
        "truncatedAlerts": 0, "groupLabels": group_labels, "commonLabels": common,
        "commonAnnotations": {}, "externalURL": public_url.rstrip("/"), "alerts": alerts,
    }
    return msgspec.json.encode(body)


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def apprise_text(deliveries: Sequence[Delivery], *, public_url: str) -> tuple[str, str]:
    """A title and a body in words, for e-mail and chat."""
    first = deliveries[0]
    status = status_of(first).upper()
    if len(deliveries) == 1:
        title = f"[{status}] {first.message}"
        body = f"{first.message}\nRule: {first.rule_name}\n{link(public_url, first)}"
        return title, body
    title = f"[{status}] {first.rule_name}: {len(deliveries)} alerts"
    lines = [f"- {d.message} ({link(public_url, d)})" for d in deliveries]
    return title, "\n".join([f"{len(deliveries)} alerts of rule {first.rule_name}:", *lines])


def _apprise() -> Any:
    """The apprise module, imported on first use (~0.1 s; only channels need it). Its
    plugins import ``imghdr`` lazily, which Python 3.11 flags as deprecated: not ours to
    fix, so it is imported here once with that warning silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import imghdr  # noqa: F401

        import apprise
    return apprise


def apprise_understands(url: str) -> bool:
    """True when Apprise has a plugin for this URL and the URL parses for it."""
    return bool(_apprise().Apprise().add(url))


def _apprise_notify(url: str, title: str, body: str, failed: bool) -> bool:
    apprise = _apprise()
    app = apprise.Apprise()
    if not app.add(url):
        return False
    notify_type = apprise.NotifyType.FAILURE if failed else apprise.NotifyType.SUCCESS
    return bool(app.notify(title=title, body=body, notify_type=notify_type))


async def deliver(target: ChannelTarget, deliveries: Sequence[Delivery], *,
                  client: httpx.AsyncClient, public_url: str, timeout_s: float) -> None:
    """Send one notification (one or several alerts) to a channel; ``DeliveryFailed`` if
    it was not accepted within ``timeout_s``."""
    if target.kind is ChannelKind.WEBHOOK:
        body = alertmanager_body(deliveries, receiver=target.name, public_url=public_url)
        headers = {"Content-Type": "application/json", "User-Agent": "sitelink-alerts"}
        if target.secret:
            headers[SIGNATURE_HEADER] = signature(target.secret, body)
        try:
            response = await client.post(target.url, content=body, headers=headers,
                                         timeout=timeout_s)
        except httpx.TimeoutException:
            raise DeliveryFailed(f"no answer within {timeout_s:g} s") from None
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"{type(exc).__name__}: cannot reach the receiver") from None
        if response.status_code >= 300:
            raise DeliveryFailed(f"the receiver answered HTTP {response.status_code}")
        return
    title, text = apprise_text(deliveries, public_url=public_url)
    failed = any(status_of(d) == "firing" for d in deliveries)
    try:
        ok = await asyncio.wait_for(
            asyncio.to_thread(_apprise_notify, target.url, title, text, failed), timeout_s)
    except TimeoutError:
        raise DeliveryFailed(f"no answer within {timeout_s:g} s") from None
    if not ok:
        raise DeliveryFailed("Apprise could not deliver the notification (see the log)")
