"""A worker's outbox: events from many threads leave in order, in frames that decode; an
urgent event does not wait for the window; ``close`` sends what is left."""

from __future__ import annotations

import socket
import threading

import msgspec

from sitelink.channel import Frames, first_frame, frame, read_first
from sitelink.events import AnyEvent, ConnectionEventOccurred, Event, SiteTraffic
from sitelink.workers.frames import Events
from sitelink.workers.outbox import Outbox


def traffic(n: int) -> SiteTraffic:
    return SiteTraffic(site_id=1, received=n, rejected=0, last_message_at=None)


class Sent:
    def __init__(self) -> None:
        self.frames: list[list[Event]] = []
        self.changed = threading.Condition()

    def __call__(self, message: Events) -> None:
        events = msgspec.msgpack.decode(bytes(message.events), type=list[AnyEvent])
        with self.changed:
            self.frames.append(events)
            self.changed.notify_all()

    def wait(self, count: int) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: len(self.frames) >= count, timeout=5)


def test_a_window_of_events_leaves_as_one_frame_in_order() -> None:
    sent = Sent()
    outbox = Outbox(sent, window_s=60.0)
    outbox.start()
    threads = [threading.Thread(target=lambda k=k: [outbox.publish(traffic(100 * k + n))
                                                   for n in range(50)]) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sent.frames == [], "a quiet window waits"
    outbox.close()
    [batch] = sent.frames
    assert len(batch) == 200
    for k in range(4):  # each thread's events in the order it published them
        mine = [e.received for e in batch if isinstance(e, SiteTraffic) and e.received // 100 == k]
        assert mine == [100 * k + n for n in range(50)]


def test_an_urgent_event_takes_the_window_with_it() -> None:
    sent = Sent()
    outbox = Outbox(sent, window_s=60.0)
    outbox.start()
    outbox.publish(traffic(1))
    outbox.publish(ConnectionEventOccurred(site_id=1, kind="connected", reason="", at=1.0))
    assert sent.wait(1), "the urgent event did not go at once"
    assert [type(e).__name__ for e in sent.frames[0]] == ["SiteTraffic",
                                                          "ConnectionEventOccurred"]
    outbox.close()
    assert len(sent.frames) == 1, "nothing left: no empty frame"


def test_the_first_value_and_the_frames_that_came_with_it() -> None:
    parent, child = socket.socketpair()
    with parent, child:
        parent.sendall(first_frame({"hello": 1}) + frame(["a"]) + frame(["b"]))
        frames = Frames()
        got = read_first(child, frames)
        assert got is not None
        value, early = got
        assert value == {"hello": 1}
        assert [msgspec.msgpack.decode(f) for f in early] == [["a"], ["b"]]
        parent.close()
        assert read_first(child, Frames()) is None, "the parent is gone"
