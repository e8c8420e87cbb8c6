"""Alert state in the database: one row per alert, from pending to resolved. On the loop.

Every change that deserves a notification writes its outbox rows (``sitelink.storage.
outbox``) in the same transaction, so a transition is never recorded without its
notifications, nor notified without being recorded. At most one alert per (rule, subject)
is open at a time: a partial unique index, so opening one twice finds the first.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec

from sitelink.alerts.model import (
    AlertInfo,
    AlertStateName,
    AttemptInfo,
    NotificationInfo,
    RuleKind,
)
from sitelink.errors import NotFound
from sitelink.storage.database import Database, is_unique_violation
from sitelink.storage.outbox import enqueue
from sitelink.storage.tables import Alert, AlertNotification, NotificationAttempt, Sensor


class OpenAlert(msgspec.Struct, frozen=True, kw_only=True):
    """An alert that was pending or firing when the process stopped."""

    id: int
    rule_id: int | None
    subject: str
    state: AlertStateName
    site_id: int | None
    device_id: int | None
    started_at: datetime
    acknowledged: bool
    repeats: int = 0  # the repeats queued so far; the next is numbered repeats + 1


REPEAT = "repeat-"  # a repeat's transition: "repeat-1", "repeat-2", ...
SITES_PER_QUERY = 1_000  # more sites than this in one IN list: every open alert is read


def _at(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


async def open_alert(db: Database, *, rule_id: int, kind: RuleKind, subject: str,
                     site_id: int | None, device_id: int | None, sensor_key: str | None,
                     message: str, started_at: float) -> int:
    """Insert a pending alert; the id of the open one if (rule, subject) already has one."""
    sensor_id = None
    if device_id is not None and sensor_key:
        row = await Sensor.select(Sensor.id).where(
            (Sensor.device == device_id) & (Sensor.key == sensor_key)).first()
        sensor_id = row["id"] if row else None
    try:
        rows = await Alert.insert(Alert(
            rule=rule_id, kind=str(kind), subject=subject, state="pending", site=site_id,
            device_id=device_id, sensor_id=sensor_id, message=message,
            started_at=_at(started_at))).returning(Alert.id)
        alert_id: int = rows[0]["id"]
        return alert_id
    except Exception as exc:
        if not is_unique_violation(exc):
            raise
    row = await Alert.select(Alert.id).where(
        (Alert.rule == rule_id) & (Alert.subject == subject) & (Alert.state != "resolved")
    ).first()
    if row is None:
        raise NotFound(f"alert of rule {rule_id} about {subject} vanished")
    existing: int = row["id"]
    return existing


async def fire_alert(db: Database, alert_id: int, *, at: float, message: str, silenced: bool,
                     rule_id: int, channel_ids: Sequence[int]) -> None:
    """Pending → firing, with a ``firing`` notification per channel unless silenced."""
    async with db.transaction():
        await Alert.update({Alert.state: "firing", Alert.fired_at: _at(at),
                            Alert.message: message, Alert.silenced: silenced}).where(
            (Alert.id == alert_id) & (Alert.state == "pending"))
        if not silenced:
            await enqueue(db, alert_id, rule_id, channel_ids, "firing", _at(at))


async def resolve_alert(db: Database, alert_id: int, *, at: float, notify: bool,
                        channel_ids: Sequence[int], rule_id: int | None) -> bool:
    """Firing → resolved (with ``resolved`` notifications when ``notify`` and it was not
    silenced). False if the alert was not open."""
    async with db.transaction():
        row = await Alert.select(Alert.silenced, Alert.state).where(Alert.id == alert_id).first()
        if row is None or row["state"] == "resolved":
            return False
        await Alert.update({Alert.state: "resolved", Alert.resolved_at: _at(at)}).where(
            Alert.id == alert_id)
        if notify and row["state"] == "firing" and not row["silenced"]:
            await enqueue(db, alert_id, rule_id, channel_ids, "resolved", _at(at))
    return True


async def discard_alert(db: Database, alert_id: int) -> None:
    """A pending alert whose condition cleared before it fired: it never existed."""
    await Alert.delete().where((Alert.id == alert_id) & (Alert.state == "pending"))


async def renotify_alert(db: Database, alert_id: int, *, n: int, at: float, rule_id: int,
                         channel_ids: Sequence[int]) -> None:
    async with db.transaction():
        row = await Alert.select(Alert.silenced, Alert.acknowledged_at).where(
            Alert.id == alert_id).first()
        if row is None or row["silenced"] or row["acknowledged_at"] is not None:
            return
        await enqueue(db, alert_id, rule_id, channel_ids, f"{REPEAT}{n}", _at(at))


async def silenced_flags(db: Database, alert_ids: Sequence[int]) -> dict[int, bool]:
    """The ``silenced`` flag of each of these alerts that still exists."""
    if not alert_ids:
        return {}
    rows = await Alert.select(Alert.id, Alert.silenced).where(Alert.id.is_in(list(alert_ids)))
    return {r["id"]: bool(r["silenced"]) for r in rows}


async def set_silenced(db: Database, alert_id: int, silenced: bool, *, at: float,
                       rule_id: int | None, channel_ids: Sequence[int]) -> bool:
    """Mute or unmute an open alert; True if its flag changed. Unmuting a firing alert that
    nobody acknowledged queues the ``firing`` notification held back while it was muted —
    the outbox's key (alert, channel, ``firing``) keeps one that was already sent from
    going out twice. Its later repeats and its resolution are notified as for any alert."""
    async with db.transaction():
        row = await Alert.select(Alert.silenced, Alert.state, Alert.acknowledged_at).where(
            Alert.id == alert_id).first()
        if row is None or row["state"] == "resolved" or bool(row["silenced"]) == silenced:
            return False
        await Alert.update({Alert.silenced: silenced}).where(Alert.id == alert_id)
        if not silenced and row["state"] == "firing" and row["acknowledged_at"] is None:
            await enqueue(db, alert_id, rule_id, channel_ids, "firing", _at(at))
    return True


async def acknowledge(db: Database, alert_id: int, *, by: str, at: datetime) -> AlertInfo:
    """Record who acknowledged; an alert acknowledged before keeps its first acknowledgement."""
    rows = await Alert.update({Alert.acknowledged_by: by, Alert.acknowledged_at: at}).where(
        (Alert.id == alert_id) & Alert.acknowledged_at.is_null()).returning(Alert.id)
    if not rows:
        await get_alert(db, alert_id)  # NotFound, or already acknowledged
    return await get_alert(db, alert_id)


async def open_alerts(db: Database, site_ids: Collection[int] | None = None) -> list[OpenAlert]:
    """The open alerts: all of them, or those of ``site_ids`` (the sites of a claim: a
    handover claims a chunk of ten at a time, and 20,000 open alerts took 60-90 ms to read
    each time, mostly on the loop). The database picks them for up to ``SITES_PER_QUERY``
    sites (one IN list); for more, every open alert is read and picked here."""
    if site_ids is not None and not site_ids:
        return []
    narrow = list(site_ids) if site_ids is not None and len(site_ids) <= SITES_PER_QUERY \
        else None
    where = Alert.state != "resolved"
    rows = await Alert.select().where(where if narrow is None else where & Alert.site.is_in(narrow))
    repeats = await _repeats_of_open_alerts(narrow)
    return [OpenAlert(id=r["id"], rule_id=r["rule"], subject=r["subject"],
                      state=AlertStateName(r["state"]), site_id=r["site"],
                      device_id=r["device_id"], started_at=r["started_at"],
                      acknowledged=r["acknowledged_at"] is not None,
                      repeats=repeats.get(r["id"], 0))
            for r in rows if site_ids is None or r["site"] in site_ids]


async def _repeats_of_open_alerts(site_ids: list[int] | None) -> dict[int, int]:
    """The highest repeat number queued for each open alert (of ``site_ids``, or all), on
    any channel."""
    n = AlertNotification
    where = (n.alert.state != "resolved") & n.transition.like(f"{REPEAT}%")
    if site_ids is not None:
        where &= n.alert.site.is_in(site_ids)
    made: dict[int, int] = {}
    for row in await n.select(n.alert, n.transition).where(where):
        number = int(row["transition"].removeprefix(REPEAT))
        made[row["alert"]] = max(made.get(row["alert"], 0), number)
    return made


def _info(row: dict[str, Any], notifications: list[NotificationInfo]) -> AlertInfo:
    return AlertInfo(
        id=row["id"], rule_id=row["rule"], kind=RuleKind(row["kind"]),
        state=AlertStateName(row["state"]), site_id=row["site"], device_id=row["device_id"],
        sensor_id=row["sensor_id"], message=row["message"], started_at=row["started_at"],
        fired_at=row["fired_at"], resolved_at=row["resolved_at"],
        acknowledged_by=row["acknowledged_by"], acknowledged_at=row["acknowledged_at"],
        silenced=bool(row["silenced"]), notifications=notifications)


async def _notifications(alert_ids: list[int]) -> dict[int, list[NotificationInfo]]:
    if not alert_ids:
        return {}
    rows = await AlertNotification.select().where(
        AlertNotification.alert.is_in(alert_ids)).order_by(AlertNotification.id)
    attempts: dict[int, list[AttemptInfo]] = {}
    if rows:
        for a in await NotificationAttempt.select().where(
                NotificationAttempt.notification.is_in([r["id"] for r in rows])
        ).order_by(NotificationAttempt.id):
            attempts.setdefault(a["notification"], []).append(AttemptInfo(
                at=a["at"], outcome=a["outcome"], error=a["error"],
                duration_ms=a["duration_ms"]))
    out: dict[int, list[NotificationInfo]] = {}
    for r in rows:
        history = attempts.get(r["id"], [])
        out.setdefault(r["alert"], []).append(NotificationInfo(
            id=r["id"], channel_id=r["channel"], transition=r["transition"],
            at=r["sent_at"] or (history[-1].at if history else r["created_at"]),
            outcome=r["state"], attempts=r["attempts"], error=r["last_error"],
            history=history))
    return out


async def get_alert(db: Database, alert_id: int) -> AlertInfo:
    row = await Alert.select().where(Alert.id == alert_id).first()
    if row is None:
        raise NotFound(f"alert {alert_id} does not exist")
    return _info(row, (await _notifications([alert_id])).get(alert_id, []))


async def list_alerts(db: Database, *, state: AlertStateName | None = None,
                      site_id: int | None = None, limit: int = 100,
                      offset: int = 0) -> list[AlertInfo]:
    """Newest first (by start), with each alert's notifications and their attempts."""
    query = Alert.select()
    if state is not None:
        query = query.where(Alert.state == state.value)
    if site_id is not None:
        query = query.where(Alert.site == site_id)
    rows = await query.order_by(Alert.started_at, ascending=False).order_by(
        Alert.id, ascending=False).limit(limit).offset(offset)
    notes = await _notifications([r["id"] for r in rows])
    return [_info(r, notes.get(r["id"], [])) for r in rows]
