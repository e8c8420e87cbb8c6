"""The evaluator on a real read model and a fake clock: debounce, parent-awareness,
thresholds, no_data, scope by site and label, and rule changes."""

from __future__ import annotations

from alerts.support import Rig, rule, site_record
from sitelink.alerts.evaluator import Subject
from sitelink.alerts.model import RuleKind
from sitelink.events import DeviceKey

D1 = DeviceKey(1, "datalogger", "SN:1")
D2 = DeviceKey(1, "datalogger", "SN2")


def connected_rig(*rules_: object) -> Rig:
    rig = Rig(site_record(1), site_record(2, labels={"region": "puglia"}))
    rig.status(1, "connected")
    rig.status(2, "connected")
    rig.evaluator.set_rules(rules_)  # type: ignore[arg-type]
    return rig


def test_site_down_fires_after_for_s_once_and_resolves() -> None:
    """A site in error for longer than for_s fires one site_down; connecting again resolves."""
    rig = connected_rig(rule(1, RuleKind.SITE_DOWN, for_s=60))
    rig.status(1, "error", "Connection refused: not authorised")
    rig.clock.advance(59)
    assert rig.effects() == [("Open", "site:1")]
    rig.status(1, "connecting")
    rig.clock.advance(1)
    assert rig.effects()[-1] == ("Fire", "site:1")
    assert rig.seen[-1].message == "Site 001: MQTT connecting, for 60 s"
    rig.clock.advance(600)
    rig.status(1, "connected")
    assert rig.effects() == [("Open", "site:1"), ("Fire", "site:1"), ("Resolve", "site:1")]


def test_a_flap_shorter_than_for_s_never_fires() -> None:
    """Down for 30 s with for_s 60: the pending alert is discarded, nothing fires."""
    rig = connected_rig(rule(1, RuleKind.SITE_DOWN, for_s=60))
    rig.status(1, "error", "lost")
    rig.clock.advance(30)
    rig.status(1, "connected")
    rig.clock.advance(600)
    assert rig.effects() == [("Open", "site:1"), ("Discard", "site:1")]


def test_site_down_raises_nothing_per_device() -> None:
    """Devices of a site that is down are unreachable: one site_down, no device_offline;
    a device pending offline when the site drops is discarded."""
    rig = connected_rig(rule(1, RuleKind.SITE_DOWN, for_s=60),
                        rule(2, RuleKind.DEVICE_OFFLINE, for_s=60))
    rig.availability(D1, "offline")
    rig.clock.advance(10)
    rig.status(1, "error", "Connection lost")
    rig.availability(D1, "unreachable")
    rig.availability(D2, "unreachable")
    rig.clock.advance(3600)
    device_key = Subject(site_id=1, device=D1).key
    assert rig.effects() == [("Open", device_key), ("Open", "site:1"),
                             ("Discard", device_key), ("Fire", "site:1")]


def test_device_offline_after_the_site_returns_needs_its_full_for_s() -> None:
    """After the site is back, an offline device fires only after for_s of being offline."""
    rig = connected_rig(rule(2, RuleKind.DEVICE_OFFLINE, for_s=120))
    rig.status(1, "error", "lost")
    rig.availability(D1, "unreachable")
    rig.clock.advance(600)
    rig.status(1, "connected")
    rig.availability(D1, "offline")  # the actor's grace is over
    rig.clock.advance(119)
    assert [e for e, _ in rig.effects()] == ["Open"]
    rig.clock.advance(1)
    assert [e for e, _ in rig.effects()] == ["Open", "Fire"]
    rig.availability(D1, "online")
    assert [e for e, _ in rig.effects()] == ["Open", "Fire", "Resolve"]


def test_scope_by_site_and_by_label() -> None:
    """A rule for one site or for sites with a label ignores the others."""
    rig = connected_rig(rule(1, RuleKind.SITE_DOWN, for_s=0, site_id=1),
                        rule(2, RuleKind.SITE_DOWN, for_s=0, labels={"region": "puglia"}))
    rig.status(1, "error", "x")
    rig.status(2, "error", "y")
    assert sorted((t.rule.id, t.subject.key) for t in rig.seen if type(t.effect).__name__ ==
                  "Fire") == [(1, "site:1"), (2, "site:2")]


def test_threshold_fires_outside_and_resolves_inside() -> None:
    """A reading above max held for for_s fires; a reading back inside resolves; other
    sensors and other models are ignored."""
    rig = connected_rig(rule(1, RuleKind.SENSOR_THRESHOLD, for_s=30, sensor_key="t", max=40.0,
                             model="m"))
    rig.reading(D1, "other", 99)
    rig.reading(D1, "t", 99, model="n")
    rig.reading(D1, "t", 41)
    rig.clock.advance(30)
    rig.reading(D1, "t", 42)
    assert [e for e, _ in rig.effects()] == ["Open", "Fire"]
    assert "SN:1 t = 42 outside max 40" in rig.seen[-1].message or "outside max 40" in \
        rig.seen[-1].message
    rig.reading(D1, "t", 20)
    assert [e for e, _ in rig.effects()] == ["Open", "Fire", "Resolve"]


def test_no_data_fires_after_silence_and_resolves_on_traffic() -> None:
    """A connected site silent for for_s fires no_data once; traffic resolves it; traffic
    before the deadline postpones it."""
    rig = connected_rig(rule(1, RuleKind.NO_DATA, for_s=100, site_id=1))
    rig.clock.advance(50)
    rig.traffic(1)
    rig.clock.advance(99)
    assert rig.effects() == []
    rig.clock.advance(1)
    assert rig.effects() == [("Open", "site:1"), ("Fire", "site:1")]
    rig.clock.advance(500)
    rig.traffic(1)
    assert rig.effects()[-1] == ("Resolve", "site:1")


def test_removing_a_rule_resolves_what_it_fired_and_restore_does_not_refire() -> None:
    """Rules taken away resolve their firing alerts; an alert restored as firing (after a
    restart) is not fired again and resolves when its condition clears."""
    down = rule(1, RuleKind.SITE_DOWN, for_s=0)
    rig = connected_rig(down)
    rig.status(1, "error", "x")
    rig.evaluator.set_rules([])
    assert rig.effects() == [("Open", "site:1"), ("Fire", "site:1"), ("Resolve", "site:1")]
    fresh = connected_rig()
    fresh.evaluator.restore(down, Subject(site_id=1), fresh.clock.now() - 900, acked=False)
    fresh.evaluator.set_rules([down])
    fresh.status(1, "error", "still")
    assert fresh.effects() == []
    assert fresh.evaluator.firing_by_kind() == {"site_down": 1}
    fresh.status(1, "connected")
    assert fresh.effects() == [("Resolve", "site:1")]


def test_subject_keys_round_trip() -> None:
    """Subject keys name sites, devices (serials with ':') and sensors, and parse back."""
    for subject in (Subject(site_id=3), Subject(site_id=1, device=D1),
                    Subject(site_id=1, device=D1, sensor_key="t_ext")):
        assert Subject.parse(subject.key) == subject


def test_a_site_that_gains_a_label_comes_into_scope() -> None:
    """A rule for a label covers a site once the site gets that label (PATCH), and lets go
    of it when the label goes: its alert resolves."""
    rig = connected_rig(rule(1, RuleKind.SITE_DOWN, for_s=0, labels={"tier": "gold"}))
    rig.status(1, "error", "x")
    assert rig.effects() == []
    view = rig.read_model.sites[1]
    view.record = site_record(1, labels={"tier": "gold"})
    rig.evaluator.set_rules(list(rig.evaluator.rules.values()))
    assert rig.effects() == [("Open", "site:1"), ("Fire", "site:1")]
    view.record = site_record(1)
    rig.evaluator.set_rules(list(rig.evaluator.rules.values()))
    assert rig.effects()[-1] == ("Resolve", "site:1")
