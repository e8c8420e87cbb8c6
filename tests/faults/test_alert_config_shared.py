"""Alert configuration is shared (issue 14): rules, silences, channels and acknowledgements
changed through one instance reach every instance at once, through the event log.

Two real ``sitelink serve`` processes on one PostgreSQL database of their own, as in
``test_any_instance`` (whose cluster this module starts again for itself): A owns every site
and evaluates their alerts; B owns none. Every change here is made through B, and A must act
on it without a restart (where a test is about one kind of change, the rest is made on A,
so that kind alone is what B must carry). The sites never connect (nothing listens on their
port), so a ``site_down`` rule with ``for_s: 0`` fires as soon as A evaluates it.
"""

from __future__ import annotations

from typing import Any

import pytest

from alerts.receivers import WebhookReceiver
from faults.test_any_instance import Cluster, Instance, cluster  # the cluster, shared by import
from integration.live import create_site, metric, wait_until
from sitelink.embedded_broker import free_port
from sitelink.storage.outbox import GROUP_WINDOW_S

pytestmark = pytest.mark.postgres

__all__ = ["cluster"]  # fixtures used by name

# Well under the senders' idle look (alerts.outbox.IDLE_WAIT_S, 30 s): a notification that
# arrives within it was sent because A was told of the channel, not found by a poll.
PROMPT_S = 10.0


def _down_site(cluster: Cluster) -> dict[str, Any]:
    """A site created on B that never connects, once A shows it trying."""
    created = create_site(cluster.b.admin, "127.0.0.1", free_port(), is_enabled=True)
    site_id = created["site_id"]
    wait_until(lambda: cluster.a.admin.get(f"/api/v1/mqtt/sites/{site_id}/status/").json()
               .get("status") in ("error", "connecting", "disconnected"), 10,
               message="A runs the site created on B")
    return created


def _channel(instance: Instance, hook: WebhookReceiver, name: str) -> int:
    made = instance.admin.post("/api/v1/alerts/channels", json={
        "name": name, "kind": "webhook", "url": hook.url})
    assert made.status_code == 201, made.text
    return int(made.json()["id"])


def _rule(instance: Instance, name: str, site_id: int, channel_id: int,
          **fields: Any) -> int:
    made = instance.admin.post("/api/v1/alerts/rules", json={
        "name": name, "kind": "site_down", "site_id": site_id, "for_s": 0,
        "channel_ids": [channel_id], **fields})
    assert made.status_code == 201, made.text
    return int(made.json()["id"])


def _alert(instance: Instance, rule_id: int) -> dict[str, Any] | None:
    rows: list[dict[str, Any]] = instance.admin.get(
        "/api/v1/alerts", params={"limit": 1000}).json()["alerts"]
    found = [r for r in rows if r["rule_id"] == rule_id]
    return found[0] if found else None


def _firing(rule_id: int, instance: Instance) -> dict[str, Any] | None:
    alert = _alert(instance, rule_id)
    return alert if alert is not None and alert["state"] == "firing" else None


def _notified(hook: WebhookReceiver, site_code: str) -> int:
    """Notifications of the site's alerts the receiver got (a group counts each alert)."""
    return sum(1 for body in hook.bodies() for alert in body["alerts"]
               if alert["labels"]["site_code"] == site_code)


def test_a_rule_and_a_channel_created_on_b_fire_and_notify_on_the_owner_at_once(
        cluster: Cluster) -> None:
    """The channel and then the rule are created on B. A, the owner, evaluates the rule at
    once (no restart) and its own sender delivers the notification at once: B's sender,
    which only looks again every 30 s, is not what delivers it."""
    a, b = cluster.a, cluster.b
    down = _down_site(cluster)
    firing_before = metric(a.admin, "sitelink_alerts_firing", kind="site_down")
    with WebhookReceiver() as hook:
        channel_id = _channel(b, hook, "made-on-b")
        rule_id = _rule(b, "made on b", down["site_id"], channel_id)
        [body] = hook.wait(1, timeout_s=PROMPT_S)
        assert body["status"] == "firing"
        assert body["alerts"][0]["labels"]["site_code"] == down["code"]
        alert = wait_until(lambda: _firing(rule_id, b), 10, message="the alert firing")
        assert alert["site_id"] == down["site_id"] and not alert["silenced"]
        assert metric(a.admin, "sitelink_alerts_firing", kind="site_down") == firing_before + 1
        assert metric(b.admin, "sitelink_alerts_firing", kind="site_down") == 0

        # the site deleted on B: its alert does not stay open (deleted with the site), and
        # A, told through the log, holds no machine for it any more
        assert b.admin.delete(f"/api/v1/mqtt/sites/{down['site_id']}/").status_code == 204
        wait_until(lambda: metric(a.admin, "sitelink_alerts_firing", kind="site_down")
                   == firing_before, 10, message="A forgot the deleted site's alert")
        assert _alert(a, rule_id) is None


def test_a_silence_created_on_b_mutes_the_owner_s_next_firing(cluster: Cluster) -> None:
    """A silence of the site created on B, then a rule on A: A fires the alert (kept,
    shown) but muted — no notification queued, none delivered."""
    a, b = cluster.a, cluster.b
    down = _down_site(cluster)
    with WebhookReceiver() as hook:
        channel_id = _channel(a, hook, "muted-on-b")
        on_a = a.stream(params={"types": "site.changed", "site_id": down["site_id"]})
        try:
            silence = b.admin.post("/api/v1/alerts/silences", json={
                "site_id": down["site_id"], "until": "2999-01-01T00:00:00Z",
                "reason": "works"})
            assert silence.status_code == 201, silence.text
            # a change B logs after the silence: once A streams it, A has applied the
            # silence (the log is applied in order), so the rule below cannot race it
            renamed = b.admin.patch(f"/api/v1/mqtt/sites/{down['site_id']}/",
                                    json={"name": "silenced site"})
            assert renamed.status_code == 200, renamed.text
            on_a.wait_for("site.changed", 10, site_id=down["site_id"])
        finally:
            on_a.close()
        rule_id = _rule(a, "silenced on b", down["site_id"], channel_id)
        alert = wait_until(lambda: _firing(rule_id, a), 10, message="the alert firing on A")
        assert alert["silenced"] is True
        assert alert["notifications"] == []
        assert _notified(hook, down["code"]) == 0
        # lifting the silence on B unmutes it on A: the firing held back is sent now
        deleted = b.admin.delete(f"/api/v1/alerts/silences/{silence.json()['id']}")
        assert deleted.status_code == 204, deleted.text
        [body] = hook.wait(1, timeout_s=PROMPT_S)
        assert body["alerts"][0]["labels"]["site_code"] == down["code"]
        assert wait_until(lambda: _firing(rule_id, a), 10)["silenced"] is False


def test_an_acknowledgement_on_b_stops_the_owner_s_repeats(cluster: Cluster) -> None:
    """Two sites down, a rule each repeating every second. Acknowledging one alert on B
    stops A's repeats of it (one may be on its way), while the other keeps repeating: the
    measure of time that has passed, without sleeping. (The outbox also refuses a repeat of
    an alert acknowledged in the database; that A's evaluator itself stops scheduling them
    is shown in ``tests/alerts/test_shared_config``.)"""
    a, b = cluster.a, cluster.b
    acked_site, other_site = _down_site(cluster), _down_site(cluster)
    with WebhookReceiver() as hook:
        channel_id = _channel(a, hook, "repeats")
        acked_rule = _rule(a, "to ack", acked_site["site_id"], channel_id, repeat_s=1)
        _rule(a, "left alone", other_site["site_id"], channel_id, repeat_s=1)
        wait_until(lambda: _notified(hook, acked_site["code"]) >= 2 or None, PROMPT_S,
                   message="the firing and a repeat")
        alert = wait_until(lambda: _firing(acked_rule, b), 10, message="the alert firing")
        acked = b.admin.post(f"/api/v1/alerts/{alert['id']}/ack")
        assert acked.status_code == 200, acked.text
        at_ack = _notified(hook, acked_site["code"])
        others_at_ack = _notified(hook, other_site["code"])
        # After a rule's tenth repeat in a wall-clock minute the outbox groups the rest and
        # sends them when the minute ends (outbox.GROUP_AFTER): a slow start of this test can
        # reach that, so the wait covers the rest of a minute (it failed once on CI at 20 s).
        wait_until(lambda: _notified(hook, other_site["code"]) >= others_at_ack + 4 or None,
                   GROUP_WINDOW_S + 15, message="four more repeats of the alert left alone")
        assert _notified(hook, acked_site["code"]) <= at_ack + 1
        assert _firing(acked_rule, b) is not None  # acknowledged, still firing
