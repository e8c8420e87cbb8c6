"""The SSE hub on the cluster's event log (PostgreSQL), without a database: a hand-written
log outlet records what the hub hands it.

Pins: a published event goes to the log, not to the streams, until the log's reader hands
it back under the row's id; a reading goes out at once without an ``id:`` line; a hub that
starts on the log resumes a ``Last-Event-ID`` from before its start.
"""

from __future__ import annotations

from typing import Any

import msgspec

from sitelink.fanout import EventFilter, Hub

EVERYTHING = EventFilter(readings=True)


class Outlet:
    def __init__(self) -> None:
        self.rows: list[tuple[str, int | None, dict[str, Any], msgspec.Struct | None]] = []

    def append(self, type_: str, site_id: int | None, data: dict[str, Any],
               state: msgspec.Struct | None) -> None:
        self.rows.append((type_, site_id, data, state))


class Marker(msgspec.Struct, frozen=True):
    n: int


def test_an_event_reaches_streams_only_through_the_log_under_the_log_s_id() -> None:
    hub, outlet = Hub(), Outlet()
    hub.log = outlet
    hub.start_log(40, [])
    sub = hub.subscribe(EVERYTHING, None)
    assert hub.publish("site.status", 1, {"s": "connected"}, state=Marker(n=1)) is None
    assert outlet.rows == [("site.status", 1, {"s": "connected"}, Marker(n=1))]
    assert sub.take() == []
    hub.publish_logged(41, "site.status", 1, b'{"s":"connected"}')
    [event] = sub.take()
    assert event.frame == b'id: 41\r\nevent: site.status\r\ndata: {"s":"connected"}\r\n\r\n'
    assert hub.last_id == 41


def test_a_reading_goes_out_at_once_without_an_id_line() -> None:
    hub, outlet = Hub(), Outlet()
    hub.log = outlet
    hub.start_log(7, [])
    sub = hub.subscribe(EVERYTHING, None)
    hub.publish("sensor.reading", 1, lambda: {"key": "t", "value": 1.5})
    [event] = sub.take()
    assert outlet.rows == []
    assert event.frame == b'event: sensor.reading\r\ndata: {"key":"t","value":1.5}\r\n\r\n'
    assert hub.last_id == 7  # readings take no id


def test_readings_are_not_replayed_and_do_not_push_out_what_a_resume_needs() -> None:
    """More readings than the ring holds, after a logged event: a stream resuming from just
    before that event still gets it (the readings, without ids, were never in the ring)."""
    hub = Hub(buffer_size=100)
    hub.log = Outlet()
    hub.start_log(4, [(n, "site.status", 1, b"{}") for n in range(1, 5)])
    hub.publish_logged(5, "site.status", 1, b"{}")
    for n in range(300):
        hub.publish("sensor.reading", 1, lambda n=n: {"key": "t", "value": n})
    assert [(e.id, e.type) for e in hub.subscribe(EVERYTHING, 4).take()] == [
        (5, "site.status")]
    assert hub.subscribe(EVERYTHING, 5).take() == []


def test_a_hub_started_on_the_log_resumes_ids_from_before_its_start() -> None:
    hub = Hub()
    hub.log = Outlet()
    hub.start_log(30, [(10, "site.changed", 1, b"{}"), (20, "site.status", 1, b"{}"),
                       (30, "site.status", 2, b"{}")])
    resumed = hub.subscribe(EVERYTHING, 10)
    assert [e.id for e in resumed.take()] == [20, 30]
    assert [e.id for e in hub.subscribe(EVERYTHING, 9).take()] == [10, 20, 30]  # just before
    [reset] = hub.subscribe(EVERYTHING, 5).take()
    assert reset.type == "reset"
