"""What the parent sends its storage writer: routine events wait for company, everything
else goes at once and after them, and nothing is lost without being counted."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import msgspec
import pytest

from sitelink.events import DeviceDiscovered, DeviceHeartbeat, DeviceKey, Event
from sitelink.storage.writer_buffer import decode_events
from sitelink.storage.writer_frames import Ensure, Forget, Frames, Submit, ToChild
from sitelink.storage.writer_outbox import HOLD_EVENTS, WriterOutbox

HOUR = 3600.0
KEY = DeviceKey(1, "datalogger", "A")


def heartbeat(n: int) -> DeviceHeartbeat:
    return DeviceHeartbeat(device=KEY, model="monstro", gateway="1", firmware="V.5.53.0",
                           uptime_s=n, sensors=(), at=1_000.0 + n)


def news() -> DeviceDiscovered:
    return DeviceDiscovered(device=KEY, model="monstro", gateway="1", at=1_000.0)


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    mine, theirs = socket.socketpair()
    mine.setblocking(False)
    theirs.setblocking(False)
    with mine, theirs:
        yield mine, theirs


class Child:
    """The child's end: the frames that arrived so far (never waits)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.frames = Frames()
        self.decoder = msgspec.msgpack.Decoder(ToChild)

    def received(self) -> list[ToChild]:
        data = b""
        while True:
            try:
                chunk = self.sock.recv(1 << 20)
            except BlockingIOError:
                break
            data += chunk
        return [self.decoder.decode(f) for f in self.frames.feed(data)]

    async def next(self) -> list[ToChild]:
        """What arrives next, waiting for the socket to be readable."""
        readable = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_reader(self.sock.fileno(), readable.set)
        try:
            async with asyncio.timeout(10):
                await readable.wait()
        finally:
            loop.remove_reader(self.sock.fileno())
        return self.received()


def events_of(message: ToChild) -> list[Event]:
    assert isinstance(message, Submit)
    events = decode_events(bytes(message.events))
    assert message.count == len(events)
    return events


def outbox(sock: socket.socket, lost: list[int], hold_s: float = HOUR) -> WriterOutbox:
    return WriterOutbox(asyncio.get_running_loop(), sock, on_gone=lost.append, hold_s=hold_s)


async def test_routine_events_are_held_and_news_takes_them_along_in_order(pair) -> None:
    mine, theirs = pair
    child, out = Child(theirs), outbox(mine, [])
    out.submit([heartbeat(1), heartbeat(2)])
    out.submit([heartbeat(3)])
    assert child.received() == [] and out.events == 3  # nothing sent: held, and counted
    out.submit([news()])
    [submit] = child.received()
    assert isinstance(submit, Submit) and submit.news
    assert events_of(submit) == [heartbeat(1), heartbeat(2), heartbeat(3), news()]
    assert out.events == 0


async def test_held_events_go_when_the_hold_ends(pair) -> None:
    mine, theirs = pair
    child, out = Child(theirs), outbox(mine, [], hold_s=0.05)
    out.submit([heartbeat(1)])
    out.submit([heartbeat(2)])
    [submit] = await child.next()
    assert isinstance(submit, Submit) and not submit.news
    assert events_of(submit) == [heartbeat(1), heartbeat(2)]


async def test_a_busy_stream_goes_in_chunks_without_waiting(pair) -> None:
    mine, theirs = pair
    child, out = Child(theirs), outbox(mine, [])
    out.submit([heartbeat(n) for n in range(HOLD_EVENTS - 1)])
    assert child.received() == []
    out.submit([heartbeat(HOLD_EVENTS - 1)])
    [submit] = child.received()
    assert len(events_of(submit)) == HOLD_EVENTS


async def test_any_other_frame_goes_after_what_is_held(pair) -> None:
    mine, theirs = pair
    child, out = Child(theirs), outbox(mine, [])
    out.submit([heartbeat(1)])
    out.send(Forget(KEY))
    out.send(Ensure(7, []))
    submit, forget, ensure = child.received()
    assert events_of(submit) == [heartbeat(1)]
    assert forget == Forget(KEY) and ensure == Ensure(7, [])


async def test_what_the_socket_does_not_take_waits_and_is_counted_until_sent(pair) -> None:
    mine, theirs = pair
    child, out = Child(theirs), outbox(mine, [])
    many = [heartbeat(n) for n in range(HOLD_EVENTS)]
    while out.unsent_bytes == 0:  # until the socket's buffer is full
        out.submit(many)
    assert out.events >= HOLD_EVENTS
    sent = 0
    while out.events:  # the loop writes the rest as the child reads
        sent += sum(len(events_of(m)) for m in await child.next())
    sent += sum(len(events_of(m)) for m in child.received())
    assert sent % HOLD_EVENTS == 0 and sent >= 2 * HOLD_EVENTS


async def test_a_closed_outbox_drops_what_never_went_and_sends_nothing(pair) -> None:
    mine, theirs = pair
    child, out = Child(theirs), outbox(mine, [])
    out.submit([heartbeat(1), heartbeat(2)])
    assert out.events == 2
    out.close()
    out.send(Forget(KEY))
    assert child.received() == [] and out.events == 0


async def test_a_failed_send_reports_the_events_it_took(pair) -> None:
    mine, theirs = pair
    lost: list[int] = []
    out = outbox(mine, lost)
    theirs.close()
    out.submit([heartbeat(1), news()])
    assert lost == [2]
