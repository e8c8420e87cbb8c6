"""The evaluator in a cluster: only the sites this instance owns are evaluated (ownership
asked at every use); a site that comes to it is looked at from the read model without
firing again what was firing; a site that leaves is forgotten without a transition."""

from __future__ import annotations

from alerts.support import Rig, rule, site_record
from sitelink.alerts.evaluator import Subject
from sitelink.alerts.model import RuleKind
from sitelink.events import DeviceKey

D1 = DeviceKey(1, "datalogger", "SN1")


def rig_owning(owned: set[int], *rules_: object) -> Rig:
    rig = Rig(site_record(1), site_record(2))
    rig.evaluator.owns = owned.__contains__
    rig.status(1, "connected")
    rig.status(2, "connected")
    rig.evaluator.set_rules(rules_)  # type: ignore[arg-type]
    return rig


def test_sites_of_another_instance_open_nothing() -> None:
    """Site 2 is someone else's: its status, devices, readings and silence open no alert,
    while site 1's do."""
    rig = rig_owning({1}, rule(1, RuleKind.SITE_DOWN, for_s=0),
                     rule(2, RuleKind.DEVICE_OFFLINE, for_s=0),
                     rule(3, RuleKind.SENSOR_THRESHOLD, for_s=0, sensor_key="t", max=10.0),
                     rule(4, RuleKind.NO_DATA, for_s=60))
    other = DeviceKey(2, "datalogger", "SN2")
    rig.availability(other, "offline")
    rig.reading(other, "t", 99.0)
    rig.status(2, "error", "down")
    rig.clock.advance(3600)
    theirs = ("site:2", "device:2", "sensor:t:device:2")
    assert [k for _, k in rig.effects() if k.startswith(theirs)] == []
    rig.status(1, "error", "down")
    assert rig.effects()[-2:] == [("Open", "site:1"), ("Fire", "site:1")]


def test_a_rule_set_while_owning_nothing_looks_at_nothing() -> None:
    rig = rig_owning(set())
    rig.status(1, "error", "down")
    rig.evaluator.set_rules([rule(1, RuleKind.SITE_DOWN, for_s=0)])
    rig.clock.advance(600)
    assert rig.effects() == []


def test_a_claimed_site_is_evaluated_from_the_read_model_without_refiring() -> None:
    """Failover: the site was someone else's and is down, with its site_down firing in the
    database. Restored then claimed, it stays firing (no second Fire); the device that went
    offline meanwhile opens its alert; connecting resolves the site's."""
    down = rule(1, RuleKind.SITE_DOWN, for_s=0)
    offline = rule(2, RuleKind.DEVICE_OFFLINE, for_s=0)
    owned: set[int] = set()
    rig = rig_owning(owned, down, offline)
    rig.status(1, "error", "down")
    rig.status(1, "connected")
    rig.availability(D1, "offline")
    rig.status(1, "error", "down again")
    assert rig.effects() == []
    owned.add(1)
    rig.evaluator.restore(down, Subject(site_id=1), rig.clock.now() - 60, acked=False)
    rig.evaluator.claim(1)
    assert rig.effects() == []  # down and firing already: nothing new; D1 cannot be known
    rig.status(1, "connected")
    rig.availability(D1, "offline")
    assert rig.effects() == [("Resolve", "site:1"), ("Open", Subject(site_id=1, device=D1).key),
                             ("Fire", Subject(site_id=1, device=D1).key)]


def test_a_claimed_site_whose_condition_cleared_resolves_at_once() -> None:
    down = rule(1, RuleKind.SITE_DOWN, for_s=0)
    owned: set[int] = set()
    rig = rig_owning(owned, down)  # site 1 is connected in the read model
    owned.add(1)
    rig.evaluator.restore(down, Subject(site_id=1), rig.clock.now() - 60, acked=False)
    rig.evaluator.claim(1)
    assert rig.effects() == [("Resolve", "site:1")]


def test_a_released_site_is_forgotten_without_a_transition() -> None:
    """Handover: the machines of a site that left go without Resolve, and their timers
    (repeats) never run here again; the alert stays open in the database for its owner."""
    owned = {1}
    rig = rig_owning(owned, rule(1, RuleKind.SITE_DOWN, for_s=0, repeat_s=60),
                     rule(2, RuleKind.SENSOR_THRESHOLD, for_s=0, sensor_key="t", max=10.0))
    rig.status(1, "error", "down")
    rig.reading(D1, "t", 99.0)
    before = rig.effects()
    assert ("Fire", "site:1") in before
    owned.clear()
    rig.evaluator.release(1)
    rig.clock.advance(3600)
    rig.status(1, "connected")
    rig.reading(D1, "t", 1.0)
    assert rig.effects() == before
    assert rig.evaluator.slots == {} and rig.evaluator.firing_by_kind() == {}


def test_a_site_that_moves_away_silently_stops_its_timers_even_unreleased() -> None:
    """Ownership is asked when a timer falls due: a repeat of a site that has moved is not
    sent by the old owner even before it is told of the move."""
    owned = {1}
    rig = rig_owning(owned, rule(1, RuleKind.SITE_DOWN, for_s=0, repeat_s=60))
    rig.status(1, "error", "down")
    before = rig.effects()
    owned.clear()
    rig.clock.advance(600)
    assert rig.effects() == before and rig.evaluator.slots == {}
