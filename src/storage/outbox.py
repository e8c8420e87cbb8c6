"""The notification outbox: rows written with the alert's change, claimed by the sender.

State of one row (a pure transition in ``sitelink.alerts.outbox``)::

    queued ──claim──► sending ──sent──► sent
      ▲                  │
      └──failed, retry───┤
                         └──failed, 24 h passed──► failed

A claim is a lease (``claimed_until``): a sender that dies mid-delivery leaves its rows to
be claimed again when the lease ends — so delivery is at least once. On PostgreSQL rows are
claimed with ``FOR UPDATE SKIP LOCKED`` so that several instances never claim one row;
``dedupe_key`` (alert, channel, transition) is unique, so one transition is queued once.

Storm control: per rule, channel and kind of transition, the first ``GROUP_AFTER``
notifications of a clock minute go out one by one; the rest of that minute are held until
the minute ends and then go out as one grouped notification (same ``group_key``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from sitelink.storage.database import Database
from sitelink.storage.tables import (
    Alert,
    AlertNotification,
    AlertRule,
    Device,
    NotificationAttempt,
    Site,
)

GROUP_AFTER = 10
GROUP_WINDOW_S = 60


class Delivery(msgspec.Struct, frozen=True, kw_only=True):
    """One claimed notification with what its message needs."""

    id: int
    alert_id: int
    transition: str
    group_key: str
    attempts: int
    created_at: datetime
    rule_name: str
    kind: str
    state: str
    message: str
    site_id: int | None
    site_code: str
    site_name: str
    device_id: int | None
    device_serial: str
    started_at: datetime
    resolved_at: datetime | None


def _family(transition: str) -> str:
    return "repeat" if transition.startswith("repeat") else transition


async def enqueue(db: Database, alert_id: int, rule_id: int | None, channel_ids: Sequence[int],
                  transition: str, now: datetime) -> None:
    """Queue one notification per channel (inside the caller's transaction); a row for the
    same (alert, channel, transition) that exists already is left as it is."""
    family = _family(transition)
    bucket = int(now.timestamp()) // GROUP_WINDOW_S * GROUP_WINDOW_S
    bucket_start = datetime.fromtimestamp(bucket, UTC)
    for channel_id in channel_ids:
        recent = 0
        if rule_id is not None:
            recent = await AlertNotification.count().where(
                (AlertNotification.rule_id == rule_id)
                & (AlertNotification.channel == channel_id)
                & (AlertNotification.created_at >= bucket_start)
                & AlertNotification.transition.like(f"{family}%"))
        grouped = recent >= GROUP_AFTER
        group_key = f"{rule_id}:{channel_id}:{family}:{bucket}" if grouped else ""
        due = bucket_start + timedelta(seconds=GROUP_WINDOW_S) if grouped else now
        await AlertNotification.insert(AlertNotification(
            alert=alert_id, channel=channel_id, rule_id=rule_id, transition=transition,
            dedupe_key=f"{alert_id}:{channel_id}:{transition}", state="queued",
            group_key=group_key, attempts=0, next_attempt_at=due, created_at=now,
        )).on_conflict(target=AlertNotification.dedupe_key, action="DO NOTHING")


def _due(channel_id: int, now: datetime) -> Any:
    n = AlertNotification
    return (n.channel == channel_id) & (
        ((n.state == "queued") & (n.next_attempt_at <= now))
        | ((n.state == "sending") & (n.claimed_until < now)))


async def claim_due(db: Database, channel_id: int, now: datetime, *, lease_s: float,
                    limit: int = 100) -> list[Delivery]:
    """Claim this channel's due notifications (and every queued member of a due group)."""
    n = AlertNotification
    until = now + timedelta(seconds=lease_s)
    async with db.transaction():
        query = n.select(n.id, n.group_key).where(_due(channel_id, now)).order_by(n.id).limit(
            limit)
        if db.engine_name == "postgres":
            query = query.lock_rows("UPDATE", skip_locked=True)
        rows = await query
        ids = [r["id"] for r in rows]
        groups = sorted({r["group_key"] for r in rows if r["group_key"]})
        if groups:
            members = n.select(n.id).where(
                (n.channel == channel_id) & (n.state == "queued") & n.group_key.is_in(groups))
            if db.engine_name == "postgres":
                members = members.lock_rows("UPDATE", skip_locked=True)
            ids = sorted(set(ids) | {r["id"] for r in await members})
        if not ids:
            return []
        await n.update({n.state: "sending", n.claimed_until: until}).where(n.id.is_in(ids))
    return await _deliveries(ids)


async def _deliveries(ids: list[int]) -> list[Delivery]:
    n = AlertNotification
    rows = await n.select().where(n.id.is_in(ids)).order_by(n.id)
    alerts = {a["id"]: a for a in await Alert.select().where(
        Alert.id.is_in([r["alert"] for r in rows]))}
    rule_ids = [a["rule"] for a in alerts.values() if a["rule"] is not None]
    rules = {r["id"]: r["name"] for r in await AlertRule.select(
        AlertRule.id, AlertRule.name).where(AlertRule.id.is_in(rule_ids or [0]))}
    site_ids = [a["site"] for a in alerts.values() if a["site"] is not None]
    sites = {s["id"]: s for s in await Site.select(Site.id, Site.code, Site.name).where(
        Site.id.is_in(site_ids or [0]))}
    device_ids = [a["device_id"] for a in alerts.values() if a["device_id"] is not None]
    devices = {d["id"]: d["serial"] for d in await Device.select(Device.id, Device.serial).where(
        Device.id.is_in(device_ids or [0]))}
    out = []
    for r in rows:
        a = alerts[r["alert"]]
        site = sites.get(a["site"], {})
        out.append(Delivery(
            id=r["id"], alert_id=a["id"], transition=r["transition"], group_key=r["group_key"],
            attempts=r["attempts"], created_at=r["created_at"],
            rule_name=rules.get(a["rule"], ""), kind=a["kind"], state=a["state"],
            message=a["message"], site_id=a["site"], site_code=site.get("code", ""),
            site_name=site.get("name", ""), device_id=a["device_id"],
            device_serial=devices.get(a["device_id"], ""), started_at=a["started_at"],
            resolved_at=a["resolved_at"]))
    return out


async def record_attempt(db: Database, ids: Sequence[int], *, at: datetime, ok: bool, error: str,
                         duration_ms: int, retry_at: datetime | None) -> None:
    """Record one attempt for each notification sent together, and its new state: ``sent``,
    ``queued`` again for ``retry_at``, or ``failed`` (given up) when ``retry_at`` is None."""
    if not ids:
        return
    n = AlertNotification
    outcome = "sent" if ok else "failed"
    async with db.transaction():
        for notification_id in ids:
            await NotificationAttempt.insert(NotificationAttempt(
                notification=notification_id, at=at, outcome=outcome, error=error[:2000],
                duration_ms=duration_ms))
        values: dict[Any, Any] = {n.attempts: n.attempts + 1, n.claimed_until: None,
                                  n.last_error: "" if ok else error[:2000]}
        if ok:
            values.update({n.state: "sent", n.sent_at: at})
        elif retry_at is not None:
            values.update({n.state: "queued", n.next_attempt_at: retry_at})
        else:
            values[n.state] = "failed"
        await n.update(values).where(n.id.is_in(list(ids)))


async def next_due_at(db: Database, channel_id: int) -> datetime | None:
    """When this channel's next queued notification falls due (None: nothing queued)."""
    n = AlertNotification
    row = await n.select(n.next_attempt_at).where(
        (n.channel == channel_id) & (n.state == "queued")).order_by(n.next_attempt_at).first()
    return None if row is None else row["next_attempt_at"]
