"""Alerts end to end: a real server, a real Mosquitto that goes down, a real webhook
receiver (signature checked), a real SMTP server behind an Apprise mailto:// channel."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from alerts.receivers import WebhookReceiver, smtp_server
from integration.live import (
    LiveServer,
    Publisher,
    create_site,
    metric,
    require_postgres,
    running_server,
    v1_heartbeat,
    wait_status,
    wait_until,
)
from sitelink.embedded_broker import Mosquitto

SECRET = "hook-secret"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    with running_server("sqlite", tmp_path) as live:
        yield live


def _alerts(server: LiveServer, **params: object) -> list[dict[str, object]]:
    response = server.admin().get("/api/v1/alerts", params=params)  # type: ignore[arg-type]
    assert response.status_code == 200, response.text
    alerts: list[dict[str, object]] = response.json()["alerts"]
    return alerts


def test_site_down_fires_once_signed_and_resolves(server: LiveServer,
                                                  mosquitto: Mosquitto) -> None:
    """A broker that dies raises one site_down on the webhook (Alertmanager shape, signed)
    after for_s, on the event stream and in the list; it resolves once the broker is back."""
    admin = server.admin()
    with WebhookReceiver(secret=SECRET) as hook:
        channel = admin.post("/api/v1/alerts/channels", json={
            "name": "hook", "kind": "webhook", "url": hook.url, "secret": SECRET}).json()
        assert channel["has_secret"] is True and "secret" not in channel
        rule = admin.post("/api/v1/alerts/rules", json={
            "name": "site down", "kind": "site_down", "for_s": 1,
            "channel_ids": [channel["id"]]})
        assert rule.status_code == 201, rule.text
        site = create_site(admin, mosquitto.host, mosquitto.port, name="Site A",
                           is_enabled=True, labels={"region": "puglia"})
        wait_status(admin, site["site_id"], "connected")
        config = admin.get(f"/api/v1/mqtt/sites/{site['site_id']}/").json()
        assert config["labels"] == {"region": "puglia"}
        stream = server.events(params={"types": "alert.firing,alert.resolved"})
        mosquitto.kill()
        [firing] = hook.wait(1)
        assert firing["version"] == "4" and firing["status"] == "firing"
        [alert] = firing["alerts"]
        assert alert["labels"]["site_code"] == site["code"]
        assert alert["labels"]["site_name"] == "Site A"
        assert alert["labels"]["kind"] == "site_down"
        assert alert["annotations"]["link"].endswith(f"/sites/{site['site_id']}")
        assert alert["annotations"]["summary"].startswith("Site A: MQTT")
        assert alert["endsAt"] == "0001-01-01T00:00:00Z"
        event = stream.wait_for("alert.firing")
        assert event.json["kind"] == "site_down"
        [listed] = _alerts(server, state="firing")
        assert listed["site_id"] == site["site_id"]
        wait_until(lambda: _alerts(server, state="firing")[0]["notifications"][0]["outcome"]
                   == "sent", message="the notification is recorded as sent")
        assert metric(admin, "sitelink_alerts_firing", kind="site_down") == 1
        mosquitto.start()
        wait_status(admin, site["site_id"], "connected", timeout_s=20)
        bodies = hook.wait(2)
        assert [b["status"] for b in bodies] == ["firing", "resolved"]
        assert bodies[1]["alerts"][0]["endsAt"] != "0001-01-01T00:00:00Z"
        stream.wait_for("alert.resolved")
        wait_until(lambda: metric(admin, "sitelink_notifications_total", channel="hook",
                                  outcome="sent") == 2, message="two notifications counted")
        assert len(hook.bodies()) == 2
        stream.close()


def test_restart_neither_refires_nor_forgets(server: LiveServer, mosquitto: Mosquitto) -> None:
    """A firing alert survives a restart without a second notification; one whose site came
    back while the service was down is resolved when it starts."""
    admin = server.admin()
    with WebhookReceiver() as hook:
        channel = admin.post("/api/v1/alerts/channels", json={
            "name": "hook", "kind": "webhook", "url": hook.url}).json()
        admin.post("/api/v1/alerts/rules", json={
            "name": "down", "kind": "site_down", "for_s": 1, "channel_ids": [channel["id"]]})
        site = create_site(admin, mosquitto.host, mosquitto.port, is_enabled=True)
        wait_status(admin, site["site_id"], "connected")
        mosquitto.kill()
        hook.wait(1)
        server.restart()
        admin = server.admin()
        [alert] = _alerts(server, state="firing")
        wait_status(admin, site["site_id"], "error")
        assert len(hook.bodies()) == 1
        table = _cli_alerts(server)
        assert table[0].split() == ["ID", "STATE", "KIND", "SITE", "SINCE", "FOR", "ACK",
                                    "MESSAGE"]
        assert table[1].split()[:4] == [str(alert["id"]), "firing", "site_down", site["code"]]
        server.stop()
        mosquitto.start()
        server.start()
        admin = server.admin()
        wait_until(lambda: _alerts(server, state="resolved"), timeout_s=20,
                   message="the alert resolves after the restart")
        assert [a["id"] for a in _alerts(server)] == [alert["id"]]
        assert [b["status"] for b in hook.wait(2)] == ["firing", "resolved"]


def _cli_alerts(server: LiveServer) -> list[str]:
    """``sitelink alerts`` in a process of its own (piccolo binds one database per process)."""
    env = {**os.environ, "DATABASE_URL": server.settings.database_url,
           "SITELINK_SECRET_KEY": server.settings.secret_key or ""}
    done = subprocess.run([sys.executable, "-m", "sitelink.cli", "alerts"], env=env,
                          capture_output=True, text=True, timeout=60, check=True)
    return done.stdout.splitlines()


def test_failing_receiver_is_retried_and_each_attempt_recorded(
        server: LiveServer, mosquitto: Mosquitto) -> None:
    """A receiver that answers 500 first gets the notification again later; both attempts
    are on the alert, and the test endpoint answers the outcome."""
    admin = server.admin()
    with WebhookReceiver(statuses=[500]) as hook:
        channel = admin.post("/api/v1/alerts/channels", json={
            "name": "flaky", "kind": "webhook", "url": hook.url}).json()
        tested = admin.post(f"/api/v1/alerts/channels/{channel['id']}/test").json()
        assert tested == {"success": False, "outcome": "failed",
                          "error": "the receiver answered HTTP 500",
                          "duration_ms": tested["duration_ms"]}
        assert admin.post(f"/api/v1/alerts/channels/{channel['id']}/test").json()["success"]
        hook.wait(1)


def test_apprise_mailto_channel_delivers_to_a_real_smtp_server(server: LiveServer) -> None:
    """An Apprise mailto:// channel (no credentials, mode=insecure) sends the test
    notification to a real SMTP server; the URL is never shown back."""
    admin = server.admin()
    with smtp_server() as (port, mailbox):
        url = (f"mailto://127.0.0.1:{port}?from=sitelink@example.com&to=ops@example.com"
               "&mode=insecure")
        created = admin.post("/api/v1/alerts/channels", json={
            "name": "mail", "kind": "apprise", "url": url})
        assert created.status_code == 201, created.text
        assert created.json()["url"] == "mailto://…"
        result = admin.post(f"/api/v1/alerts/channels/{created.json()['id']}/test").json()
        assert result["success"] is True, result
        [(_sender, recipients, content)] = mailbox.wait(1)
        assert recipients == ["ops@example.com"]
        assert b"sitelink test notification" in content


@pytest.mark.parametrize(("path", "body", "field"), [
    ("rules", {"name": "r", "kind": "disk_full"}, "kind"),
    ("rules", {"name": "r", "kind": "sensor_threshold", "sensor_key": "t"}, "min"),
    ("rules", {"name": "r", "kind": "sensor_threshold", "max": 3}, "sensor_key"),
    ("rules", {"name": "r", "kind": "site_down", "channel_ids": [999]}, "channel_ids"),
    ("channels", {"name": "c", "kind": "webhook", "url": "ftp://example.com/x"}, "url"),
    ("channels", {"name": "c", "kind": "apprise", "url": "nonsense://what"}, "url"),
    ("channels", {"name": "c", "kind": "pager", "url": "https://x"}, "kind"),
    ("silences", {"until": "2020-01-01T00:00:00Z", "site_id": 1}, "until"),
    ("silences", {"until": "2999-01-01T00:00:00Z"}, "site_id"),
])
def test_bad_input_is_400_naming_the_field(server: LiveServer, path: str,
                                           body: dict[str, object], field: str) -> None:
    """Unknown kinds, a threshold rule without bounds or key, unknown channels, URLs a
    channel cannot use, silences in the past or without a target: 400 naming the field."""
    response = server.admin().post(f"/api/v1/alerts/{path}", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["detail"].startswith(f"{field}:"), response.text


def test_viewers_read_and_admins_change(server: LiveServer) -> None:
    """Viewers list rules, alerts and silences; channels and every change are admin-only,
    and changes are in the audit log."""
    viewer, admin = server.viewer(), server.admin()
    assert viewer.get("/api/v1/alerts/rules").json() == {"rules": []}
    assert viewer.get("/api/v1/alerts").json() == {"alerts": []}
    assert viewer.get("/api/v1/alerts/silences").json() == {"silences": []}
    assert viewer.get("/api/v1/alerts/channels").status_code == 403
    assert viewer.post("/api/v1/alerts/rules", json={"name": "r", "kind": "no_data"}
                       ).status_code == 403
    rule = admin.post("/api/v1/alerts/rules", json={"name": "r", "kind": "no_data"}).json()
    assert admin.patch(f"/api/v1/alerts/rules/{rule['id']}", json={"for_s": 5}).json()[
        "for_s"] == 5
    silence = admin.post("/api/v1/alerts/silences", json={
        "rule_id": rule["id"], "until": "2999-01-01T00:00:00Z", "reason": "maintenance"})
    assert silence.status_code == 201 and silence.json()["created_by"] == "bootstrap-admin"
    assert admin.delete(f"/api/v1/alerts/silences/{silence.json()['id']}").status_code == 204
    assert admin.delete(f"/api/v1/alerts/rules/{rule['id']}").status_code == 204
    actions = [e["action"] for e in admin.get("/api/v1/audit").json()["entries"]]
    assert actions[:5] == ["alert.rule.delete", "alert.silence.delete", "alert.silence.create",
                           "alert.rule.update", "alert.rule.create"]


def test_device_offline_and_acknowledge(server: LiveServer, mosquitto: Mosquitto) -> None:
    """A datalogger that says offline on a connected site fires device_offline with its
    serial and a link to its page; acknowledging it is recorded and announced."""
    admin = server.admin()
    with WebhookReceiver() as hook:
        channel = admin.post("/api/v1/alerts/channels", json={
            "name": "hook", "kind": "webhook", "url": hook.url}).json()
        admin.post("/api/v1/alerts/rules", json={
            "name": "offline", "kind": "device_offline", "for_s": 0,
            "channel_ids": [channel["id"]]})
        site = create_site(admin, mosquitto.host, mosquitto.port, is_enabled=True)
        wait_status(admin, site["site_id"], "connected")
        stream = server.events(params={"types": "alert.firing,alert.acknowledged"})
        device = Publisher(mosquitto.host, mosquitto.port)
        base = f"{site['code']}/datalogger/monstro/SN-77"
        device.publish(f"{base}/heartbeat", v1_heartbeat(("t_ext", 20.0)))
        wait_until(lambda: admin.get("/api/v1/mqtt/dataloggers/", params={
            "site_id": site["site_id"], "online_only": "true"}).json()["dataloggers"],
            message="the datalogger is online")
        device.publish(f"{base}/status", "offline")
        [body] = hook.wait(1)
        [alert] = body["alerts"]
        assert alert["labels"]["device_serial"] == "SN-77"
        assert alert["labels"]["kind"] == "device_offline"
        fired = stream.wait_for("alert.firing").json
        assert alert["annotations"]["link"].endswith(f"/dataloggers/{fired['device_id']}")
        acked = admin.post(f"/api/v1/alerts/{fired['id']}/ack")
        assert acked.status_code == 200, acked.text
        assert acked.json()["acknowledged_by"] == "bootstrap-admin"
        assert stream.wait_for("alert.acknowledged").json["id"] == fired["id"]
        assert server.viewer().post(f"/api/v1/alerts/{fired['id']}/ack").status_code == 403
        device.close()
        stream.close()


def test_site_down_on_postgres(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """The same alert flow on PostgreSQL (the outbox is claimed with SKIP LOCKED there)."""
    require_postgres()
    with running_server("postgres", tmp_path) as server, WebhookReceiver() as hook:
        admin = server.admin()
        channel = admin.post("/api/v1/alerts/channels", json={
            "name": "hook", "kind": "webhook", "url": hook.url}).json()
        admin.post("/api/v1/alerts/rules", json={
            "name": "down", "kind": "site_down", "for_s": 1, "channel_ids": [channel["id"]]})
        site = create_site(admin, mosquitto.host, mosquitto.port, is_enabled=True)
        wait_status(admin, site["site_id"], "connected")
        mosquitto.kill()
        hook.wait(1)
        mosquitto.start()
        assert [b["status"] for b in hook.wait(2, timeout_s=20)] == ["firing", "resolved"]
        [alert] = _alerts(server, state="resolved")
        assert [n["outcome"] for n in alert["notifications"]] == ["sent", "sent"]
