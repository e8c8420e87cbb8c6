"""The balance decision (``cluster.balance.decide``), pure: instances acting one at a time on
what they see converge to every site held, each instance holding the floor or the ceiling
of the average, and then nothing moves any more."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sitelink.cluster.balance import HANDOVER_CHUNK_S, Decision, View, decide, handover_chunk


def view(me: str, held: dict[str, int], sites: int) -> View:
    return View(me=me, instances=tuple(held), held=held, sites=sites,
                free=sites - sum(held.values()))


class Cluster:
    """Instances that claim from the free sites and release into them, one at a time."""

    def __init__(self, instances: int, sites: int, start: list[int]) -> None:
        self.sites = sites
        self.held = {f"i{n}": 0 for n in range(instances)}
        for owner in start[:sites]:
            if owner < instances:
                self.held[f"i{owner}"] += 1

    @property
    def free(self) -> int:
        return self.sites - sum(self.held.values())

    def act(self, me: str) -> bool:
        decision = decide(view(me, self.held, self.sites))
        assert not (decision.claim and decision.release)
        taken = min(decision.claim, self.free)
        self.held[me] += taken - decision.release
        assert self.held[me] >= 0
        return bool(taken or decision.release)


@settings(max_examples=300, deadline=None)
@given(instances=st.integers(1, 6), sites=st.integers(0, 40),
       start=st.lists(st.integers(0, 6), max_size=40),
       order=st.lists(st.integers(0, 5), max_size=120))
def test_instances_acting_in_any_order_converge_to_an_even_spread_and_stay(
        instances: int, sites: int, start: list[int], order: list[int]) -> None:
    cluster = Cluster(instances, sites, start)
    for n in order:  # an arbitrary interleaving first
        if n < instances:
            cluster.act(f"i{n}")
    for _ in range(4 * sites + 10):  # then rounds until a round changes nothing
        if not [moved for me in list(cluster.held) if (moved := cluster.act(me))]:
            break
    else:
        raise AssertionError(f"no settled state: {cluster.held}")
    floor, extra = divmod(sites, instances)
    assert cluster.free == 0
    assert all(floor <= held <= floor + (1 if extra else 0) for held in cluster.held.values())
    assert all(decide(view(me, cluster.held, sites)) == Decision() for me in cluster.held)


def test_a_joining_instance_makes_the_fullest_give_up_the_excess() -> None:
    # Seven sites on one instance, two join: each of them takes a share.
    assert decide(view("a", {"a": 7, "b": 0, "c": 0}, 7)) == Decision(release=4)
    assert decide(view("b", {"a": 3, "b": 0, "c": 0}, 7)) == Decision(claim=2)
    assert decide(view("c", {"a": 3, "b": 2, "c": 0}, 7)) == Decision(claim=2)


def test_inside_the_band_a_new_or_deleted_site_moves_nothing_else() -> None:
    # 3, 3, 2 of 8 is settled; a ninth site goes to the one below the ceiling only ...
    assert decide(view("a", {"a": 3, "b": 3, "c": 2}, 9)) == Decision()
    assert decide(view("c", {"a": 3, "b": 3, "c": 2}, 9)) == Decision(claim=1)
    # ... and a site deleted from a full one leaves 2, 3, 2 as it is.
    assert all(decide(view(me, {"a": 2, "b": 3, "c": 2}, 7)) == Decision() for me in "abc")


def test_below_the_floor_with_nothing_free_just_enough_donors_give_one_each() -> None:
    held = {"a": 4, "b": 4, "c": 1}  # 9 sites: c needs two, a and b give one each
    assert decide(view("a", held, 9)) == Decision(release=1)
    assert decide(view("b", held, 9)) == Decision(release=1)
    held = {"a": 4, "b": 3, "c": 2}  # c needs one: only the fullest gives
    assert decide(view("a", held, 9)) == Decision(release=1)
    assert decide(view("b", held, 9)) == Decision()


def test_a_dead_instances_sites_go_to_the_survivors_up_to_the_ceiling() -> None:
    # c is gone: its three sites are free; a and b take them without passing the ceiling.
    assert decide(view("a", {"a": 2, "b": 2}, 7)) == Decision(claim=2)
    assert decide(view("b", {"a": 4, "b": 2}, 7)) == Decision(claim=1)


@given(rate=st.floats(min_value=0.1, max_value=10_000))
def test_a_handover_chunk_is_what_one_taker_connects_in_a_moment_and_never_empty(
        rate: float) -> None:
    """A chunk is at least one site, and no more than one instance connects (at the connect
    rate) within ``HANDOVER_CHUNK_S``, unless one site is already more than that."""
    size = handover_chunk(rate)
    assert size >= 1
    assert size == 1 or size <= rate * HANDOVER_CHUNK_S
    assert handover_chunk(50) == 10  # the default connect rate: 10 sites in 0.2 s
