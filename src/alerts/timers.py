"""Timers of the alert evaluator: callbacks at a wall-clock time, on the event loop.

``LoopScheduler`` runs them with ``loop.call_later``; ``ClockScheduler`` with the actors'
clock (so a test's ``FakeClock`` drives both); ``ManualScheduler`` is the fake clock of
unit tests and benchmarks, advanced by hand, so that no test sleeps to wait for a
timer. Both run callbacks on the thread that drives them (the loop's, or the caller of
``advance``).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from typing import Protocol

from sitelink.actors.clock import BaseClock


class Handle(Protocol):
    def cancel(self) -> None: ...


class Scheduler(Protocol):
    def now(self) -> float:
        """Wall-clock Unix seconds."""

    def call_at(self, when: float, callback: Callable[[], None]) -> Handle:
        """Run ``callback`` once at ``when`` (Unix seconds), unless cancelled."""


class LoopScheduler:
    """The real scheduler: ``time.time`` and the running loop's ``call_later``."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def now(self) -> float:
        return time.time()

    def call_at(self, when: float, callback: Callable[[], None]) -> Handle:
        return self.loop.call_later(max(0.0, when - time.time()), callback)


class _ManualHandle:
    __slots__ = ("callback", "cancelled", "seq", "when")

    def __init__(self, when: float, seq: int, callback: Callable[[], None]) -> None:
        self.when = when
        self.seq = seq
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True

    def __lt__(self, other: _ManualHandle) -> bool:
        return (self.when, self.seq) < (other.when, other.seq)


class ManualScheduler:
    """A scheduler whose time moves only in ``advance``; callbacks run there, in due order."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self._now = start
        self._heap: list[_ManualHandle] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self._now

    def call_at(self, when: float, callback: Callable[[], None]) -> Handle:
        handle = _ManualHandle(when, next(self._seq), callback)
        heapq.heappush(self._heap, handle)
        return handle

    def pending(self) -> int:
        return sum(1 for h in self._heap if not h.cancelled)

    def advance(self, seconds: float) -> None:
        end = self._now + seconds
        while self._heap and self._heap[0].when <= end:
            handle = heapq.heappop(self._heap)
            if handle.cancelled:
                continue
            self._now = max(self._now, handle.when)
            handle.callback()
        self._now = end


class _OnLoop:
    """A clock target that runs a callback on the loop (the clock's thread only hands over)."""

    __slots__ = ("callback", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
        self.loop = loop
        self.callback = callback

    def tell(self, message: object) -> None:
        self.loop.call_soon_threadsafe(self.callback)


class ClockScheduler:
    """The actors' clock (``sitelink.actors.clock``) as a scheduler of loop callbacks: with
    the ``FakeClock`` of a test, advancing the actors' time also moves the alerts'."""

    def __init__(self, clock: BaseClock, loop: asyncio.AbstractEventLoop) -> None:
        self.clock = clock
        self.loop = loop

    def now(self) -> float:
        return self.clock.now()

    def call_at(self, when: float, callback: Callable[[], None]) -> Handle:
        return self.clock.schedule(when - self.clock.now(), _OnLoop(self.loop, callback), None)
