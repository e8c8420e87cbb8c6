"""The bridge's crossing from actor threads to the loop: batches, in order, spaced in time.

The window is made long (60 s) so that what crosses together does not depend on how fast
this machine runs: a first event crosses at once, later ones wait for the window's end
(``drain`` ends it early, as shutdown does).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

from sitelink.bridge import Bridge
from sitelink.events import (
    ConnectionEventOccurred,
    DeviceDiscovered,
    DeviceHeartbeat,
    DeviceKey,
    Event,
    SensorValue,
    SiteTraffic,
)
from sitelink.fanout import EventFilter, Hub
from sitelink.readmodel import ReadModel


class RecordingWriter:
    """The storage writer's side of the bridge, recording what it is handed."""

    def __init__(self) -> None:
        self.batches: list[list[Event]] = []
        self.lookups: list[int] = []
        self.database = asyncio.Event()  # the database answers when this is set
        self.database.set()

    def submit(self, events: Sequence[Event]) -> None:
        self.batches.append(list(events))

    async def ensure_devices(self, discovered: Sequence[DeviceDiscovered]) -> dict[DeviceKey, int]:
        self.lookups.append(len(discovered))
        await self.database.wait()
        return {}


def event(n: int) -> SiteTraffic:
    """An everyday event: n messages received."""
    return SiteTraffic(site_id=1, received=n, rejected=0, last_message_at=float(n))


def urgent(n: int) -> ConnectionEventOccurred:
    return ConnectionEventOccurred(site_id=1, kind="connected", reason=f"#{n}", at=float(n))


def discovered(n: int) -> DeviceDiscovered:
    return DeviceDiscovered(device=DeviceKey(1, "datalogger", f"S{n}"), model="m", gateway="1",
                            at=float(n))


def reasons(batch: list[Event]) -> list[str]:
    """Which of ``event`` and ``urgent`` a batch holds, as "#n" and "!n"."""
    return [f"#{e.received}" if isinstance(e, SiteTraffic) else f"!{e.at:g}"
            for e in batch if isinstance(e, SiteTraffic | ConnectionEventOccurred)]


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


def make_bridge(window_s: float) -> tuple[Bridge, RecordingWriter]:
    writer = RecordingWriter()
    bridge = Bridge(asyncio.get_running_loop(), ReadModel("test", lambda _: None), Hub(),
                    writer, window_s=window_s)
    bridge.start()
    return bridge, writer


def publish_from_a_thread(bridge: Bridge, events: list[Event]) -> None:
    thread = threading.Thread(target=lambda: [bridge.publish(e) for e in events])
    thread.start()
    thread.join()


async def test_a_first_event_crosses_at_once_and_the_rest_of_the_window_waits() -> None:
    bridge, writer = make_bridge(window_s=60.0)
    publish_from_a_thread(bridge, [event(1)])
    await settle()
    assert [reasons(b) for b in writer.batches] == [["#1"]]
    publish_from_a_thread(bridge, [event(2), event(3)])
    await settle()
    assert bridge.crossings == 1, "inside the window: waits"
    await bridge.drain()
    assert [reasons(b) for b in writer.batches] == [["#1"], ["#2", "#3"]]
    assert (bridge.crossings, bridge.events) == (2, 3)
    await bridge.stop()


async def test_what_an_operator_waits_for_crosses_at_once_with_what_waited() -> None:
    bridge, writer = make_bridge(window_s=60.0)
    publish_from_a_thread(bridge, [event(1)])
    await settle()
    publish_from_a_thread(bridge, [event(2), urgent(3), event(4)])
    await settle()
    assert [reasons(b) for b in writer.batches] == [["#1"], ["#2", "!3", "#4"]]
    await bridge.stop()


async def test_without_a_window_every_quiet_event_crosses_at_once() -> None:
    bridge, writer = make_bridge(window_s=0.0)
    for n in range(3):
        publish_from_a_thread(bridge, [event(n)])
        await settle()
        assert len(writer.batches) == n + 1
    await bridge.stop()


async def test_batches_that_queued_up_share_one_device_lookup_and_keep_their_order() -> None:
    bridge, writer = make_bridge(window_s=0.0)
    writer.database.clear()  # a slow database: crossings queue up behind the first lookup
    for n in range(3):
        publish_from_a_thread(bridge, [discovered(n), event(n)])
        await settle()
    assert writer.lookups == [1] and writer.batches == []
    writer.database.set()
    await settle()
    assert writer.lookups == [1, 2], "the two batches that waited: one lookup"
    assert [reasons(b) for b in writer.batches] == [["#0"], ["#1"], ["#2"]]
    await bridge.stop()


async def test_a_workers_batch_crosses_as_one_and_urgent_in_it_goes_at_once() -> None:
    """``publish_batch`` (a site worker's frame): one hand-off for the whole batch; a batch
    with an urgent event in it does not wait for the window."""
    bridge, writer = make_bridge(window_s=60.0)
    threading.Thread(target=bridge.publish_batch, args=([event(1), event(2)],)).start()
    await bridge.drain()
    assert [reasons(b) for b in writer.batches] == [["#1", "#2"]]
    bridge.publish_batch([event(3)])
    await settle()
    assert len(writer.batches) == 1, "inside the window: waits"
    bridge.publish_batch([event(4), urgent(5)])
    await settle()
    assert [reasons(b) for b in writer.batches] == [["#1", "#2"], ["#3", "#4", "!5"]]
    bridge.publish_batch([])
    await bridge.stop()
    assert bridge.crossings == 2


async def test_a_big_batch_lets_the_streams_take_as_it_is_announced() -> None:
    """A worker's batch of 120 heartbeats of 100 sensors announces 12,000 readings, more than
    a stream may fall behind (the hub's buffer): the bridge lets the loop turn every
    ANNOUNCED_PER_TURN announcements, so a stream that takes whenever it is woken keeps up and
    is not dropped."""
    hub = Hub(buffer_size=10_000)
    bridge = Bridge(asyncio.get_running_loop(), ReadModel("test", lambda _: None), hub,
                    RecordingWriter(), window_s=0.0)
    bridge.start()
    reader = hub.subscribe(EventFilter(readings=True), None)
    got: list[int] = []

    async def stream() -> None:
        while not reader.dropped.is_set():
            await reader.wait(60)
            got.extend(e.id for e in reader.take())

    streaming = asyncio.ensure_future(stream())
    sensors = tuple(SensorValue(key=f"s{k}", value=float(k)) for k in range(100))
    bridge.publish_batch([
        DeviceHeartbeat(device=DeviceKey(1, "datalogger", f"D{n}"), model="m", gateway="1",
                        firmware=None, uptime_s=None,
                        sensors=sensors, at=float(n)) for n in range(120)])
    await bridge.drain()
    await settle()
    assert not reader.dropped.is_set()
    assert got == list(range(1, 12_001))
    streaming.cancel()
    await bridge.stop()
