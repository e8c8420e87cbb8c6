"""A scheduler of alert timers (``sitelink.alerts.timers.Scheduler``) whose time moves only
when a test says so: no test sleeps to wait for a timer. Callbacks run in ``advance``, on the
calling thread, in due order. It lives here, with the other hand-written fakes
(``fake_clock.py``): production never builds one.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable

from sitelink.alerts.timers import Handle


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
