"""A worker's event sink: events from its actor threads, sent to the main process in batches.

Actors ``publish`` on their own threads; the events are appended under a lock and one
sender thread takes them all at once, encodes them once (msgpack, as the storage writer
keeps them) and writes one ``Events`` frame. A batch waits at most ``window_s`` for more
events to join it — so a steady trickle of heartbeats from many sites costs the main
process one frame, one decode and one bridge hand-off per window, not per message — except
when an urgent event (a site's status, a command's outcome: ``events.URGENT``) is in it,
which goes at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import msgspec

from sitelink.events import URGENT, Event
from sitelink.storage.writer_buffer import encode_events
from sitelink.thread_names import name_this_thread
from sitelink.workers.frames import Events


class Outbox:
    def __init__(self, send: Callable[[Events], None], *, window_s: float = 0.1) -> None:
        self._send = send
        self.window_s = window_s
        self._pending: list[Event] = []
        self._urgent = False
        self._closed = False
        self._idle = False  # the sender waits for a first event (not in a window)
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="outbox", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def publish(self, event: Event) -> None:
        """Any thread; never blocks on the channel."""
        with self._cond:
            self._pending.append(event)
            if type(event) in URGENT:
                self._urgent = True
                self._cond.notify()
            elif self._idle:
                self._idle = False
                self._cond.notify()

    def close(self, timeout_s: float = 5.0) -> None:
        """Send what is pending, then stop the sender thread."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def _run(self) -> None:
        name_this_thread("outbox")
        while True:
            with self._cond:
                self._idle = not self._pending
                self._cond.wait_for(lambda: bool(self._pending) or self._closed)
                self._idle = False
                if not self._pending:
                    return  # closed, nothing left
            # A frame per window for as long as events keep coming: the window's end is then
            # the sender's only wake-up (a trickle's first event does not wake it again).
            while batch := self._gather():
                self._send(Events(msgspec.Raw(encode_events(batch))))

    def _gather(self) -> list[Event]:
        """Wait out a window (an urgent event or the close ends it); take what came."""
        with self._cond:
            window_ends = time.monotonic() + self.window_s
            while not (self._urgent or self._closed):
                left = window_ends - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            batch, self._pending = self._pending, []
            self._urgent = False
        return batch
