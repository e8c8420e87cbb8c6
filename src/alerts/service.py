"""The alert service: the evaluator's transitions recorded in the database, in order.

Runs on the event loop. The evaluator decides synchronously (inside the bridge's handling
of a batch); its transitions go into a queue that one task writes to the database, so the
bridge never waits for SQL. After each write the task announces the alert on the event
stream (``alert.firing``, ``alert.resolved``) and wakes the channels it queued work for.

Start (``start``): alerts still pending from the last run are dropped (their timers are
gone; live state raises them again); firing ones are restored as firing — not fired
again — when their rule still holds for their site, and resolved at once otherwise (rule
deleted or disabled, site deleted or disabled). The rest resolve as the live state
arrives: a site that connects resolves its ``site_down``.

Ownership (``owns``, asked at every use): only the sites this instance owns are evaluated
and restored — in a cluster each site's alerts are the business of its owner alone, whose
read model is authoritative there; the others leave them as they are in the database. When
a site comes to this instance (``sites_claimed``: a failover, a handover) its open alerts
are restored exactly as at a start — firing stays firing, not fired again; pending is
dropped and raised again by the live state — and the evaluator then looks at the site's
current state. When a site leaves (``sites_released``) its machines are forgotten without
a transition. Alert events (``alert.firing``...) go through the hub, so in a cluster the
event log carries them to every instance's stream.

Silences: each active silence has a timer at its ``until`` (on the scheduler, so a fake
clock drives it). When one ends — timer, deletion, or it ended while the process was down
(checked at start) — the persist task re-checks every open alert: those no active silence
covers any more become ``silenced: false`` and are notified from then on, starting with
the ``firing`` notification held back while muted (``alert_state.set_silenced``). A new
silence mutes the open alerts it covers the same way.

Shared configuration: a change made through this instance's API (rules, silences, a
channel, an acknowledgement) is applied here and, in a cluster, sent through the event log
(``share``, an ``AlertConfigChanged``); every other instance applies it at once
(``apply_remote``: the same reload, without sending it again) — a rule created anywhere is
evaluated by the site's owner, a silence mutes its next firing, a new channel has a sender
on every instance, an acknowledgement stops the owner's repeats.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Callable, Collection
from datetime import UTC, datetime
from typing import Any

import msgspec
import structlog

from sitelink.alerts import machine as am
from sitelink.alerts.evaluator import Evaluator, Subject, Transition
from sitelink.alerts.model import AlertInfo, AlertStateName, Rule, RuleKind, Silence
from sitelink.alerts.outbox import Sender
from sitelink.alerts.timers import Handle, Scheduler
from sitelink.cluster.logged import AlertChange, AlertConfigChanged
from sitelink.events import DeviceKey, Event
from sitelink.fanout import Hub
from sitelink.readmodel import ReadModel
from sitelink.storage import alert_config, alert_state
from sitelink.storage.database import Database
from sitelink.storage.tables import Device

log = structlog.get_logger(__name__)


# A silence's timer is armed at most this far ahead and re-armed when it fires early: a
# silence "until 2999" would overflow a thread's wait (threading.TIMEOUT_MAX, ~292 years).
SILENCE_TIMER_MAX_S = 86_400.0


class SilencesChanged(msgspec.Struct, frozen=True, kw_only=True):
    """Work for the persist task: re-check the open alerts against the active silences."""


def alert_data(info: AlertInfo) -> dict[str, Any]:
    data: dict[str, Any] = msgspec.to_builtins(info)
    return data


class AlertService:
    def __init__(self, db: Database, read_model: ReadModel, hub: Hub, scheduler: Scheduler,
                 sender: Sender, owns: Callable[[int], bool] = lambda _site_id: True) -> None:
        self.db = db
        self.owns = owns
        self.read_model = read_model
        self.hub = hub
        self.scheduler = scheduler
        self.sender = sender
        self.evaluator = Evaluator(read_model, scheduler, self._queue_transition, owns)
        self.silences: list[Silence] = []
        self._silence_timers: dict[int, Handle] = {}  # by silence id
        self._ids: dict[tuple[int, str], int] = {}  # open alert ids by (rule, subject)
        self._queue: asyncio.Queue[Transition | SilencesChanged] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        # In a cluster: sends a change made here to the other instances (the event log).
        self.share: Callable[[Event], None] | None = None

    # --- life ----------------------------------------------------------------------------------

    async def start(self) -> None:
        rules = {r.id: r for r in await alert_config.list_rules(self.db)}
        await self._load_silences()
        for alert in await alert_state.open_alerts(self.db):
            await self._restore(alert, rules)
        self.evaluator.set_rules(rules.values())
        self._queue.put_nowait(SilencesChanged())  # silences that ended while we were down
        self._task = asyncio.get_running_loop().create_task(self._persist(), name="alerts")
        await self.sender.start()

    async def stop(self) -> None:
        await self.drain()
        self._cancel_silence_timers()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.sender.stop()

    async def drain(self) -> None:
        """Wait until every transition so far is in the database (tests, shutdown)."""
        await self._queue.join()

    async def sites_claimed(self, site_ids: Collection[int]) -> None:
        """Sites this instance has just come to own (the lease keeper calls it once it holds
        their leases): their open alerts restored as at a start, then their current state
        evaluated from the read model — what still holds is not fired again."""
        wanted = {site_id for site_id in site_ids if self.owns(site_id)}
        rules = {r.id: r for r in await alert_config.list_rules(self.db)}
        restored = set(self._ids.values())
        for alert in await alert_state.open_alerts(self.db, wanted):
            if alert.id not in restored:
                await self._restore(alert, rules)
        for site_id in sorted(wanted):
            self.evaluator.claim(site_id)

    def sites_released(self, site_ids: Collection[int]) -> None:
        """Sites another instance owns now: forgotten here, their alerts left open in the
        database for the new owner."""
        gone = set(site_ids)
        for site_id in gone:
            self.evaluator.release(site_id)
        for key in [k for k in self._ids if Subject.parse(k[1]).site_id in gone]:
            del self._ids[key]

    async def _restore(self, alert: alert_state.OpenAlert, rules: dict[int, Rule]) -> None:
        """An open alert found in the database, if its site is ours (else its owner's)."""
        rule = rules.get(alert.rule_id) if alert.rule_id is not None else None
        subject = Subject.parse(alert.subject)
        if not self.owns(subject.site_id):
            return
        if alert.state is AlertStateName.PENDING:
            await alert_state.discard_alert(self.db, alert.id)
            return
        view = self.read_model.sites.get(subject.site_id)
        holds = (rule is not None and rule.is_enabled and view is not None
                 and rule.covers(subject.site_id, view.record.labels)
                 and (rule.kind is not RuleKind.SITE_DOWN or view.record.is_enabled))
        if rule is None or not holds:
            await alert_state.resolve_alert(
                self.db, alert.id, at=self.scheduler.now(),
                notify=rule is not None and rule.notify_resolved,
                channel_ids=rule.channel_ids if rule is not None else [],
                rule_id=alert.rule_id)
            return
        self._ids[(rule.id, alert.subject)] = alert.id
        self.evaluator.restore(rule, subject, alert.started_at.timestamp(),
                               acked=alert.acknowledged, repeats=alert.repeats)

    # --- inputs --------------------------------------------------------------------------------

    def observe(self, event: Event) -> None:
        """The bridge, on the loop, after the read model applied ``event``."""
        self.evaluator.observe(event)

    def site_changed(self) -> None:
        """A site's configuration changed (labels, enabled): rules re-read their scope."""
        self.evaluator.set_rules(list(self.evaluator.rules.values()))

    async def rules_changed(self, *, announce: bool = True) -> None:
        """A rule was created, changed or deleted: reload them. ``announce``: the change was
        made here (else another instance made it and announced it)."""
        self.evaluator.set_rules(await alert_config.list_rules(self.db))
        self._announce_change("rules", announce)

    async def silences_changed(self, *, announce: bool = True) -> None:
        """A silence was created or deleted (the API, on the loop): reload them; returns once
        the open alerts they cover are muted and those no longer covered unmuted."""
        await self._load_silences()
        self._announce_change("silences", announce)
        self._queue.put_nowait(SilencesChanged())
        await self.drain()

    def channel_saved(self, channel_id: int, *, announce: bool = True) -> None:
        """A channel was created or changed: its sender runs (started or woken)."""
        self.sender.watch(channel_id)
        self._announce_change("channel.saved", announce, channel_id)

    def channel_deleted(self, channel_id: int, *, announce: bool = True) -> None:
        """A channel is being deleted: its sender ends after the delivery in hand."""
        self.sender.forget(channel_id)
        self._announce_change("channel.deleted", announce, channel_id)

    async def apply_remote(self, change: AlertConfigChanged) -> None:
        """Another instance changed the alert configuration (already in the database)."""
        match change:
            case AlertConfigChanged(change="rules"):
                await self.rules_changed(announce=False)
            case AlertConfigChanged(change="silences"):
                await self.silences_changed(announce=False)
            case AlertConfigChanged(change="channel.saved", ref_id=int(channel_id)):
                self.channel_saved(channel_id, announce=False)
            case AlertConfigChanged(change="channel.deleted", ref_id=int(channel_id)):
                self.channel_deleted(channel_id, announce=False)
            case AlertConfigChanged(change="ack", ref_id=int(alert_id)):
                self._acknowledged(alert_id)
            case _:
                log.warning("an alert configuration change without its id skipped",
                            change=change.change)

    def _announce_change(self, change: AlertChange, announce: bool,
                         ref_id: int | None = None) -> None:
        if announce and self.share is not None:
            self.share(AlertConfigChanged(change=change, ref_id=ref_id))

    async def _load_silences(self) -> None:
        self.silences = await alert_config.list_silences(self.db, active_at=self._now(),
                                                         limit=10_000)
        self._cancel_silence_timers()
        for silence in self.silences:
            self._arm_silence_timer(silence)

    def _arm_silence_timer(self, silence: Silence) -> None:
        until = silence.until.timestamp()
        self._silence_timers[silence.id] = self.scheduler.call_at(
            min(until, self.scheduler.now() + SILENCE_TIMER_MAX_S),
            functools.partial(self._silence_timer, silence))

    def _cancel_silence_timers(self) -> None:
        for handle in self._silence_timers.values():
            handle.cancel()
        self._silence_timers.clear()

    def _silence_timer(self, silence: Silence) -> None:
        """A silence's timer, on the loop: re-armed until its ``until`` has passed (a loop
        timer may run a little early), then the open alerts are re-checked."""
        if self.scheduler.now() < silence.until.timestamp():
            self._arm_silence_timer(silence)
            return
        self._silence_timers.pop(silence.id, None)
        self._queue.put_nowait(SilencesChanged())

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.scheduler.now(), UTC)

    async def acknowledge(self, alert_id: int, by: str) -> AlertInfo:
        info = await alert_state.acknowledge(self.db, alert_id, by=by, at=datetime.now(UTC))
        self._acknowledged(alert_id)
        # in a cluster the event log carries the acknowledgement to the site's owner with it
        self.hub.publish("alert.acknowledged", info.site_id, alert_data(info),
                         state=AlertConfigChanged(change="ack", ref_id=alert_id))
        return info

    def _acknowledged(self, alert_id: int) -> None:
        """No more repeats of the alert, if this instance evaluates it."""
        for key, open_id in self._ids.items():
            if open_id == alert_id:
                self.evaluator.acknowledge(*key)

    def site_removed(self, site_id: int) -> None:
        self.evaluator.site_removed(site_id)

    def device_removed(self, device: DeviceKey) -> None:
        self.evaluator.device_removed(device)

    def firing_by_kind(self) -> dict[str, int]:
        return dict(self.evaluator.firing_by_kind())

    # --- recording -----------------------------------------------------------------------------

    def _queue_transition(self, transition: Transition) -> None:
        self._queue.put_nowait(transition)

    async def _persist(self) -> None:
        while True:
            item = await self._queue.get()
            try:
                if isinstance(item, SilencesChanged):
                    await self._apply_silences()
                else:
                    await self._record(item)
            except Exception:
                if isinstance(item, SilencesChanged):
                    log.exception("applying the silences to open alerts failed")
                else:
                    log.exception("recording an alert transition failed",
                                  rule_id=item.rule.id, subject=item.subject.key,
                                  effect=type(item.effect).__name__)
            finally:
                self._queue.task_done()

    def _silenced(self, rule_id: int, site_id: int) -> bool:
        now = self._now()
        return any(s.mutes(rule_id, site_id, now) for s in self.silences)

    async def _apply_silences(self) -> None:
        """Set each open alert's ``silenced`` to whether an active silence covers it now."""
        now = self._now()
        self.silences = [s for s in self.silences if s.until > now]
        flags = await alert_state.silenced_flags(self.db, list(self._ids.values()))
        for (rule_id, subject_key), alert_id in list(self._ids.items()):
            muted = self._silenced(rule_id, Subject.parse(subject_key).site_id)
            if alert_id not in flags or flags[alert_id] == muted:
                continue
            rule = self.evaluator.rules.get(rule_id)
            channel_ids = rule.channel_ids if rule is not None else []
            if await alert_state.set_silenced(self.db, alert_id, muted, at=now.timestamp(),
                                              rule_id=rule_id, channel_ids=channel_ids):
                self.sender.wake(channel_ids)

    async def _device_id(self, device: DeviceKey | None) -> int | None:
        if device is None:
            return None
        known = self.read_model.device_id_of(device)
        if known is not None:
            return known
        row = await Device.select(Device.id).where(
            (Device.site == device.site_id) & (Device.kind == device.kind)
            & (Device.serial == device.serial)).first()
        return None if row is None else int(row["id"])

    async def _record(self, t: Transition) -> None:
        rule, subject, key = t.rule, t.subject, (t.rule.id, t.subject.key)
        match t.effect:
            case am.Open(since=since):
                self._ids[key] = await alert_state.open_alert(
                    self.db, rule_id=rule.id, kind=rule.kind, subject=subject.key,
                    site_id=subject.site_id, device_id=await self._device_id(subject.device),
                    sensor_key=subject.sensor_key, message=t.message, started_at=since)
            case am.Fire(at=at):
                alert_id = self._ids[key]
                await alert_state.fire_alert(
                    self.db, alert_id, at=at, message=t.message,
                    silenced=self._silenced(rule.id, subject.site_id), rule_id=rule.id,
                    channel_ids=rule.channel_ids)
                await self._announce("alert.firing", alert_id, rule)
            case am.Resolve(at=at):
                alert_id = self._ids.pop(key)
                if await alert_state.resolve_alert(
                        self.db, alert_id, at=at, notify=rule.notify_resolved,
                        channel_ids=rule.channel_ids, rule_id=rule.id):
                    await self._announce("alert.resolved", alert_id, rule)
                # else: gone with its site (deleted), nothing left to announce
            case am.Discard():
                await alert_state.discard_alert(self.db, self._ids.pop(key))
            case am.Renotify(n=n, at=at):
                await alert_state.renotify_alert(self.db, self._ids[key], n=n, at=at,
                                                 rule_id=rule.id, channel_ids=rule.channel_ids)
                self.sender.wake(rule.channel_ids)

    async def _announce(self, type_: str, alert_id: int, rule: Rule) -> None:
        info = await alert_state.get_alert(self.db, alert_id)
        self.hub.publish(type_, info.site_id, alert_data(info))
        self.sender.wake(rule.channel_ids)
