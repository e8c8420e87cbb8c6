"""What the parent sends its storage writer process, from the event loop, never blocking
(see ``remote_writer``).

- Routine events (heartbeats, traffic: ``writer_buffer.has_news`` says no) are held up to
  ``hold_s`` and go as one ``Submit`` with whatever comes next. The child flushes them in
  0.25-1 s anyway, and each frame is a wake-up of the child (decode, buffer, back to sleep):
  333 heartbeats/s handed over three at a time cost it 5.6 % of a core, 3.7 % held
  (``bench.writer``'s paced row).
- News, ``HOLD_EVENTS`` held (a busy stream goes in chunks of that size), and any other
  frame send what is held first: the child sees everything in the order it was given.
- What the socket does not take at once waits in ``unsent`` until it is writable.

One outbox per child: when the child is gone, ``events`` is what it never got, and ``close``
drops it.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Sequence

import msgspec

from sitelink.events import Event
from sitelink.storage.writer_buffer import encode_events, has_news
from sitelink.storage.writer_frames import Submit, frame

HOLD_S = 0.1
HOLD_EVENTS = 1_000


class WriterOutbox:
    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket, *,
                 on_gone: Callable[[int], None], hold_s: float = HOLD_S) -> None:
        """``on_gone(lost)``: the socket failed; ``lost`` events went with the frame."""
        self._loop = loop
        self._sock = sock
        self._on_gone = on_gone
        self._hold_s = hold_s
        self._held: list[Event] = []
        self._release_at: asyncio.TimerHandle | None = None
        self._unsent = bytearray()
        self._unsent_events = 0
        self._closed = False

    @property
    def events(self) -> int:
        """Events not yet in the child: held, and in frames the socket has not taken."""
        return len(self._held) + self._unsent_events

    @property
    def unsent_bytes(self) -> int:
        return len(self._unsent)

    def submit(self, events: Sequence[Event]) -> None:
        self._held.extend(events)
        if has_news(events) or len(self._held) >= HOLD_EVENTS:
            self.release()
        elif self._release_at is None:
            self._release_at = self._loop.call_later(self._hold_s, self.release)

    def send(self, message: object) -> None:
        """Any other frame (a request, a goodbye): after what is held."""
        self.release()
        self._write(frame(message), 0)

    def release(self) -> None:
        self._cancel_release()
        held, self._held = self._held, []
        if held:
            self._write(frame(Submit(len(held), msgspec.Raw(encode_events(held)),
                                     has_news(held))), len(held))

    def close(self) -> None:
        """The child is gone: drop what was not sent, send nothing more. (The owner counts
        ``events`` first, and takes the socket off the loop and closes it.)"""
        self._cancel_release()
        self._held.clear()
        self._unsent.clear()
        self._unsent_events = 0
        self._closed = True

    def _cancel_release(self) -> None:
        if self._release_at is not None:
            self._release_at.cancel()
            self._release_at = None

    def _write(self, data: bytes, events: int) -> None:
        if self._closed:
            return
        if not self._unsent:
            try:
                sent = self._sock.send(data)
            except BlockingIOError:
                sent = 0
            except OSError:
                self._on_gone(events)
                return
            if sent == len(data):
                return
            data = data[sent:]
            self._loop.add_writer(self._sock.fileno(), self._writable)
        self._unsent += data
        self._unsent_events += events

    def _writable(self) -> None:
        try:
            sent = self._sock.send(self._unsent)
        except BlockingIOError:
            return
        except OSError:
            self._on_gone(0)
            return
        del self._unsent[:sent]
        if not self._unsent:
            self._unsent_events = 0
            self._loop.remove_writer(self._sock.fileno())
