"""The evaluator: alert conditions read from the live state, one machine per rule and subject.

Runs on the event loop only. The bridge hands it every event after the read model has
applied it (``observe``), so it sees what the status endpoints see and never polls the
database. Conditions:

- ``site_down``: an enabled site whose status is not ``connected``;
- ``device_offline``: a device ``offline`` while its site is connected. ``unreachable`` and
  ``unknown`` mean "cannot know" (``Suspend``): a site that is down raises one ``site_down``
  and nothing per device, and since the device actors give every device a full
  ``offline_after_s`` after a reconnect, a device can only alert after that grace plus
  ``for_s``;
- ``sensor_threshold``: the last reading of ``sensor_key`` (of ``model``, if set) outside
  ``min``/``max``;
- ``no_data``: a connected site that has received nothing for ``for_s`` (one timer per
  rule and site, re-armed for the remaining time when it finds traffic — not per message).

Only the sites this instance owns are evaluated (``owns``, asked at every use, so a change
of owner takes effect at once): in a cluster every instance's read model is complete, and
the owner's is the one that is authoritative for its sites. Events, timers and new rules
about another instance's sites are ignored; ``release`` forgets a site's machines without a
transition (its alerts stay open in the database for the new owner), ``claim`` looks at a
newly owned site's current state once its open alerts have been restored.

Each change of a machine (``sitelink.alerts.machine``) that has an effect goes to ``sink``
as a ``Transition``; the alert service records it and notifies. Times come from the
injected scheduler, so tests drive everything with a fake clock.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import msgspec

from sitelink.alerts import machine as am
from sitelink.alerts.model import Rule, RuleKind
from sitelink.alerts.timers import Handle, Scheduler
from sitelink.alerts.wording import message
from sitelink.events import (
    ConnectionStatus,
    DeviceAvailabilityChanged,
    DeviceHeartbeat,
    DeviceKey,
    Event,
    SiteStatusChanged,
    SiteTraffic,
)
from sitelink.readmodel import ReadModel


class Subject(msgspec.Struct, frozen=True, kw_only=True):
    """What an alert is about: a site, a device, or one sensor of a device."""

    site_id: int
    device: DeviceKey | None = None
    sensor_key: str | None = None

    @property
    def key(self) -> str:
        if self.device is None:
            return f"site:{self.site_id}"
        d = self.device
        base = f"device:{d.site_id}:{d.kind}:{d.serial}"
        return base if self.sensor_key is None else f"sensor:{self.sensor_key}:{base}"

    @classmethod
    def parse(cls, key: str) -> Subject:
        """The inverse of ``key`` (a serial may contain ':'; a sensor key may not)."""
        kind, _, rest = key.partition(":")
        if kind == "site":
            return cls(site_id=int(rest))
        sensor_key = None
        if kind == "sensor":
            sensor_key, _, rest = rest.partition(":")
            rest = rest.removeprefix("device:")
        site, dkind, serial = rest.split(":", 2)
        device = DeviceKey(int(site), dkind, serial)  # type: ignore[arg-type]
        return cls(site_id=int(site), device=device, sensor_key=sensor_key)


class Transition(msgspec.Struct, frozen=True, kw_only=True):
    rule: Rule
    subject: Subject
    effect: am.Effect
    message: str


class _Slot:
    __slots__ = ("handle", "machine", "subject")

    def __init__(self, subject: Subject) -> None:
        self.subject = subject
        self.machine = am.IDLE
        self.handle: Handle | None = None


class Evaluator:
    def __init__(self, read_model: ReadModel, scheduler: Scheduler,
                 sink: Callable[[Transition], None],
                 owns: Callable[[int], bool] = lambda _site_id: True) -> None:
        self.read_model = read_model
        self.owns = owns
        self.scheduler = scheduler
        self.sink = sink
        self.rules: dict[int, Rule] = {}
        self.slots: dict[tuple[int, str], _Slot] = {}
        self._by_kind: dict[RuleKind, list[Rule]] = {k: [] for k in RuleKind}
        self._thresholds: dict[str, list[Rule]] = {}  # sensor key -> rules
        self._last_heard: dict[int, float] = {}
        self._silence_checks: dict[tuple[int, int], Handle] = {}
        self._threshold_slots = 0  # open machines of threshold rules

    # --- rules ----------------------------------------------------------------------------------

    def set_rules(self, rules: Iterable[Rule]) -> None:
        """Take the current rules: machines of rules gone or disabled clear (resolving what
        fired), those out of a changed scope clear, and every rule looks at the live state."""
        new = {r.id: r for r in rules if r.is_enabled}
        for rule_id, old in list(self.rules.items()):
            rule = new.get(rule_id)
            if rule is None or rule.kind != old.kind or rule.sensor_key != old.sensor_key:
                self._clear_rule(old, lambda _s: True)
        self.rules = new
        self._by_kind = {k: [r for r in new.values() if r.kind == k] for k in RuleKind}
        self._thresholds = {}
        for r in self._by_kind[RuleKind.SENSOR_THRESHOLD]:
            self._thresholds.setdefault(r.sensor_key, []).append(r)
        for rule in new.values():
            self._clear_rule(rule, self._outside_scope(rule))
            self._look(rule)

    def _outside_scope(self, rule: Rule) -> Callable[[Subject], bool]:
        def outside(subject: Subject) -> bool:
            return not self._covers(rule, subject.site_id)
        return outside

    def restore(self, rule: Rule, subject: Subject, since: float, *, acked: bool,
                repeats: int = 0) -> None:
        """An alert that was firing when the process stopped: firing again, not re-fired,
        its repeats numbered on from the ``repeats`` it had made."""
        key = (rule.id, subject.key)
        if key not in self.slots and rule.kind is RuleKind.SENSOR_THRESHOLD:
            self._threshold_slots += 1
        slot = self.slots.setdefault(key, _Slot(subject))
        slot.machine = am.firing(since, self.scheduler.now(), self._timing(rule), acked=acked,
                                 repeats=repeats)
        self._arm(rule, slot)

    def claim(self, site_id: int) -> None:
        """A site this instance now owns (its firing alerts restored first): what the read
        model says of it now — a firing alert whose condition holds stays firing, one whose
        condition has gone resolves, a new condition opens an alert."""
        if not self.owns(site_id):
            return
        self._site_status(site_id)
        for device, availability in list(self.read_model.device_availability.items()):
            if device.site_id == site_id:
                self._availability(device, availability)

    def release(self, site_id: int) -> None:
        """A site another instance owns now: forget its machines and timers with no
        transition (its open alerts stay in the database, for the new owner)."""
        for key, slot in [(k, s) for k, s in self.slots.items() if s.subject.site_id == site_id]:
            self._forget(key, slot)
        for check in [k for k in self._silence_checks if k[1] == site_id]:
            self._silence_checks.pop(check).cancel()
        self._last_heard.pop(site_id, None)

    def _forget(self, key: tuple[int, str], slot: _Slot) -> None:
        if slot.handle is not None:
            slot.handle.cancel()
        del self.slots[key]
        rule = self.rules.get(key[0])
        if rule is not None and rule.kind is RuleKind.SENSOR_THRESHOLD:
            self._threshold_slots -= 1

    def acknowledge(self, rule_id: int, subject_key: str) -> None:
        rule, slot = self.rules.get(rule_id), self.slots.get((rule_id, subject_key))
        if rule is not None and slot is not None:
            self._step(rule, slot, am.Ack())

    def firing_by_kind(self) -> Counter[str]:
        return Counter(self.rules[r].kind.value for (r, _), s in self.slots.items()
                       if s.machine.state is am.State.FIRING and r in self.rules)

    # --- live state -----------------------------------------------------------------------------

    def observe(self, event: Event) -> None:
        """One event the read model has just applied (bridge, on the loop). Cheap when no
        rule cares: a heartbeat costs a type test and a dict lookup."""
        if isinstance(event, DeviceHeartbeat):
            if self._thresholds and event.sensors:
                self._readings(event)
        elif isinstance(event, SiteTraffic):
            if event.received:
                self._traffic(event.site_id)
        elif isinstance(event, DeviceAvailabilityChanged):
            self._availability(event.device, event.availability)
        elif isinstance(event, SiteStatusChanged):
            self._site_status(event.site_id)

    def site_removed(self, site_id: int) -> None:
        for rule in list(self.rules.values()):
            self._clear_rule(rule, lambda s: s.site_id == site_id)
        for key in [k for k in self._silence_checks if k[1] == site_id]:
            self._silence_checks.pop(key).cancel()
        self._last_heard.pop(site_id, None)

    def device_removed(self, device: DeviceKey) -> None:
        for rule in list(self.rules.values()):
            self._clear_rule(rule, lambda s: s.device == device)

    def _site_status(self, site_id: int) -> None:
        view = self.read_model.sites.get(site_id)
        if view is None or not self.owns(site_id):
            return
        now = self.scheduler.now()
        connected = view.status == ConnectionStatus.CONNECTED
        down = view.record.is_enabled and not connected
        for rule in self._by_kind[RuleKind.SITE_DOWN]:
            if self._covers(rule, site_id):
                self._event(rule, Subject(site_id=site_id), am.Raise(now) if down else am.Clear())
        for rule in self._by_kind[RuleKind.NO_DATA]:
            if self._covers(rule, site_id):
                if connected:
                    self._last_heard[site_id] = max(self._last_heard.get(site_id, now), now)
                    self._check_silence(rule, site_id)
                else:
                    self._stop_silence_check(rule, site_id)
                    self._event(rule, Subject(site_id=site_id), am.Suspend())
        if not connected:  # pending device alerts cannot be known any more
            for rule in self._by_kind[RuleKind.DEVICE_OFFLINE]:
                self._suspend_devices(rule, site_id)

    def _availability(self, device: DeviceKey, availability: str) -> None:
        if not self.owns(device.site_id):
            return
        view = self.read_model.sites.get(device.site_id)
        connected = view is not None and view.status == ConnectionStatus.CONNECTED
        if availability == "offline" and connected:
            event: am.Event = am.Raise(self.scheduler.now())
        elif availability == "online":
            event = am.Clear()
        else:
            event = am.Suspend()
        for rule in self._by_kind[RuleKind.DEVICE_OFFLINE]:
            if self._covers(rule, device.site_id):
                self._event(rule, Subject(site_id=device.site_id, device=device), event)

    def _readings(self, e: DeviceHeartbeat) -> None:
        if e.device.kind != "datalogger" or not self.owns(e.device.site_id):
            return
        thresholds = self._thresholds
        for sensor in e.sensors:
            rules = thresholds.get(sensor.key)
            value = sensor.value
            if rules is None or value is None:
                continue
            for rule in rules:
                # The common case, a reading inside with no threshold alert open anywhere,
                # costs two comparisons: no subject is built.
                if not self._threshold_slots and not rule.outside(value):
                    continue
                if (rule.model and rule.model != e.model) or not self._covers(
                        rule, e.device.site_id):
                    continue
                subject = Subject(site_id=e.device.site_id, device=e.device, sensor_key=sensor.key)
                outside = rule.outside(value)
                event = am.Raise(self.scheduler.now()) if outside else am.Clear()
                if outside or (rule.id, subject.key) in self.slots:
                    self._event(rule, subject, event, value=value)

    def _traffic(self, site_id: int) -> None:
        if not self.owns(site_id):
            return
        self._last_heard[site_id] = self.scheduler.now()
        for rule in self._by_kind[RuleKind.NO_DATA]:
            slot = self.slots.get((rule.id, f"site:{site_id}"))
            if slot is not None:
                self._step(rule, slot, am.Clear())
                self._check_silence(rule, site_id)

    # --- no_data timers -------------------------------------------------------------------------

    def _check_silence(self, rule: Rule, site_id: int) -> None:
        key = (rule.id, site_id)
        if key in self._silence_checks:
            return
        due = self._last_heard.get(site_id, self.scheduler.now()) + rule.for_s
        self._silence_checks[key] = self.scheduler.call_at(
            due, lambda: self._silence_due(rule.id, site_id))

    def _silence_due(self, rule_id: int, site_id: int) -> None:
        self._silence_checks.pop((rule_id, site_id), None)
        rule = self.rules.get(rule_id)
        view = self.read_model.sites.get(site_id)
        if (rule is None or view is None or view.status != ConnectionStatus.CONNECTED
                or not self.owns(site_id)):
            return
        last = self._last_heard.get(site_id, self.scheduler.now())
        if self.scheduler.now() - last >= rule.for_s:
            self._event(rule, Subject(site_id=site_id), am.Raise(last))
        else:
            self._check_silence(rule, site_id)

    def _stop_silence_check(self, rule: Rule, site_id: int) -> None:
        handle = self._silence_checks.pop((rule.id, site_id), None)
        if handle is not None:
            handle.cancel()

    # --- machines -------------------------------------------------------------------------------

    def _covers(self, rule: Rule, site_id: int) -> bool:
        view = self.read_model.sites.get(site_id)
        return view is not None and rule.covers(site_id, view.record.labels)

    @staticmethod
    def _timing(rule: Rule) -> am.Timing:
        return am.Timing(float(rule.for_s), float(rule.repeat_s))

    def _look(self, rule: Rule) -> None:
        """A new or changed rule: what the live state says now."""
        now = self.scheduler.now()
        for site_id, view in list(self.read_model.sites.items()):
            if not rule.covers(site_id, view.record.labels) or not self.owns(site_id):
                continue
            connected = view.status == ConnectionStatus.CONNECTED
            if rule.kind is RuleKind.SITE_DOWN and view.record.is_enabled and not connected:
                self._event(rule, Subject(site_id=site_id), am.Raise(now))
            elif rule.kind is RuleKind.NO_DATA and connected:
                self._check_silence(rule, site_id)
        if rule.kind is RuleKind.DEVICE_OFFLINE:
            for device, availability in list(self.read_model.device_availability.items()):
                if availability == "offline" and self._covers(rule, device.site_id):
                    self._availability(device, availability)

    def _suspend_devices(self, rule: Rule, site_id: int) -> None:
        for (rule_id, _), slot in list(self.slots.items()):
            if rule_id == rule.id and slot.subject.site_id == site_id:
                self._step(rule, slot, am.Suspend())

    def _clear_rule(self, rule: Rule, which: Callable[[Subject], bool]) -> None:
        for (rule_id, _), slot in list(self.slots.items()):
            if rule_id == rule.id and which(slot.subject):
                self._step(rule, slot, am.Clear())
        if rule.kind is RuleKind.NO_DATA:
            for key in [k for k in self._silence_checks if k[0] == rule.id]:
                if which(Subject(site_id=key[1])):
                    self._silence_checks.pop(key).cancel()

    def _event(self, rule: Rule, subject: Subject, event: am.Event, **context: Any) -> None:
        key = (rule.id, subject.key)
        slot = self.slots.get(key)
        if slot is None:
            if not isinstance(event, am.Raise):
                return
            slot = self.slots[key] = _Slot(subject)
            if rule.kind is RuleKind.SENSOR_THRESHOLD:
                self._threshold_slots += 1
        self._step(rule, slot, event, **context)

    def _step(self, rule: Rule, slot: _Slot, event: am.Event, **context: Any) -> None:
        now = self.scheduler.now()
        before = slot.machine
        slot.machine, effects = am.transition(before, event, now, self._timing(rule))
        if slot.machine.due_at != before.due_at or slot.machine is am.IDLE:
            self._arm(rule, slot)
        gone = slot.machine is am.IDLE and (rule.id, slot.subject.key) in self.slots
        if gone:
            del self.slots[(rule.id, slot.subject.key)]
        if gone and rule.kind is RuleKind.SENSOR_THRESHOLD:
            self._threshold_slots -= 1
        for effect in effects:
            self.sink(Transition(rule=rule, subject=slot.subject, effect=effect,
                                 message=message(self.read_model, rule, slot.subject, now,
                                                 slot.machine, **context)))

    def _arm(self, rule: Rule, slot: _Slot) -> None:
        if slot.handle is not None:
            slot.handle.cancel()
            slot.handle = None
        due = slot.machine.due_at
        if due is not None and slot.machine is not am.IDLE:
            key = (rule.id, slot.subject.key)
            slot.handle = self.scheduler.call_at(due, lambda: self._due(key))

    def _due(self, key: tuple[int, str]) -> None:
        slot, rule = self.slots.get(key), self.rules.get(key[0])
        if slot is not None and not self.owns(slot.subject.site_id):
            self._forget(key, slot)  # the site moved to another instance: its owner decides
        elif slot is not None and rule is not None:
            slot.handle = None
            self._step(rule, slot, am.Due())
