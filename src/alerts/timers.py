"""Timers of the alert evaluator: callbacks at a wall-clock time, on the event loop.

``LoopScheduler`` runs them with ``loop.call_later``; ``ClockScheduler`` with the actors'
clock (so a test's ``FakeClock`` drives both). Both run callbacks on the loop. The unit
tests' scheduler, advanced by hand, is ``tests/manual_scheduler.py``.
"""

from __future__ import annotations

import asyncio
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
