"""The SSE hub's drop policy, with a hand-moved clock: who is slow, and when they are dropped.

A client more than ``queue_size`` events behind is dropped once it has taken nothing for
``stall_s``; one that keeps taking may fall behind up to ``buffer_size`` during a burst.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sitelink.fanout import EventFilter, Hub, Subscriber

EVERYTHING = EventFilter()


class Ticks:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def ticks() -> Ticks:
    return Ticks()


def make_hub(ticks: Ticks) -> Hub:
    return Hub(buffer_size=50, queue_size=10, stall_s=2.0, now=ticks)


def publish(hub: Hub, count: int) -> None:
    for n in range(count):
        hub.publish("site.status", 1, {"n": n})


def ids(events: Iterator[object] | list[object]) -> list[int]:
    return [e.id for e in events]  # type: ignore[attr-defined]


def test_a_stuck_client_is_dropped_once_behind_and_stalled(ticks: Ticks) -> None:
    hub = make_hub(ticks)
    stuck = hub.subscribe(EVERYTHING, None)
    publish(hub, 10)
    ticks.t = 2.0  # exactly stall_s since it last took: not yet stalled
    publish(hub, 1)
    assert not stuck.dropped.is_set() and len(stuck.pending) == 11
    ticks.t = 2.5
    publish(hub, 1)
    assert stuck.dropped.is_set() and hub.dropped_clients == 1
    assert ids(stuck.pending) == list(range(1, 12)), "never the event: what it had stays in order"


def test_a_client_that_keeps_taking_rides_out_a_burst(ticks: Ticks) -> None:
    hub = make_hub(ticks)
    reader = hub.subscribe(EVERYTHING, None)
    got: list[int] = []
    for _ in range(3):
        publish(hub, 40)  # 40 behind: beyond queue_size, within buffer_size
        ticks.t += 1.5
        got += ids(reader.take())
    assert not reader.dropped.is_set()
    assert got == list(range(1, 121))


def test_a_client_whose_stream_took_a_burst_and_sent_nothing_is_dropped(ticks: Ticks) -> None:
    """The stream took a whole burst (it came before the stream could take any) and its
    write never went out: the client is behind by what it took and is dropped once stalled,
    though nothing more waits for it; one whose write went out is not."""
    hub = make_hub(ticks)
    stuck, reader = hub.subscribe(EVERYTHING, None), hub.subscribe(EVERYTHING, None)
    publish(hub, 40)
    assert len(stuck.take()) == len(reader.take()) == 40
    reader.sent()
    ticks.t = 2.5
    assert hub.drop_stalled() == 1
    assert stuck.dropped.is_set() and not reader.dropped.is_set()


def test_no_client_falls_further_behind_than_the_buffer(ticks: Ticks) -> None:
    hub = make_hub(ticks)
    reader = hub.subscribe(EVERYTHING, None)
    publish(hub, 50)
    assert not reader.dropped.is_set()
    publish(hub, 1)  # taking recently does not matter past buffer_size
    assert reader.dropped.is_set()


def test_a_dropped_client_does_not_hold_back_the_others(ticks: Ticks) -> None:
    hub = make_hub(ticks)
    stuck = hub.subscribe(EVERYTHING, None)
    other = hub.subscribe(EventFilter(site_ids=frozenset({1})), None)
    publish(hub, 10)
    ticks.t = 3.0
    other.take()
    publish(hub, 5)
    assert stuck.dropped.is_set() and not other.dropped.is_set()
    assert ids(other.take()) == list(range(11, 16))
    assert stuck not in hub.subscribers and other in hub.subscribers


def test_a_resuming_client_may_be_behind_by_its_replay(ticks: Ticks) -> None:
    """The replay of a Last-Event-ID does not count against the client's allowance."""
    hub = make_hub(ticks)
    publish(hub, 30)
    resumed: Subscriber = hub.subscribe(EVERYTHING, 5)
    assert ids(resumed.pending) == list(range(6, 31))
    ticks.t = 10.0
    publish(hub, 10)
    assert not resumed.dropped.is_set()
    publish(hub, 1)
    assert resumed.dropped.is_set()


def test_a_client_stuck_after_the_last_event_is_found_by_the_sweep(ticks: Ticks) -> None:
    hub = make_hub(ticks)
    stuck = hub.subscribe(EVERYTHING, None)
    idle = hub.subscribe(EVERYTHING, None)
    publish(hub, 10)  # the burst ends here: no later offer would notice
    idle.take()
    idle.sent()  # its stream wrote them
    assert hub.drop_stalled() == 0
    ticks.t = 2.5
    assert hub.drop_stalled() == 1
    assert stuck.dropped.is_set() and not idle.dropped.is_set(), "nothing pending: not stuck"


def test_ids_of_another_run_always_answer_reset(ticks: Ticks) -> None:
    """After a restart ids continue above the previous run's reservation; an id from the
    previous run (or from the future) gets one ``reset``, never this run's events as if they
    followed it; this run's own ids replay as before."""
    hub = make_hub(ticks)
    hub.start_run(1000, 2000)
    publish(hub, 5)
    assert [e.id for e in hub.ring] == [1001, 1002, 1003, 1004, 1005]
    for stale in (5, 999, 1000, 1006):
        [reset] = hub.subscribe(EVERYTHING, stale).pending
        assert reset.type == "reset", stale
    assert [e.id for e in hub.subscribe(EVERYTHING, 1002).pending] == [1003, 1004, 1005]


def test_the_reservation_is_renewed_when_half_is_used(ticks: Ticks) -> None:
    hub = make_hub(ticks)
    due: list[int] = []
    hub.on_reserve_due = due.append
    hub.start_run(0, 10)
    publish(hub, 7)
    assert due == [5]  # asked once, not again until storage answers
    hub.reserved(5 + 10)
    publish(hub, 5)
    assert due == [5, 11]
