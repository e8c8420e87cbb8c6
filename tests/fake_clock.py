"""The fake clock at the time boundary: a ``BaseClock`` that moves only when a test says so.

Every timing test uses it (tests never sleep to wait for a timer). It lives here, with the
other hand-written fakes, rather than in src/: production never builds one.
"""

from __future__ import annotations

from sitelink.actors.clock import BaseClock


class FakeClock(BaseClock):
    """A clock that moves only when a test calls ``advance``. Deliveries happen in ``advance``,
    on the calling thread, in due order."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        super().__init__()
        self._now = start
        self._start = start

    def now(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return self._now - self._start

    def advance(self, seconds: float) -> None:
        """Move time forward, delivering every message that falls due on the way, in order.
        Messages scheduled by those deliveries are delivered too if they fall due in range."""
        end = self._now + seconds
        while True:
            with self._lock:
                live = [t for t in self._heap if not t.cancelled]
                if not live or min(live).due > end - self._start:
                    break
                nxt = min(live)
                self._now = max(self._now, self._start + nxt.due)
                due = self._pop_due(nxt.due)
            self._deliver(due)
        self._now = end

    def stop(self) -> None:
        """Nothing to stop; present so both clocks are interchangeable."""
