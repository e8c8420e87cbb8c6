"""What the lease keeper answers from its last view, with time injected (no database): a
site is owned only while the tenure is valid, sites nobody holds count as unowned only after
the TTL, and instances joining or leaving become ``cluster.changed`` announcements."""

from __future__ import annotations

from typing import Any

from sitelink.cluster import tenure as ten
from sitelink.cluster.keeper import LeaseKeeper
from sitelink.cluster.lease_store import Snapshot


class Runner:
    async def ownership_changed(self, lost: frozenset[int],
                                gained: frozenset[int] = frozenset()) -> None:
        raise AssertionError("not called in these tests")


def keeper(now: list[float], announced: list[dict[str, Any]]) -> LeaseKeeper:
    return LeaseKeeper(None, instance_id="a", ttl_s=3.0, runner=Runner(),  # type: ignore[arg-type]
                       fence=lambda epochs: None, announce=announced.append,
                       now=lambda: now[0])


def test_a_site_is_owned_only_while_the_tenure_is_valid() -> None:
    now = [100.0]
    k = keeper(now, [])
    k.instances = ("a", "b")
    k.held = {7: 3}
    k.tenure = ten.renewed(sent_at=100.0, ttl_s=3.0)  # valid until 102.4
    assert k.owns(7) and not k.owns(8)
    assert k.owner_of(7) == "a"
    now[0] = 102.4
    assert not k.owns(7) and k.owner_of(7) is None  # lapsed: not even while held


def test_an_instance_alone_keeps_its_sites_when_it_cannot_renew() -> None:
    """Nobody else could take them: a database outage stays an outage of storage only."""
    now = [100.0]
    k = keeper(now, [])
    k.instances = ("a",)
    k.held = {7: 3}
    k.tenure = ten.renewed(sent_at=100.0, ttl_s=3.0)
    now[0] = 200.0
    assert k.owns(7) and not k._lapse_if_due() and k.held == {7: 3}


def test_unowned_sites_count_after_the_ttl_and_instances_are_announced() -> None:
    now, announced = [0.0], []
    k = keeper(now, announced)
    k._observe(Snapshot(instances=("a", "b"), owners={1: "b"}, enabled=frozenset({1, 2})))
    assert announced == []  # the first view is where the keeper starts from
    assert (k.instances, k.owner_of(1), k.owner_of(2)) == (("a", "b"), "b", None)
    now[0] = 3.0
    k._observe(Snapshot(instances=("a", "b", "c"), owners={1: "b"},
                        enabled=frozenset({1, 2})))
    assert k.unowned_for(3.0) == 0  # site 2: unowned for exactly the TTL, not longer
    now[0] = 3.5
    k._observe(Snapshot(instances=("a", "c"), owners={1: "c", 2: "c"},
                        enabled=frozenset({1, 2})))
    assert k.unowned_for(3.0) == 0  # taken: no longer counted
    assert announced == [{"change": "joined", "instance_id": "c"},
                         {"change": "left", "instance_id": "b"}]
    now[0] = 10.0
    k._observe(Snapshot(instances=("a",), owners={}, enabled=frozenset({1, 2})))
    now[0] = 13.5
    k._observe(Snapshot(instances=("a",), owners={}, enabled=frozenset({1, 2})))
    assert k.unowned_for(3.0) == 2
